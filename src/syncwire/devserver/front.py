"""The front door of the dev server's one port: WebSocket upgrades to websockets, the rest to HTTP.

Why: a deployment serves the sync WebSocket and the HTTP API on one origin,
and websockets' server reads no request bodies. ``serve(create_connection=...)``
lets the server choose the asyncio protocol of each accepted connection
(documented as "a wrapper or a subclass"); ``front_door_factory`` returns a
``FrontDoor`` there, which reads the request line and then hands the socket
over: a ``GET`` to websockets' connection (the upgrade, and its 404s), any
other method to an ``HttpConnection``, which speaks HTTP/1.1 with h11
(Sans-I/O) and asks ``http_api.HttpApi`` for each answer.

HTTP connections go through the same faults as WebSockets: ``refuse``
answers a request with the refusal status, ``silence`` and ``delay`` hold
the answers (an ``Outbox``), ``drop`` (for every session) leaves requests
unanswered and unrun. Every wait is bounded (``HttpLimits``); ``HttpFront``
ends the connections when the server stops (gracefully) or is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import Final
from typing import cast

import h11

from syncwire.devserver.faults import Faults
from syncwire.devserver.http_api import HttpAnswer
from syncwire.devserver.http_api import HttpApi
from syncwire.devserver.http_api import error_answer
from syncwire.devserver.outbox import FaultableConnection
from syncwire.devserver.outbox import Outbox
from syncwire.devserver.outbox import connection_factory

__all__ = ["FrontDoor", "HttpConnection", "HttpFront", "HttpLimits", "front_door_factory"]

logger = logging.getLogger("syncwire.devserver")

_STOP_GRACE: Final = 10.0
"""Seconds ``stop()`` lets a request being answered finish before dropping it."""


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on what one HTTP connection may take (sizes in bytes, times in seconds)."""

    max_head_bytes: int = 64 * 1024
    """The request line and headers."""
    max_body_bytes: int = 16 * 1024 * 1024
    """A request body (Convex limits a function's arguments to 16 MiB)."""
    request_timeout: float = 30.0
    """From a request's first byte to its last (a slow head or body is answered 408)."""
    idle_timeout: float = 60.0
    """How long a keep-alive connection may wait for its next request."""

    def __post_init__(self) -> None:
        if min(self.max_head_bytes, self.max_body_bytes) < 1:
            raise ValueError("HTTP size limits must be positive")
        if not (self.request_timeout > 0 and self.idle_timeout > 0):
            raise ValueError("HTTP timeouts must be positive")


class HttpFront:
    """The HTTP side of one server: its API, faults, limits and open connections."""

    def __init__(self, api: HttpApi, faults: Faults, limits: HttpLimits) -> None:
        self.api = api
        self.faults = faults
        self.limits = limits
        self._connections: dict[HttpConnection, None] = {}
        self.doors: set[FrontDoor] = set()
        """Connections whose request line has not arrived yet."""
        self.stopping = False

    @property
    def connections(self) -> tuple[HttpConnection, ...]:
        """The open HTTP connections, oldest first."""
        return tuple(self._connections)

    def add(self, connection: HttpConnection) -> None:
        self._connections[connection] = None

    def discard(self, connection: HttpConnection) -> None:
        self._connections.pop(connection, None)

    def start(self) -> None:
        """Serving again (after a stop or a kill)."""
        self.stopping = False

    async def stop(self) -> None:
        """Close idle connections now, and the others once their answer is sent
        (within ``_STOP_GRACE`` seconds; then they are dropped)."""
        self.stopping = True
        self._shut_doors()
        connections = self.connections
        for connection in connections:
            connection.wind_down()
        tasks = [c.task for c in connections if c.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=_STOP_GRACE)
            for connection in connections:
                if connection.task in late:
                    connection.abort()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def kill(self) -> None:
        """Drop every connection now, answers unsent, as a killed process would."""
        self.stopping = True
        self._shut_doors()
        connections = self.connections
        for connection in connections:
            connection.abort()
        tasks = [c.task for c in connections if c.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    def _shut_doors(self) -> None:
        for door in list(self.doors):
            door.abort()


class FrontDoor(asyncio.Protocol):
    """Reads a new connection's request line, then hands the socket to its real protocol."""

    def __init__(self, websocket: FaultableConnection, front: HttpFront) -> None:
        self._websocket = websocket
        self._front = front
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._front.doors.add(self)
        loop = asyncio.get_running_loop()
        # A client that never finishes its request line is dropped.
        self._timer = loop.call_later(self._front.limits.request_timeout, self._transport.abort)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        line_end = self._buffer.find(b"\n")
        if line_end < 0:
            if len(self._buffer) > self._front.limits.max_head_bytes:
                self._refuse_line()
            return
        method = bytes(self._buffer[:line_end]).split(b" ", 1)[0]
        if method == b"GET":
            self._hand_over(self._websocket)
        else:
            self._hand_over(HttpConnection(self._front))

    def _hand_over(self, protocol: asyncio.Protocol) -> None:
        transport = self._transport
        if transport is None:  # pragma: no cover - data comes after connection_made
            return
        self._cancel_timer()
        self._front.doors.discard(self)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(bytes(self._buffer))
        self._buffer.clear()

    def _refuse_line(self) -> None:
        self._cancel_timer()
        if self._transport is not None:
            self._transport.write(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n")
            self._transport.close()

    def eof_received(self) -> bool | None:
        return False  # nothing decided yet: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._front.doors.discard(self)

    def abort(self) -> None:
        """Drop the connection (the server stops before it said what it wants)."""
        self._cancel_timer()
        self._front.doors.discard(self)
        if self._transport is not None:
            self._transport.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def front_door_factory(faults: Faults, front: HttpFront) -> Callable[..., FrontDoor]:
    """A ``create_connection`` for ``websockets.serve``: every accepted connection
    starts at a ``FrontDoor`` (its WebSocket side a ``FaultableConnection``)."""

    websocket = connection_factory(faults)

    def create(*args: Any, **kwargs: Any) -> FrontDoor:
        return FrontDoor(websocket(*args, **kwargs), front)

    return create


class _Closed(Exception):
    """The connection is gone, or must end now (a timeout was answered, or the server stops)."""


class HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 connection: keep-alive, one request at a time, every wait bounded."""

    def __init__(self, front: HttpFront) -> None:
        self._front = front
        self._limits = front.limits
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=front.limits.max_head_bytes
        )
        self._wake = asyncio.Event()
        self._lost = False
        self._idle = True  # waiting for a request, nothing of it received
        self._request_began: float | None = None  # loop time of its first byte
        self._winding_down = False
        self._transport: asyncio.Transport | None = None
        self._outbox: Outbox | None = None
        self.task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._outbox = Outbox(self._transport, self._front.faults)
        self._front.add(self)
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        if self._request_began is None:
            self._request_began = asyncio.get_running_loop().time()
        self._idle = False
        self._h11.receive_data(data)
        if self._transport is not None:
            self._transport.pause_reading()  # the task reads on when it needs more
        self._wake.set()

    def eof_received(self) -> bool | None:
        self._h11.receive_data(b"")
        self._wake.set()
        return True  # an answer may still be going out; the task closes

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._outbox is not None:
            self._outbox.abort()  # nothing held can go out any more
        self._wake.set()

    # -- for HttpFront --

    def wind_down(self) -> None:
        """The server stops: close now if idle, else after the answer being made."""
        self._winding_down = True
        if self._idle:
            self._wake.set()

    def abort(self) -> None:
        """Drop the TCP connection now, and stop serving."""
        if self._outbox is not None:
            self._outbox.abort()
        if self.task is not None:
            self.task.cancel()

    # -- serving --

    async def _serve(self) -> None:
        try:
            while not self._winding_down and not self._front.stopping:
                if not await self._serve_one():
                    break
                self._h11.start_next_cycle()
                self._idle = True
                self._request_began = None
            await self._close()
        except _Closed:
            await self._close()
        except Exception:
            logger.exception("dev server HTTP connection failed")
            self.abort()
        finally:
            self._front.discard(self)

    async def _serve_one(self) -> bool:
        """Read one request and answer it; whether the connection may carry another."""
        try:
            request = await self._next_event(first=True)
            if isinstance(request, (h11.ConnectionClosed, h11.EndOfMessage)):
                return False
            if not isinstance(request, h11.Request):  # pragma: no cover - h11's order
                raise _Closed
            body = await self._read_body(request)
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            code = "RequestHeadersTooLarge" if status == 431 else "BadHttpRequest"
            await self._answer_and_close(error_answer(status, code, str(exc)))
            return False
        except TimeoutError:
            if self._request_began is None:  # an idle keep-alive connection: just close
                return False
            await self._answer_and_close(
                error_answer(408, "RequestTimeout", "the request did not arrive in time")
            )
            return False
        except _BodyTooLarge:
            limit = self._limits.max_body_bytes
            await self._answer_and_close(
                error_answer(413, "RequestTooLarge", f"a request body is at most {limit} bytes")
            )
            return False
        faults = self._front.faults
        if faults.dropping(None):
            await self._hang()
            return False
        refusal = faults.take_refusal()
        if refusal is not None:
            answer = error_answer(
                refusal, "ServiceUnavailable", "injected fault: refusing requests"
            )
        else:
            headers = {
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in request.headers
            }
            answer = await self._front.api.handle(
                request.method.decode("latin-1"), request.target.decode("latin-1"), headers, body
            )
        self._send(answer)
        return self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE

    async def _next_event(self, *, first: bool = False) -> Any:
        """The next h11 event, reading as needed, within the request's deadline."""
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self._lost:
                raise _Closed
            if first and self._idle and self._winding_down:
                raise _Closed
            self._wake.clear()
            if self._transport is not None:
                self._transport.resume_reading()
            async with asyncio.timeout_at(self._deadline()):
                await self._wake.wait()

    def _deadline(self) -> float:
        """An idle connection waits ``idle_timeout``; a request once begun, ``request_timeout``."""
        loop = asyncio.get_running_loop()
        if self._request_began is None:
            return loop.time() + self._limits.idle_timeout
        return self._request_began + self._limits.request_timeout

    async def _read_body(self, request: h11.Request) -> bytes:
        for name, value in request.headers:
            if name == b"content-length" and int(value) > self._limits.max_body_bytes:
                raise _BodyTooLarge
        body = bytearray()
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > self._limits.max_body_bytes:
                    raise _BodyTooLarge
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:  # h11.ConnectionClosed before the body ended
                raise _Closed

    async def _hang(self) -> None:
        """A dropped request: no answer; the connection stays open, unread, until the
        client gives up, the server stops, or ``idle_timeout`` passes."""
        self._idle = True  # stop() may close it at once
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._limits.idle_timeout):
                while not (self._lost or self._winding_down):
                    self._wake.clear()
                    await self._wake.wait()
        self.abort_transport()

    def abort_transport(self) -> None:
        if self._outbox is not None:
            self._outbox.abort()

    def _send(self, answer: HttpAnswer) -> None:
        closing = self._winding_down or self._front.stopping
        headers = [(name, value) for name, value in answer.headers]
        headers.append(("content-length", str(len(answer.body))))
        if closing:
            headers.append(("connection", "close"))
        if self._h11.their_state is not h11.DONE:  # an error before its body was read
            headers.append(("connection", "close"))
        if self._h11.our_state is not h11.SEND_RESPONSE:
            return  # an answer has already gone out (or cannot)
        data = self._h11.send(h11.Response(status_code=answer.status, headers=headers, reason=b""))
        data = (data or b"") + (self._h11.send(h11.Data(data=answer.body)) or b"")
        data += self._h11.send(h11.EndOfMessage()) or b""
        if self._outbox is not None and not self._lost:
            self._outbox.write(data)

    async def _answer_and_close(self, answer: HttpAnswer) -> None:
        """Answer a request that could not be read (h11 may not know it), then close."""
        if (
            self._lost
            or self._outbox is None
            or self._h11.our_state
            not in (
                h11.IDLE,
                h11.SEND_RESPONSE,
            )
        ):
            return
        head = [f"HTTP/1.1 {answer.status} \r\n"]
        head += [f"{name}: {value}\r\n" for name, value in answer.headers]
        head.append(f"content-length: {len(answer.body)}\r\nconnection: close\r\n\r\n")
        self._outbox.write("".join(head).encode("latin-1") + answer.body)

    async def _close(self) -> None:
        """Send what is held (bounded), then close."""
        if self._outbox is None:
            return
        if not self._lost:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STOP_GRACE):
                    await self._outbox.wait_sent()
        self._outbox.close()


class _BodyTooLarge(Exception):
    """The request body is over ``HttpLimits.max_body_bytes``."""
