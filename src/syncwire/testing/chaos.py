"""``ChaosProxy``: a TCP proxy on 127.0.0.1 that makes the network misbehave on demand.

Why: the dev server's faults (``syncwire.devserver.faults``) act above TCP —
close frames, an application that stops sending. They cannot show what a
client sees when the network itself fails: a connection that stays open while
nothing flows (half-open), a reset, a FIN, a slow link or one that delivers a
byte at a time. This proxy sits between the client and the server, in the
same event loop, with plain asyncio and no root::

    from syncwire import Client
    from syncwire.devserver import DevServer
    from syncwire.devserver.example import chat_app
    from syncwire.testing import ChaosProxy

    async with (
        DevServer(chat_app(), ping_interval=0.05) as server,
        ChaosProxy(server.port) as proxy,
        Client(proxy.url, inactivity_threshold=0.3) as client,
    ):
        await client.mutation("messages:send", {"body": "through the proxy"})
        proxy.blackhole()      # half-open: both sockets stay open, nothing flows
        ...                    # the client gives up on the socket after 0.3 s of silence
        proxy.heal()           # the link is back: the next attempt gets through
        proxy.latency(0.1)     # 100 ms more each way, for this and every later connection
        proxy.reset()          # TCP RST to both ends of every open connection

Controls, all synchronous and effective at once:

- ``latency(seconds)``: every byte is delivered ``seconds`` after it arrived,
  in each direction (the round trip grows by twice that).
- ``slice(max_bytes)``: bytes are forwarded in writes of at most ``max_bytes``,
  with a pass of the event loop between writes, so the peer reads them apart.
- ``bandwidth(bytes_per_second)``: each direction carries at most this rate.
- ``blackhole()``: nothing is forwarded either way and nothing is closed, not
  even an end of stream a peer sends: neither end can tell. What arrives is
  held; ``heal()`` delivers it, as a healed network delivers retransmissions.
- ``reset()``: both sockets of every open connection close with a TCP RST
  (``SO_LINGER`` 0); held bytes are dropped.
- ``fin()``: the client's socket gets a FIN (half-close) after what was already
  written to it; what the server sends from then on is dropped.
- ``heal()``: every condition above is lifted, for open and later connections.

The link conditions (``latency``, ``slice``, ``bandwidth``, ``blackhole``)
apply to open connections and, unless ``future=False``, to every later one.
``reset`` and ``fin`` hit the open connections; with ``future=True`` every
later connection is also reset (or FINed) as soon as it is accepted, until
``heal()``.

Memory is bounded: each direction of a connection holds at most
``buffer_limit`` bytes plus one socket read; above the limit the proxy stops
reading that socket, so TCP flow control pushes back on the sender, as a slow
link would. Writes wait while the receiver's socket buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from typing import Final
from typing import Literal

from syncwire._listening import Listener

__all__ = ["DEFAULT_BUFFER_LIMIT", "ChaosProxy", "LinkConditions", "ProxiedConnection"]

DEFAULT_BUFFER_LIMIT: Final = 256 * 1024
"""Bytes one direction of a connection may hold before the proxy stops reading it."""
_LISTEN_HOST: Final = "127.0.0.1"
_PACING_QUANTUM: Final = 0.005
"""Seconds of bandwidth per write under a rate limit: smooth, yet few timer wake-ups."""
_STOP_TIMEOUT: Final = 5.0
_LINGER_RESET: Final = struct.pack("ii", 1, 0)

logger = logging.getLogger("syncwire.testing.chaos")

_OnAccept = Literal["reset", "fin"] | None


@dataclass(frozen=True, slots=True)
class LinkConditions:
    """The state of a link (``latency``, ``slice``, ``bandwidth``, ``blackhole``);
    immutable, so a control swaps it in one store."""

    latency: float = 0.0
    max_piece: int | None = None
    rate: float | None = None
    blackholed: bool = False


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: what it reads goes to ``out``."""

    def __init__(self, connection: ProxiedConnection) -> None:
        self._connection = connection
        self.transport: asyncio.Transport | None = None
        self.out: _Pipe | None = None
        """The direction that carries what this socket's peer sends."""
        self.into: _Pipe | None = None
        """The direction that writes to this socket."""
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False
        self.reset_by_peer = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a TCP socket
        self.transport = transport
        self._connection._side_made(self)

    def data_received(self, data: bytes) -> None:
        if self.out is not None:
            self.out.feed(data)

    def eof_received(self) -> bool:
        if self.out is not None:
            self.out.feed_eof()
        return True  # half-close: the other direction may still carry data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reset_by_peer = exc is not None
        self.writable.set()  # a writer waiting for room must see the loss
        if self.out is not None:
            self.out.feed_eof()
        if self.into is not None:
            self.into.wake()
        self._connection._side_lost()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def write_eof(self) -> None:
        """Half-close: FIN after what is already written; the peer may keep sending."""
        transport = self.transport
        if transport is None or self.lost or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        try:
            transport.write_eof()
        except OSError:  # the peer is gone already (ENOTCONN)
            transport.abort()

    def reset(self) -> None:
        """Close with a TCP RST: ``SO_LINGER`` 0, then abort (asyncio closes it next pass)."""
        transport = self.transport
        if transport is None or self.lost:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        transport.abort()


class _Pipe:
    """One direction of a connection: a bounded queue of timed chunks and its writer."""

    def __init__(
        self, connection: ProxiedConnection, source: _Side, dest: _Side, limit: int
    ) -> None:
        self._connection = connection
        self._source = source
        self._dest = dest
        source.out = self
        dest.into = self
        self._limit = limit
        self._chunks: deque[tuple[float, bytes]] = deque()
        self._offset = 0  # bytes of the first chunk already written
        self._eof = False
        self._shut = False  # fin(): this direction is over, drop what comes
        self._reading_paused = False
        self._wake = asyncio.Event()
        self._paced_until = 0.0
        self.held = 0
        self.bytes = 0
        self.writes = 0
        self.last_write_at: float | None = None

    def feed(self, data: bytes) -> None:
        if self._shut:
            return
        self._chunks.append((asyncio.get_running_loop().time(), data))
        self.held += len(data)
        if self.held >= self._limit and not self._reading_paused:
            self._reading_paused = True
            self._source.pause_reading()
        self._wake.set()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def shut(self) -> None:
        self._shut = True
        self._drop()

    def _drop(self) -> None:
        self._chunks.clear()
        self._offset = 0
        self._taken(self.held)

    def _taken(self, size: int) -> None:
        self.held -= size
        if self._reading_paused and self.held < self._limit:
            self._reading_paused = False
            self._source.resume_reading()

    async def _sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline``, or until something changes (data, a control)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self._wake.wait()

    async def run(self) -> None:
        """Forward until the source has ended and everything held is delivered (or dropped)."""
        loop = asyncio.get_running_loop()
        dest = self._dest
        while True:
            self._wake.clear()
            conditions = self._connection.conditions
            gone = dest.lost or (dest.transport is not None and dest.transport.is_closing())
            if self._shut or (gone and not conditions.blackholed):
                self._drop()  # nobody to deliver to
                if self._eof:
                    return
                await self._wake.wait()
                continue
            if conditions.blackholed or not self._chunks:
                if self._eof and not self._chunks and not conditions.blackholed:
                    break
                await self._wake.wait()
                continue
            arrived, data = self._chunks[0]
            now = loop.time()
            due = arrived + conditions.latency
            if conditions.rate is not None:
                due = max(due, self._paced_until)
            if due > now:
                await self._sleep_until(due)
                continue
            size = len(data) - self._offset
            if conditions.max_piece is not None:
                size = min(size, conditions.max_piece)
            if conditions.rate is not None:
                size = min(size, max(1, int(conditions.rate * _PACING_QUANTUM)))
                # At most one quantum of catching up after the loop ran late.
                start = max(self._paced_until, now - _PACING_QUANTUM)
                self._paced_until = start + size / conditions.rate
            transport = dest.transport
            assert transport is not None  # noqa: S101 - pipes run once both sockets are open
            transport.write(data[self._offset : self._offset + size])
            self.bytes += size
            self.writes += 1
            self.last_write_at = now
            self._offset += size
            if self._offset == len(data):
                self._chunks.popleft()
                self._offset = 0
            self._taken(size)
            if not dest.writable.is_set():
                await dest.writable.wait()
            if conditions.max_piece is not None:
                await asyncio.sleep(0)  # the peer reads this piece before the next is written
        # The source ended and everything is delivered: pass the end on.
        if self._source.reset_by_peer:
            dest.reset()
        else:
            dest.write_eof()


class ProxiedConnection:
    """One client connection through a ``ChaosProxy``, and its connection to the target.

    Read-only figures for tests: bytes and writes forwarded each way, bytes
    held, and the loop time of the last write to the client.
    """

    def __init__(self, proxy: ChaosProxy, conditions: LinkConditions, on_accept: _OnAccept) -> None:
        self._proxy = proxy
        self._conditions = conditions
        self._on_accept: _OnAccept = on_accept
        self._client = _Side(self)
        self._server = _Side(self)
        self._to_server = _Pipe(self, self._client, self._server, proxy.buffer_limit)
        self._to_client = _Pipe(self, self._server, self._client, proxy.buffer_limit)
        self._task: asyncio.Task[None] | None = None
        self._reset = False
        self._finished = asyncio.Event()
        self.opened_at = asyncio.get_running_loop().time()
        """Loop time the proxy accepted the connection."""

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"<ProxiedConnection {state} to_server={self.bytes_to_server}B "
            f"to_client={self.bytes_to_client}B held={self.held}B>"
        )

    @property
    def bytes_to_server(self) -> int:
        return self._to_server.bytes

    @property
    def bytes_to_client(self) -> int:
        return self._to_client.bytes

    @property
    def writes_to_server(self) -> int:
        """Socket writes made toward the server (one per piece under ``slice``)."""
        return self._to_server.writes

    @property
    def writes_to_client(self) -> int:
        return self._to_client.writes

    @property
    def held(self) -> int:
        """Bytes received and not yet forwarded, both directions."""
        return self._to_server.held + self._to_client.held

    @property
    def last_to_client_at(self) -> float | None:
        """Loop time of the last write toward the client, if any."""
        return self._to_client.last_write_at

    @property
    def closed(self) -> bool:
        """Both sockets are closed and the proxy is done with the connection."""
        return self._finished.is_set()

    @property
    def conditions(self) -> LinkConditions:
        """The link's state now; setting it takes effect at once, both ways."""
        return self._conditions

    @conditions.setter
    def conditions(self, conditions: LinkConditions) -> None:
        self._conditions = conditions
        self._to_server.wake()
        self._to_client.wake()

    @property
    def protocol(self) -> asyncio.Protocol:
        """The protocol of the client's socket (what the proxy hands asyncio on accept)."""
        return self._client

    # -- lifecycle --------------------------------------------------------------------

    def _side_made(self, side: _Side) -> None:
        if side is not self._client:
            return
        if self._on_accept == "reset":
            self.reset()
            return
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._run_done)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        proxy = self._proxy
        try:
            try:
                await loop.create_connection(
                    lambda: self._server, proxy.target_host, proxy.target_port
                )
            except OSError:
                self.reset()  # the target refuses: so does the proxy
                return
            if self._on_accept == "fin":
                self.fin()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._to_server.run())
                group.create_task(self._to_client.run())
        finally:
            # Both directions ended (or the connection was reset or the proxy stopped).
            for side in (self._client, self._server):
                transport = side.transport
                if transport is None or side.lost or transport.is_closing():
                    continue
                if self._reset:
                    side.reset()
                else:
                    transport.close()

    def _run_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._proxy._failed(exc)
        self._side_lost()

    def _side_lost(self) -> None:
        task_done = self._task is None or self._task.done()
        sides_done = all(
            side.transport is None or side.lost for side in (self._client, self._server)
        )
        if task_done and sides_done and not self._finished.is_set():
            self._finished.set()
            self._proxy._forget(self)

    # -- faults --------------------------------------------------------------------------

    def reset(self) -> None:
        """TCP RST to both ends now; what is held is dropped."""
        self._reset = True
        self._to_server.shut()
        self._to_client.shut()
        if self._task is not None:
            self._task.cancel()
        self._client.reset()
        self._server.reset()

    def fin(self) -> None:
        """FIN to the client now, after what was already written to it."""
        self._to_client.shut()
        self._client.write_eof()

    def abort(self) -> None:
        """Abort both sockets now, as ``stop()`` does; what is held is dropped."""
        if self._task is not None:
            self._task.cancel()
        for side in (self._client, self._server):
            if side.transport is not None and not side.lost:
                side.transport.abort()

    async def wait_closed(self) -> None:
        """Wait until both sockets are closed (bound it with ``asyncio.timeout``)."""
        await self._finished.wait()


class ChaosProxy(Listener[asyncio.Server]):
    """A TCP proxy from ``127.0.0.1:port`` to ``target_host:target_port`` that misbehaves on demand.

    Give clients ``proxy.url`` (or ``proxy.ws_url``) instead of the server's.
    Use ``async with ChaosProxy(server.port) as proxy:`` or ``start()``/``stop()``.
    ``port=0`` picks a free port. See the module docstring for the controls.
    ``stop()`` aborts every connection and returns once all are closed; it
    raises ``RuntimeError`` if the proxy itself failed while running (a bug).
    """

    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = "127.0.0.1",
        port: int = 0,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
    ) -> None:
        if not 0 < target_port < 65536:
            raise ValueError(f"target_port must be 1-65535, not {target_port!r}")
        if buffer_limit < 1:
            raise ValueError("buffer_limit must be positive")
        super().__init__(_LISTEN_HOST, port, noun="proxy")
        self.target_host = target_host
        self.target_port = target_port
        self.buffer_limit = buffer_limit
        self._future = LinkConditions()
        self._on_accept: _OnAccept = None
        self._connections: dict[ProxiedConnection, None] = {}  # in accept order
        self._changed = asyncio.Event()
        self._errors: list[BaseException] = []
        self.accepted = 0
        """Connections accepted so far."""

    def __repr__(self) -> str:
        return (
            f"<ChaosProxy {self.host}:{self.port} -> {self.target_host}:{self.target_port} "
            f"{len(self._connections)} open>"
        )

    @property
    def connections(self) -> tuple[ProxiedConnection, ...]:
        """Connections not yet closed, oldest first."""
        return tuple(self._connections)

    async def wait_for_connections(self, count: int) -> None:
        """Wait until exactly ``count`` connections are open (bound it with ``asyncio.timeout``)."""
        while len(self._connections) != count:
            self._changed.clear()
            await self._changed.wait()

    async def _listen(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(self._accept, self.host, self.port)

    async def _shut(self, listening: asyncio.Server) -> None:
        listening.close()
        connections = list(self._connections)
        for connection in connections:
            connection.abort()
        async with asyncio.timeout(_STOP_TIMEOUT):
            for connection in connections:
                await connection.wait_closed()
            await listening.wait_closed()
        if self._errors:
            raise RuntimeError("the chaos proxy failed") from self._errors[0]

    # -- controls ----------------------------------------------------------------------

    def latency(self, seconds: float, *, future: bool = True) -> None:
        """Deliver every byte ``seconds`` after it arrived, each way (0 lifts it)."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"latency must be a finite number of seconds ≥ 0, not {seconds!r}")
        self._update(lambda c: replace(c, latency=float(seconds)), future)

    def slice(self, max_bytes: int | None, *, future: bool = True) -> None:
        """Forward in writes of at most ``max_bytes``, apart (``None`` lifts it)."""
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be ≥ 1 or None, not {max_bytes!r}")
        self._update(lambda c: replace(c, max_piece=max_bytes), future)

    def bandwidth(self, bytes_per_second: float | None, *, future: bool = True) -> None:
        """Carry at most ``bytes_per_second`` each way (``None`` lifts it)."""
        if bytes_per_second is not None and not (
            math.isfinite(bytes_per_second) and bytes_per_second > 0
        ):
            raise ValueError(f"bytes_per_second must be > 0 or None, not {bytes_per_second!r}")
        rate = None if bytes_per_second is None else float(bytes_per_second)
        self._update(lambda c: replace(c, rate=rate), future)

    def blackhole(self, *, future: bool = True) -> None:
        """Forward nothing either way and close nothing: a half-open connection."""
        self._update(lambda c: replace(c, blackholed=True), future)

    def reset(self, *, future: bool = False) -> None:
        """TCP RST to both ends of every open connection (and, with ``future``, of later ones)."""
        if future:
            self._on_accept = "reset"
        for connection in list(self._connections):
            connection.reset()

    def fin(self, *, future: bool = False) -> None:
        """FIN to the client of every open connection (and, with ``future``, of later ones)."""
        if future:
            self._on_accept = "fin"
        for connection in list(self._connections):
            connection.fin()

    def heal(self) -> None:
        """Lift every condition, for open and later connections; held bytes flow."""
        self._future = LinkConditions()
        self._on_accept = None
        for connection in self._connections:
            connection.conditions = LinkConditions()

    def _update(self, change: Callable[[LinkConditions], LinkConditions], future: bool) -> None:
        if future:
            self._future = change(self._future)
        for connection in self._connections:
            connection.conditions = change(connection.conditions)

    # -- connections ----------------------------------------------------------------------

    def _accept(self) -> asyncio.Protocol:
        connection = ProxiedConnection(self, self._future, self._on_accept)
        self._connections[connection] = None
        self.accepted += 1
        self._changed.set()
        return connection.protocol

    def _forget(self, connection: ProxiedConnection) -> None:
        self._connections.pop(connection, None)
        self._changed.set()

    def _failed(self, exc: BaseException) -> None:
        logger.error("a proxied connection failed", exc_info=exc)
        self._errors.append(exc)
