"""A scripted WebSocket server on 127.0.0.1 and a recording client, for the
``WebSocketManager`` loopback tests in ``tests/loopback/``.

No tests live here (so ``tests/manager/conftest.py``'s virtual-time loop never
applies to this code); the loopback tests run on the normal asyncio loop and
real sockets.

- ``scripted_server(*scripts)``: a real ``websockets`` server (the one in
  ``tests/transport/servers.py``) where connection number *i* waits for the
  client's first frame, runs ``scripts[i]`` (a fault: a close, a drop, bad
  input, silence) and then behaves like a healthy Convex server: it pings
  every ``PING_INTERVAL`` until the connection ends. It records, per
  connection, the loop time the handshake request arrived and every text
  frame received.
- ``scaled_manager``: ``tests.helpers.make_manager`` (a ``Recorder``'s
  callbacks, no jitter) with the default transport and the thresholds scaled
  down to ``INACTIVITY`` and ``POLICY``.
- ``scripted_session``: the two together, the manager terminated at the end.

Every wait is bounded: by ``TIMEOUT``, or by ``until``'s ``DEADLINE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.http11 import Response

from syncwire.backoff import SERVER_DISCONNECT_ERRORS
from syncwire.backoff import BackoffPolicy
from syncwire.backoff import next_backoff
from syncwire.protocol import ClientMessage
from syncwire.protocol import Connect
from syncwire.protocol import Ping
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from tests.helpers import Recorder
from tests.helpers import make_manager
from tests.helpers import no_jitter
from tests.helpers import now
from tests.helpers import until
from tests.transport.servers import websocket_server

TIMEOUT = 5.0
"""Bound on every wait: a hang fails in seconds, and a loaded machine still passes."""
INACTIVITY = 0.3
"""The manager's inactivity threshold in these tests (60 s in production)."""
PING_INTERVAL = 0.1
"""How often a healthy scripted connection pings (15 s in production)."""
POLICY = BackoffPolicy(
    client_initial=0.01,
    # Production uses 1 s for both Unknown and InternalServerError; here they
    # differ, so a test can tell which class a close reason was put in.
    unknown_initial=0.05,
    max_backoff=0.5,
    server_errors={name: seconds * 0.03 for name, seconds in SERVER_DISCONNECT_ERRORS.items()},
)
PING = encode_server_message(Ping())


def expected_delay(reason_class: str, retries: int = 0) -> float:
    """The delay POLICY gives ``reason_class`` after ``retries`` reconnects, without jitter."""
    return next_backoff(reason_class, retries, no_jitter, POLICY)


# --------------------------------------------------------------------------- server


@dataclass(eq=False)
class Session:
    """One connection the scripted server accepted."""

    index: int
    ws: ServerConnection
    requested_at: float
    """Loop time the opening handshake request arrived (a connection attempt)."""
    frames: list[str] = field(default_factory=list)
    """Every text frame the client sent, in order; the first should be Connect."""
    fault_at: float | None = None
    """Loop time the script started its fault (a close, a drop, bad input)."""
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    async def next_frame(self) -> str:
        """The next frame the client sent (bounded wait)."""
        async with asyncio.timeout(TIMEOUT):
            return await self._queue.get()

    def first_message(self) -> ClientMessage:
        assert self.frames, f"connection {self.index} received no frame"
        return parse_client_message(self.frames[0])

    def close_received(self) -> int | None:
        """The code of the close frame the client sent on this connection, if any yet."""
        close = self.ws.protocol.close_rcvd
        return None if close is None else int(close.code)

    def fault(self) -> None:
        self.fault_at = now()

    async def send(self, *data: str | bytes, fault: bool = True) -> None:
        """Send frames; by default the first one marks the fault."""
        for i, item in enumerate(data):
            if fault and i == 0:
                self.fault()
            await self.ws.send(item)

    async def close(self, code: int, reason: str = "") -> None:
        self.fault()
        async with asyncio.timeout(TIMEOUT):
            await self.ws.close(code, reason)

    async def close_without_status(self) -> None:
        """An empty close frame (the client reads 1005); websockets has no public API."""
        self.fault()
        self.ws.protocol.send_close()
        self.ws.send_data()
        async with asyncio.timeout(TIMEOUT):
            await self.ws.wait_closed()

    async def drop(self) -> None:
        """End the TCP connection without a close frame (the client reads 1006)."""
        self.fault()
        self.ws.transport.abort()
        async with asyncio.timeout(TIMEOUT):
            await self.ws.wait_closed()

    def reset(self) -> None:
        """Make the socket close with a TCP RST (SO_LINGER 0) and abort it.

        asyncio closes the socket on its next loop iteration; see ``socket_closed``.
        """
        self.fault()
        sock = self.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.ws.transport.abort()

    def socket_closed(self) -> bool:
        sock = self.ws.transport.get_extra_info("socket")
        fileno: int = sock.fileno()
        return fileno == -1

    async def silent(self) -> None:
        """Send nothing, ever (until the client or the server shutdown ends it)."""
        await self.ended.wait()

    async def hold(self) -> None:
        """A healthy server: ping every PING_INTERVAL until the connection ends."""
        while not self.ended.is_set():
            try:
                await self.ws.send(PING)
            except ConnectionClosed:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PING_INTERVAL):
                    await self.ended.wait()

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                assert isinstance(message, str), "the client sent a binary frame"
                self.frames.append(message)
                self._queue.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self.ended.set()


Script = Callable[[Session], Awaitable[None]]


async def healthy(session: Session) -> None:
    """The script of a connection nothing goes wrong with."""


@dataclass(eq=False)
class ScriptedServer:
    scripts: Sequence[Script]
    url: str = ""
    port: int = 0
    sessions: list[Session] = field(default_factory=list)
    _requested_at: dict[ServerConnection, float] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return len(self.sessions)

    async def session(self, index: int) -> Session:
        """Connection ``index`` once its first frame (the client's Connect) arrived."""
        await until(
            lambda: len(self.sessions) > index and self.sessions[index].greeted.is_set(),
            f"connection {index} and its first frame",
        )
        return self.sessions[index]

    def _record(self, connection: ServerConnection, request: Request) -> Response | None:
        self._requested_at[connection] = now()
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        index = len(self.sessions)
        session = Session(index, ws, self._requested_at.pop(ws, now()))
        self.sessions.append(session)
        reader = asyncio.create_task(session._read())
        try:
            await session.next_frame()
            session.greeted.set()
            script = self.scripts[index] if index < len(self.scripts) else healthy
            await script(session)
            await session.hold()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@contextlib.asynccontextmanager
async def scripted_server(*scripts: Script) -> AsyncIterator[ScriptedServer]:
    """Connection *i* runs ``scripts[i]`` after the client's first frame; later ones are healthy."""
    server = ScriptedServer(scripts)
    async with websocket_server(server._handle, process_request=server._record) as info:
        server.url, server.port = info.url, info.port
        yield server


# --------------------------------------------------------------------------- client


def scaled_manager(url: str, recorder: Recorder | None = None, **options: Any) -> Recorder:
    """``make_manager`` with the thresholds scaled down (``INACTIVITY``, ``POLICY``)
    unless ``options`` say otherwise; returns its recorder."""
    return make_manager(
        url, recorder, **{"inactivity_threshold": INACTIVITY, "backoff": POLICY, **options}
    )


@contextlib.asynccontextmanager
async def scripted_session(
    *scripts: Script, recorder: Recorder | None = None, **options: Any
) -> AsyncIterator[tuple[ScriptedServer, Recorder]]:
    """``scripted_server(*scripts)`` and a ``scaled_manager(**options)`` on it, which
    is terminated on the way out."""
    async with scripted_server(*scripts) as server:
        recorder = scaled_manager(server.url, recorder, **options)
        try:
            yield server, recorder
        finally:
            await recorder.manager.terminate()


def assert_connect_came_first(server: ScriptedServer, recorder: Recorder) -> None:
    """On every connection the server saw, the first frame was the Connect that
    ``on_open`` sent, with that connection's count and close reason."""
    assert server.attempts == len(recorder.opens)
    for session, (_, metadata) in zip(server.sessions, recorder.opens, strict=True):
        first = session.first_message()
        assert isinstance(first, Connect), (session.index, session.frames[0][:80])
        assert first.connection_count == session.index == metadata.connection_count
        assert first.last_close_reason == metadata.last_close_reason
