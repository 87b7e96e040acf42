"""The app ``test_kill_restart`` serves from a ``syncwire serve`` subprocess.

The example chat app plus ``slow:echo``, an action that takes 50 ms, so that
actions are in flight when the server is killed or closes the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from syncwire.devserver import ActionCtx
from syncwire.devserver import App
from syncwire.devserver.example import chat_app
from syncwire.protocol import ConvexValue

ECHO_SECONDS = 0.05


async def slow_echo(_ctx: ActionCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    """Return ``args["text"]`` after ``ECHO_SECONDS``."""
    await asyncio.sleep(ECHO_SECONDS)
    return args.get("text")


def kill_app() -> App:
    """The chat app (``messages:*``) and ``slow:echo``."""
    app = chat_app()
    app.action("slow:echo", slow_echo)
    return app
