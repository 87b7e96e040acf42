"""A bare protocol client for the dev server tests, and the messages they send.

``Client`` speaks the sync protocol over a plain ``websockets`` connection with
syncwire's own codec (so the tests check the server's behaviour, not its JSON
spelling); ``running`` starts a ``DevServer`` and connects one. ``hello``,
``subscribe``, ``add`` and ``send`` build the client messages; ``updates`` and
``documents`` read a Transition. Every wait is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Mapping
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from syncwire.devserver import App
from syncwire.devserver import DevServer
from syncwire.devserver.example import chat_app
from syncwire.protocol import ClientMessage
from syncwire.protocol import Connect
from syncwire.protocol import ConvexValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import Transition
from syncwire.protocol import encode_client_message
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_server_message

TIMEOUT = 5.0


class Client:
    """A bare protocol client: send messages, receive them, each wait bounded."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, *messages: ClientMessage) -> None:
        for message in messages:
            await self.ws.send(encode_client_message(message))

    async def connect(self, **fields: Any) -> None:
        """Send a first ``Connect`` for a new session."""
        await self.send(hello(str(uuid.uuid4()), **fields))

    async def subscribed(self, *udf_paths: str) -> Transition:
        """``connect``, then ``subscribe(*udf_paths)``; the first Transition."""
        await self.connect()
        await self.send(subscribe(*udf_paths))
        return await self.transition()

    async def recv_text(self) -> str:
        frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        assert isinstance(frame, str)
        return frame

    async def recv(self) -> ServerMessage:
        return parse_server_message(await self.recv_text())

    async def transition(self) -> Transition:
        message = await self.recv()
        assert isinstance(message, Transition), message
        return message

    async def closed(self) -> int | None:
        """Wait for the server to close; the close code as the client saw it."""
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        await asyncio.wait_for(self.ws.wait_closed(), TIMEOUT)
        return self.ws.close_code


@contextlib.asynccontextmanager
async def running(
    app: App | None = None, *, path: str = "/api/sync", **options: Any
) -> AsyncIterator[tuple[DevServer, Client]]:
    """A dev server (``app``, the chat app by default) and a ``Client`` connected to it."""
    async with (
        DevServer(app or chat_app(), ws_ping_interval=None, **options) as server,
        connect(f"ws://127.0.0.1:{server.port}{path}", open_timeout=TIMEOUT) as ws,
    ):
        yield server, Client(ws)


def hello(session_id: str, connection_count: int = 0, **fields: Any) -> Connect:
    """``Connect`` for ``session_id``: the first, or (a count above 0) a reconnect."""
    return Connect(
        connection_count=connection_count,
        last_close_reason="InitialConnect" if connection_count == 0 else "InternalServerError",
        client_ts=int(time.time() * 1000),
        session_id=session_id,
        **fields,
    )


def add(query_id: int, udf_path: str, args: Mapping[str, ConvexValue] | None = None) -> QueryAdd:
    return QueryAdd(query_id=query_id, udf_path=udf_path, args=args or {})


def first_query_set(*adds: QueryAdd) -> ModifyQuerySet:
    """The first ModifyQuerySet of a session (version 0 to 1), adding ``adds``."""
    return ModifyQuerySet(base_version=0, new_version=1, modifications=adds)


def subscribe(*udf_paths: str) -> ModifyQuerySet:
    """The first query set: ``udf_paths`` as queries 0, 1, ... (``messages:list`` by default)."""
    return first_query_set(
        *(add(i, path) for i, path in enumerate(udf_paths or ("messages:list",)))
    )


def send(request_id: int, body: str, channel: str = "general") -> Mutation:
    return Mutation(
        request_id=request_id, udf_path="messages:send", args={"channel": channel, "body": body}
    )


def updates(transition: Transition) -> dict[int, ConvexValue]:
    """The new values of a Transition's updated queries, by query id."""
    return {
        m.query_id: json_to_convex(m.value)
        for m in transition.modifications
        if isinstance(m, QueryUpdated)
    }


def documents(value: ConvexValue) -> list[dict[str, Any]]:
    """A query result that is a list of documents, typed for indexing."""
    assert isinstance(value, list)
    assert all(isinstance(doc, dict) for doc in value)
    return value  # type: ignore[return-value]
