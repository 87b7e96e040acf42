"""An in-memory transport whose server side a test scripts, step by step.

No sockets and no real time: everything is futures and events on the running loop
(the only timer, ``wait_closed``'s bound, uses the loop's clock), so it runs
unchanged on a virtual-time event loop. Each ``connect`` call is one attempt; the
test takes the server's end of it with ``next_connection`` and decides what
happens::

    from syncwire.testing import FakeTransport

    fake = FakeTransport()
    connecting = asyncio.create_task(fake.connect("wss://example.convex.cloud/api/sync"))

    server = await fake.next_connection()    # the server's end of that attempt
    server.accept()                          # or .refuse(TransportError(...)), or
                                             # nothing at all: the handshake hangs
    conn = await connecting
    conn.send('{"type":"Connect"}')
    assert await server.receive() == '{"type":"Connect"}'   # also in server.sent
    server.push('{"type":"Ping"}')
    assert await conn.recv() == '{"type":"Ping"}'
    server.close(1013, "SubscriptionsWorkerFullError")      # or .drop() for 1006

``server.trickle()`` says bytes of a frame arrived without completing it (the
client's ``last_data_at``, as on a slow link). ``server.fail_sends()`` makes the
client's sends raise ``SendError`` at once;
``server.fail_sends(later=True)`` lets the next send "succeed" and then breaks
the connection the way a failed background write does. ``server.closed_by_client``
tells whether (and with what code) the client closed; ``fake.attempts`` and
``fake.accepted`` count attempts and opened connections. With
``FakeTransport(auto_accept=True)`` every attempt is accepted without a step.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Literal
from typing import NamedTuple

from syncwire.errors import ConnectionClosedError
from syncwire.errors import SendError
from syncwire.errors import TransportError
from syncwire.errors import UnexpectedBinaryFrameError
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import check_close

__all__ = [
    "CloseFrame",
    "FakeConnection",
    "FakeServerConnection",
    "FakeTransport",
]

AttemptState = Literal["pending", "open", "refused", "abandoned", "closed"]


class CloseFrame(NamedTuple):
    """A close code and reason, as one side of a connection sent them."""

    code: int
    reason: str = ""


class _Raise(NamedTuple):
    """An inbox entry that ends reading: raised once (``sticky=False``) or forever.

    ``error`` makes a fresh exception per ``recv``, so tracebacks do not pile up.
    """

    error: Callable[[], TransportError]
    sticky: bool


_Inbound = str | bytes | _Raise


class FakeConnection:
    """The client's end of one accepted connection: a ``TransportConnection``."""

    def __init__(self, server: FakeServerConnection, close_timeout: float) -> None:
        self._server = server
        self._close_timeout = close_timeout
        self._inbox: deque[_Inbound] = deque()
        self._readable = asyncio.Event()
        self._closing = False
        self.last_data_at: float | None = None
        """Loop time bytes last arrived (a push, or ``server.trickle()``)."""

    def __repr__(self) -> str:
        state = "closing" if self._closing and not self._server.is_closed else self._server.state
        return f"<FakeConnection #{self._server.index} {state}>"

    @property
    def server(self) -> FakeServerConnection:
        """The server's end of this connection."""
        return self._server

    def send(self, text: str) -> None:
        """Deliver ``text`` to the server (``server.sent``), or fail as scripted."""
        if not isinstance(text, str):
            raise TypeError(f"send() takes str, not {type(text).__name__}")
        server = self._server
        if self._closing:
            raise SendError("cannot send: the connection is closing or closed")
        if server.is_closed:
            return  # dropped, as a browser does; recv reports the close
        try:
            text.encode()
        except UnicodeEncodeError as exc:  # as the real transport does
            raise ValueError(f"text holds a lone surrogate at index {exc.start}") from None
        if server._fail_sends == "now":
            raise SendError("send failed (scripted by FakeServerConnection.fail_sends)")
        if server._fail_sends == "later":
            # Accepted, then lost in the background: recv reports it, then 1006.
            failure = partial(SendError, "a queued frame could not be written")
            self._inbox.append(_Raise(failure, sticky=False))
            server._end(CloseFrame(CLOSE_ABNORMAL), by_client=False)
            return
        server._receive_from_client(text)

    async def recv(self) -> str:
        """The next frame the server pushed; raises as the server scripted."""
        while not self._inbox:
            self._readable.clear()
            await self._readable.wait()
        item = self._inbox[0]
        if isinstance(item, _Raise):
            if not item.sticky:
                self._inbox.popleft()
            raise item.error()
        self._inbox.popleft()
        if isinstance(item, bytes):
            raise UnexpectedBinaryFrameError(len(item))
        return item

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client side; recorded in ``server.closed_by_client``."""
        if self._closing:
            return
        check_close(code, reason)  # the real transport's rule: no test passes what it rejects
        self._closing = True
        if not self._server.is_closed:
            self._server._end(CloseFrame(code, reason), by_client=True)

    async def wait_closed(self) -> None:
        """Return once closed; a connection nobody closes is aborted (1006) after
        ``close_timeout`` seconds of the loop's clock."""
        if self._server.is_closed:
            return
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._server.wait_closed()
        except TimeoutError:
            self._server._end(CloseFrame(CLOSE_ABNORMAL), by_client=False)

    def _deliver(self, item: _Inbound) -> None:
        self.last_data_at = asyncio.get_running_loop().time()
        self._inbox.append(item)
        self._readable.set()


class FakeServerConnection:
    """The server's end of one connection attempt, driven by the test."""

    def __init__(self, transport: FakeTransport, index: int, url: str) -> None:
        self._transport = transport
        self.index = index
        """0 for the first attempt on the transport, then 1, 2, ..."""
        self.url = url
        """The URL the client connected to."""
        self._state: AttemptState = "pending"
        self._outcome: asyncio.Future[FakeConnection] = asyncio.get_running_loop().create_future()
        self._client: FakeConnection | None = None
        self._sent: list[str] = []
        self._read = 0
        self._arrived = asyncio.Event()
        self._closed = asyncio.Event()
        self._fail_sends: Literal["no", "now", "later"] = "no"
        self.closed_by_client: CloseFrame | None = None
        """How the client closed the connection; ``None`` if it did not (yet)."""
        self.close_frame: CloseFrame | None = None
        """How the connection ended, whoever ended it (1006 for a drop)."""

    def __repr__(self) -> str:
        return f"<FakeServerConnection #{self.index} {self._state}>"

    @property
    def state(self) -> AttemptState:
        """``pending`` until accepted or refused; ``abandoned`` if the client
        cancelled ``connect``; ``closed`` once either side ended it."""
        return self._state

    @property
    def is_open(self) -> bool:
        """Whether the connection was accepted and has not ended."""
        return self._state == "open"

    @property
    def is_closed(self) -> bool:
        """Whether the attempt is over: refused, abandoned or closed."""
        return self._state in ("refused", "abandoned", "closed")

    @property
    def sent(self) -> list[str]:
        """Every frame the client sent on this connection, in order (a copy)."""
        return list(self._sent)

    @property
    def client(self) -> FakeConnection:
        """The client's end; only after ``accept``."""
        if self._client is None:
            raise RuntimeError(f"connection #{self.index} was not accepted")
        return self._client

    # Handshake -----------------------------------------------------------------

    def accept(self) -> FakeConnection:
        """Complete the handshake: the client's ``connect`` returns."""
        self._require("pending", "accept")
        self._client = FakeConnection(self, self._transport.close_timeout)
        self._state = "open"
        self._transport._accepted += 1
        self._outcome.set_result(self._client)
        return self._client

    def refuse(self, error: TransportError | None = None) -> None:
        """Fail the attempt: the client's ``connect`` raises ``error``."""
        self._require("pending", "refuse")
        if error is None:
            error = TransportError("connection refused (scripted)")
        if not isinstance(error, TransportError):
            raise TypeError("a transport may only raise TransportError from connect")
        self._state = "refused"
        self._outcome.set_exception(error)
        self._closed.set()

    # Server to client ------------------------------------------------------------

    def push(self, text: str) -> None:
        """Send a text frame to the client. Dropped if the connection already ended,
        as it would be on a network."""
        if not isinstance(text, str):
            raise TypeError("push() takes str; use push_binary() for bytes")
        self._push(text)

    def trickle(self) -> None:
        """Bytes of a frame arrive, but not the whole frame yet (a slow link)."""
        self._require_started("trickle to")
        if self._state == "open" and self._client is not None:
            self._client.last_data_at = asyncio.get_running_loop().time()

    def push_binary(self, data: bytes) -> None:
        """Send a binary frame: the client's ``recv`` raises ``UnexpectedBinaryFrameError``."""
        self._push(bytes(data))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the server side; frames pushed earlier are received first.

        Any code is allowed, including 1005 (no status) and 1006 (see ``drop``).
        """
        self._require_started("close")
        if not self.is_closed:
            self._end(CloseFrame(code, reason), by_client=False)

    def drop(self) -> None:
        """Lose the connection without a close frame: the client sees 1006."""
        self.close(CLOSE_ABNORMAL)

    def fail_sends(self, *, later: bool = False) -> None:
        """Make the client's writes fail.

        By default every later ``send`` raises ``SendError`` at once. With
        ``later=True`` the next ``send`` returns normally but its frame is lost;
        the client's next ``recv`` raises ``SendError``, and the connection is
        over (1006).
        """
        self._fail_sends = "later" if later else "now"

    # Client to server ------------------------------------------------------------

    async def receive(self) -> str:
        """The client's next frame not yet returned by ``receive``.

        Raises ``ConnectionClosedError`` once the connection ended and every frame was read.
        """
        while self._read >= len(self._sent):
            if self.is_closed:
                frame = self.close_frame or CloseFrame(CLOSE_ABNORMAL)
                raise ConnectionClosedError(frame.code, frame.reason)
            self._arrived.clear()
            await self._arrived.wait()
        self._read += 1
        return self._sent[self._read - 1]

    async def wait_closed(self) -> None:
        """Return once the attempt is over (refused, abandoned or closed)."""
        await self._closed.wait()

    # Internals -------------------------------------------------------------------

    def _require(self, state: AttemptState, action: str) -> None:
        if self._state != state:
            raise RuntimeError(f"cannot {action} connection #{self.index}: it is {self._state}")

    def _require_started(self, action: str) -> None:
        if self._state == "pending":
            raise RuntimeError(f"cannot {action} connection #{self.index} before accept()")

    def _push(self, item: str | bytes) -> None:
        self._require_started("push to")
        if self._state == "open" and self._client is not None:
            self._client._deliver(item)

    def _receive_from_client(self, text: str) -> None:
        self._sent.append(text)
        self._arrived.set()

    def _end(self, frame: CloseFrame, *, by_client: bool) -> None:
        if self.is_closed:
            return
        self._state = "closed"
        self.close_frame = frame
        if by_client:
            self.closed_by_client = frame
        if self._client is not None:
            ended = partial(ConnectionClosedError, frame.code, frame.reason)
            self._client._deliver(_Raise(ended, sticky=True))
        self._arrived.set()
        self._closed.set()

    def _abandon(self) -> None:
        """The client cancelled ``connect``: before or after ``accept`` won the race."""
        if self._state == "pending":
            self._state = "abandoned"
            self._closed.set()
        elif self._state == "open":
            self._end(CloseFrame(CLOSE_ABNORMAL), by_client=False)
            self._state = "abandoned"


class FakeTransport:
    """A ``Transport`` whose every connection attempt a test scripts.

    ``auto_accept`` accepts each attempt at once (it can be switched at any time);
    ``close_timeout`` bounds ``wait_closed`` on connections nobody closes, in the
    loop's time.
    """

    def __init__(self, *, auto_accept: bool = False, close_timeout: float = 5.0) -> None:
        if not (close_timeout > 0 and math.isfinite(close_timeout)):
            raise ValueError("close_timeout must be a positive number of seconds")
        self.auto_accept = auto_accept
        self.close_timeout = close_timeout
        self._attempts: list[FakeServerConnection] = []
        self._handed_out = 0
        self._accepted = 0
        self._new_attempt: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"<FakeTransport attempts={self.attempts} accepted={self.accepted}>"

    @property
    def attempts(self) -> int:
        """How many times ``connect`` was called."""
        return len(self._attempts)

    @property
    def accepted(self) -> int:
        """How many attempts were accepted (connections opened)."""
        return self._accepted

    @property
    def connections(self) -> list[FakeServerConnection]:
        """The server's end of every attempt so far, oldest first (a copy)."""
        return list(self._attempts)

    async def connect(self, url: str) -> FakeConnection:
        """Start an attempt and wait for the test (or ``auto_accept``) to decide it."""
        scheme = url.partition(":")[0].lower() if isinstance(url, str) else ""
        if scheme not in ("ws", "wss") or not url[len(scheme) :].startswith("://"):
            raise ValueError("the URL must start with ws:// or wss://")
        server = FakeServerConnection(self, len(self._attempts), url)
        self._attempts.append(server)
        if self._new_attempt is not None:
            self._new_attempt.set()
        if self.auto_accept:
            server.accept()
        try:
            return await server._outcome
        except asyncio.CancelledError:
            server._abandon()
            raise

    async def next_connection(self) -> FakeServerConnection:
        """The server's end of the next attempt not yet returned here (waits for it)."""
        while self._handed_out >= len(self._attempts):
            if self._new_attempt is None:
                self._new_attempt = asyncio.Event()
            self._new_attempt.clear()
            await self._new_attempt.wait()
        self._handed_out += 1
        return self._attempts[self._handed_out - 1]
