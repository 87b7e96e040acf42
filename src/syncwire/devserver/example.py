"""The built-in example: a chat app, the Convex tutorial's ``messages`` module.

``messages:list {channel, n?}`` returns a channel's messages oldest first (the
last ``n`` when given), ``messages:send {channel?, body}`` inserts one (the
author is the caller's ``name`` or ``subject`` when authenticated; an empty
body fails with ``AppError({"code": "EmptyBody", ...})``, a ConvexError with
data), ``messages:count {channel?}`` counts them, ``messages:page {channel?,
paginationOpts}`` returns one page of them oldest first (a paginated query),
and the action ``messages:stats {channel?}`` runs ``messages:count`` and
returns ``{"channel", "count"}``. ``channel`` defaults to ``"general"``, so
the frames captured from the official client (docs/protocol.md#first-frames)
work as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncwire.devserver.app import App
from syncwire.devserver.context import ActionCtx
from syncwire.devserver.context import MutationCtx
from syncwire.devserver.context import QueryCtx
from syncwire.devserver.database import Document
from syncwire.errors import AppError
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue

__all__ = ["chat_app"]

DEFAULT_CHANNEL = "general"


def _channel(args: Mapping[str, ConvexValue]) -> str:
    channel = args.get("channel", DEFAULT_CHANNEL)
    if not isinstance(channel, str):
        raise TypeError("channel must be a string")
    return channel


def list_messages(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> list[Document]:
    """Messages of one channel, oldest first; the last ``n`` if ``n`` is given."""
    channel = _channel(args)
    messages = ctx.db.query("messages").filter(lambda m: m.get("channel") == channel).collect()
    n = args.get("n")
    if isinstance(n, (int, float, ConvexInt64)) and not isinstance(n, bool):
        count = int(n)
        messages = messages[-count:] if count > 0 else []
    return messages


def send_message(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> str:
    """Post ``body`` to ``channel``; returns the new message's id."""
    body = args.get("body")
    if not isinstance(body, str):
        raise TypeError("body must be a string")
    if not body:
        raise AppError({"code": "EmptyBody", "message": "a message needs a body"})
    message: dict[str, ConvexValue] = {"channel": _channel(args), "body": body}
    if ctx.auth is not None:
        message["author"] = str(ctx.auth.get("name") or ctx.auth.get("subject"))
    return ctx.db.insert("messages", message)


def count_messages(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> float:
    """How many messages there are (in ``channel``, if given)."""
    query = ctx.db.query("messages")
    if "channel" in args:
        channel = _channel(args)
        query = query.filter(lambda m: m.get("channel") == channel)
    return float(len(query.collect()))


def page_messages(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> dict[str, Any]:
    """One page of a channel's messages, oldest first (``paginationOpts``: numItems, cursor)."""
    channel = _channel(args)
    query = ctx.db.query("messages").filter(lambda m: m.get("channel") == channel)
    return query.paginate(args.get("paginationOpts"))


async def message_stats(ctx: ActionCtx, args: Mapping[str, ConvexValue]) -> dict[str, ConvexValue]:
    """An action: counts a channel's messages through ``messages:count``."""
    channel = _channel(args)
    count = await ctx.run_query("messages:count", {"channel": channel})
    return {"channel": channel, "count": count}


def chat_app() -> App:
    """A fresh ``App`` with the ``messages`` functions (see the module)."""
    app = App()
    app.query("messages:list", list_messages)
    app.mutation("messages:send", send_message)
    app.query("messages:count", count_messages)
    app.query("messages:page", page_messages)
    app.action("messages:stats", message_stats)
    return app
