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
- ``Recorder`` and ``make_manager``: a manager with the default transport,
  thresholds scaled down, no jitter, and callbacks that record what happened
  with loop times. ``on_open`` sends ``Connect`` (and whatever else the test
  asks), as the sync client does.

Every wait is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from syncwire._core.backoff import SERVER_DISCONNECT_ERRORS, BackoffPolicy, next_backoff
from syncwire.manager import (
    ConnectionState,
    OnMessageResponse,
    ReconnectMetadata,
    WebSocketManager,
)
from syncwire.protocol import (
    ClientMessage,
    Connect,
    Ping,
    ServerMessage,
    encode_server_message,
    parse_client_message,
)
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


def no_jitter() -> float:
    return 0.5


def expected_delay(reason_class: str, retries: int = 0) -> float:
    """The delay POLICY gives ``reason_class`` after ``retries`` reconnects, without jitter."""
    return next_backoff(reason_class, retries, no_jitter, POLICY)


def now() -> float:
    return asyncio.get_running_loop().time()


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait (polling every 2 ms) until ``predicate()`` holds; fail after ``TIMEOUT``.

    Polling, not an Event: the predicates read state that callbacks and the
    manager change, and no one is there to set an Event for them.
    """
    try:
        async with asyncio.timeout(TIMEOUT):
            while not predicate():  # noqa: ASYNC110 - see above
                await asyncio.sleep(0.002)
    except TimeoutError:
        pytest.fail(f"timed out after {TIMEOUT} s waiting for {what}")


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

_manager_loggers = itertools.count()
_RECONNECT_IN = re.compile(r"Attempting reconnect in (\d+)ms")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _manager_logger(lines: _Lines) -> logging.Logger:
    """A fresh child of ``syncwire.manager`` (so caplog still sees everything) that
    also hands its lines to ``lines``, at INFO or below whatever the test set."""
    logger = logging.getLogger(f"syncwire.manager.loopback{next(_manager_loggers)}")
    parent = logging.getLogger("syncwire.manager")
    logger.setLevel(min(logging.INFO, parent.getEffectiveLevel()))
    logger.addHandler(lines)
    return logger


@dataclass(eq=False)
class Recorder:
    """The manager's callbacks, recording what they were told and when (loop time)."""

    manager: WebSocketManager | None = None
    also_send: Callable[[ReconnectMetadata], Sequence[ClientMessage]] = lambda _: ()
    """Messages ``on_open`` sends after Connect (e.g. Authenticate)."""
    synced: bool = False
    opens: list[tuple[float, ReconnectMetadata]] = field(default_factory=list)
    messages: list[ServerMessage] = field(default_factory=list)
    states: list[tuple[float, ConnectionState]] = field(default_factory=list)
    disconnect_errors: list[str] = field(default_factory=list)
    sent: list[ClientMessage] = field(default_factory=list)
    retries_seen: list[int] = field(default_factory=list)
    """``connection_retries`` as ``on_message`` saw it, per message."""
    log: _Lines = field(default_factory=_Lines)
    """The manager's log lines (INFO and up, or more if the test lowered the level)."""

    def reconnect_delays_ms(self) -> list[int]:
        """The delays of the manager's ``Attempting reconnect in <ms>ms`` lines, in order:
        the backoff the core computed, exactly, whatever the load on the machine."""
        return [int(m.group(1)) for line in self.log.lines if (m := _RECONNECT_IN.search(line))]

    def on_open(self, metadata: ReconnectMetadata) -> None:
        self.opens.append((now(), metadata))
        assert self.manager is not None
        connect = Connect(
            connection_count=metadata.connection_count,
            last_close_reason=metadata.last_close_reason,
            client_ts=metadata.client_ts,
            session_id="loopback",
        )
        for message in (connect, *self.also_send(metadata)):
            self.sent.append(message)
            assert self.manager.send_message(message)

    def on_message(self, message: ServerMessage) -> OnMessageResponse:
        self.messages.append(message)
        assert self.manager is not None
        self.retries_seen.append(self.manager.connection_state().connection_retries)
        return OnMessageResponse(has_synced_past_last_reconnect=self.synced)

    def on_state_change(self, state: ConnectionState) -> None:
        self.states.append((now(), state))

    def disconnects(self) -> list[tuple[float, ConnectionState]]:
        """The recorded changes to ``disconnected``, each with its loop time."""
        return [(at, state) for at, state in self.states if state.state == "disconnected"]


def make_manager(url: str, recorder: Recorder | None = None, **options: object) -> Recorder:
    """A manager with the default transport (unless ``transport=`` is given), scaled-down
    thresholds and no jitter; returns its recorder (``recorder.manager`` is the manager)."""
    recorder = recorder or Recorder()
    settings: dict[str, object] = {
        "inactivity_threshold": INACTIVITY,
        "backoff": POLICY,
        "rand": no_jitter,
        "logger": _manager_logger(recorder.log),
    }
    settings.update(options)
    recorder.manager = WebSocketManager(
        url,
        on_open=recorder.on_open,
        on_message=recorder.on_message,
        on_server_disconnect_error=recorder.disconnect_errors.append,
        on_state_change=recorder.on_state_change,
        **settings,  # type: ignore[arg-type]
    )
    return recorder


def assert_connect_came_first(server: ScriptedServer, recorder: Recorder) -> None:
    """On every connection the server saw, the first frame was the Connect that
    ``on_open`` sent, with that connection's count and close reason."""
    assert server.attempts == len(recorder.opens)
    for session, (_, metadata) in zip(server.sessions, recorder.opens, strict=True):
        first = session.first_message()
        assert isinstance(first, Connect), (session.index, session.frames[0][:80])
        assert first.connection_count == session.index == metadata.connection_count
        assert first.last_close_reason == metadata.last_close_reason
