"""The server's end of a ``Client`` on ``FakeTransport``: typed frames both ways.

``Peer`` wraps one accepted ``FakeServerConnection``: ``await peer.next()``
returns the client's next message parsed, ``peer.send(message)`` pushes a
server message, and ``peer.update(...)`` sends a Transition that starts where
the last one on this connection ended (or where the test says), so tests read
as the protocol does. Every wait is bounded by ``TIMEOUT`` of virtual time.

For the auth tests: ``jwt`` (an unsigned token the client can read), ``Fetcher``
(a scripted token fetcher), ``rejected`` (an AuthError) and ``reopen_with_auth``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any
from typing import TypeVar

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire import Subscription
from syncwire.protocol import Authenticate
from syncwire.protocol import AuthError
from syncwire.protocol import ClientMessage
from syncwire.protocol import Connect
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateModification
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.testing import FakeServerConnection
from syncwire.testing import FakeTransport
from tests.helpers import URL
from tests.helpers import no_jitter
from tests.helpers import now

TIMEOUT = 120.0
"""Virtual seconds: longer than any backoff these tests meet, free to wait."""
POLICY = BackoffPolicy(client_initial=1.0, unknown_initial=1.0, max_backoff=8.0)

M = TypeVar("M", bound=ClientMessage)


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
        peer = await self.accept()
        await peer.expect(Connect)
        for kind in expect or (ModifyQuerySet,):
            await peer.expect(kind)
        return peer

    async def open_subscribed(self, name: str) -> tuple[Peer, Subscription]:
        """``open``, then subscribe to ``name`` and read the ModifyQuerySet that adds it."""
        peer = await self.open()
        sub = self.client.subscribe(name)
        await peer.expect(ModifyQuerySet)
        return peer, sub

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


# --------------------------------------------------------------------------- auth


def jwt(name: str, *, iat: int = 1_000, exp: int = 1_060) -> str:
    """An unsigned JWT, valid for 60 s by default: the client reads ``iat``/``exp``
    from it and never verifies it."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'sub': name, 'iat': iat, 'exp': exp})}.sig"


class Fetcher:
    """A token fetcher that records its calls (loop time, ``force_refresh``) and answers
    ``cached`` when a cached token will do, else the next of ``fresh``. While ``gate``
    is set to an unset Event, every call waits for it."""

    def __init__(self, cached: str | None, *fresh: str | None) -> None:
        self.cached = cached
        self.fresh = list(fresh)
        self.calls: list[tuple[float, bool]] = []
        self.gate: asyncio.Event | None = None

    @property
    def forced(self) -> list[bool]:
        """``force_refresh`` of every call, in order."""
        return [force for _, force in self.calls]

    async def __call__(self, force_refresh: bool) -> str | None:
        self.calls.append((now(), force_refresh))
        if self.gate is not None:
            await self.gate.wait()
        if not force_refresh:
            return self.cached
        return self.fresh.pop(0) if self.fresh else None


def rejected(base_version: int = 0, error: str = "Token expired") -> AuthError:
    """The server's AuthError for the token it was sent (``authUpdateAttempted``)."""
    return AuthError(error=error, base_version=base_version, auth_update_attempted=True)


async def reopen_with_auth(h: Harness) -> tuple[Peer, Authenticate]:
    """Accept the next connection and read its Connect, Authenticate and ModifyQuerySet."""
    peer = await h.accept()
    await peer.expect(Connect)
    auth = await peer.expect(Authenticate)
    await peer.expect(ModifyQuerySet)
    return peer, auth


async def reopen_with_fetcher(h: Harness, fetcher: Fetcher) -> tuple[Peer, Authenticate]:
    """Set ``fetcher`` as the client's auth, then ``reopen_with_auth``."""
    h.client.set_auth(fetcher)
    return await reopen_with_auth(h)
