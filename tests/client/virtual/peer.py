"""The server's end of a ``Client`` on ``FakeTransport``: typed frames both ways.

``Peer`` wraps one accepted ``FakeServerConnection``: ``await peer.next()``
returns the client's next message parsed, ``peer.send(message)`` pushes a
server message, and ``peer.update(...)`` sends a Transition that starts where
the last one on this connection ended (or where the test says), so tests read
as the protocol does. Every wait is bounded by ``TIMEOUT`` of virtual time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from syncwire import BackoffPolicy, Client
from syncwire.protocol import (
    ClientMessage,
    JSONValue,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    ServerMessage,
    StateModification,
    StateVersion,
    Transition,
    encode_server_message,
    parse_client_message,
)
from syncwire.testing import FakeServerConnection, FakeTransport

URL = "wss://happy-animal-123.convex.cloud/api/sync"
TIMEOUT = 120.0
"""Virtual seconds: longer than any backoff these tests meet, free to wait."""
POLICY = BackoffPolicy(client_initial=1.0, unknown_initial=1.0, max_backoff=8.0)

M = TypeVar("M", bound=ClientMessage)


def no_jitter() -> float:
    return 0.5


class Peer:
    """One server connection, speaking typed messages."""

    def __init__(self, server: FakeServerConnection) -> None:
        self.server = server
        self.version = StateVersion(query_set=0, identity=0, ts=0)

    async def next(self) -> ClientMessage:
        async with asyncio.timeout(TIMEOUT):
            return parse_client_message(await self.server.receive())

    async def expect(self, kind: type[M]) -> M:
        message = await self.next()
        assert isinstance(message, kind), f"expected {kind.__name__}, got {message!r}"
        return message

    async def take(self, count: int) -> list[ClientMessage]:
        return [await self.next() for _ in range(count)]

    def pending(self) -> list[ClientMessage]:
        """Frames sent but not yet read by ``next``, without waiting."""
        return [parse_client_message(text) for text in self.server.sent[self.server._read :]]

    def send(self, message: ServerMessage) -> None:
        self.server.push(encode_server_message(message))

    def transition(
        self,
        *modifications: StateModification,
        query_set: int | None = None,
        identity: int | None = None,
        ts: int | None = None,
        start: StateVersion | None = None,
    ) -> Transition:
        """Send a Transition from ``start`` (default: the last end) to the given version."""
        begin = start or self.version
        end = StateVersion(
            query_set=begin.query_set if query_set is None else query_set,
            identity=begin.identity if identity is None else identity,
            ts=begin.ts + 1 if ts is None else ts,
        )
        transition = Transition(start_version=begin, end_version=end, modifications=modifications)
        self.send(transition)
        self.version = end
        return transition


def updated(query_id: int, value: JSONValue, journal: str | None = None) -> QueryUpdated:
    return QueryUpdated(query_id=query_id, value=value, log_lines=(), journal=journal)


def failed(query_id: int, message: str) -> QueryFailed:
    return QueryFailed(query_id=query_id, error_message=message, log_lines=(), journal=None)


def removed(query_id: int) -> QueryRemoved:
    return QueryRemoved(query_id=query_id)


class Harness:
    """A client on a fake transport, and the connections it opened."""

    def __init__(self, client: Client, fake: FakeTransport) -> None:
        self.client = client
        self.fake = fake

    async def accept(self) -> Peer:
        """Accept the client's next connection attempt."""
        async with asyncio.timeout(TIMEOUT):
            server = await self.fake.next_connection()
        server.accept()
        return Peer(server)

    async def open(self, expect: Sequence[type[ClientMessage]] = ()) -> Peer:
        """Accept the next attempt and read its opening frames (Connect first)."""
        from syncwire.protocol import Connect, ModifyQuerySet

        peer = await self.accept()
        await peer.expect(Connect)
        for kind in expect or (ModifyQuerySet,):
            await peer.expect(kind)
        return peer

    async def settle(self) -> None:
        """Let every ready callback run (virtual time does not move)."""
        for _ in range(10):
            await asyncio.sleep(0)


@asynccontextmanager
async def client_on_fake(**options: Any) -> AsyncIterator[Harness]:
    fake = FakeTransport()
    options.setdefault("backoff", POLICY)
    options.setdefault("rand", no_jitter)  # exact delays
    client = Client(URL, transport=fake, **options)
    try:
        yield Harness(client, fake)
    finally:
        await client.close()
