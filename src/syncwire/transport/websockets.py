"""The default transport, built on the ``websockets`` library (asyncio implementation).

What this module adds on top of ``websockets``, and why:

- **A synchronous, ordered, never-blocking ``send``.** The manager sends from plain
  callbacks, as the seed does with the browser's ``WebSocket.send``. Each frame is
  framed (and compressed) and handed to the asyncio transport at once through
  ``websockets``' public synchronous write path (``broadcast``); the transport
  buffers what the kernel does not take yet. Frames therefore leave in call order,
  no task runs per connection, and there is no queue to drain (measured: about
  5-11 µs per call, end-to-end faster than a writer task awaiting
  ``ClientConnection.send``). Like ``WebSocket.bufferedAmount`` in a browser, the
  buffer is unbounded: a peer that stops reading is the manager's inactivity timer's
  business.
- **Browser-like close codes.** ``ConnectionClosedError.code`` is the code of the close
  frame received, else of the one sent (1009 for an oversized message, 1002 for a
  protocol error), else 1006; an empty close frame reads as 1005.
- **No policy.** No keepalive pings from the client (the manager watches inactivity
  itself; server pings are still answered), no opening-handshake timeout (the
  manager cancels ``connect`` instead, which leaves nothing open), no proxy taken
  from the environment, and TLS verification on unless the caller passes a context.
- **No secrets in logs, exceptions or reprs.** ``websockets`` logs every frame with
  its payload at DEBUG (an ``Authenticate`` frame carries the user's JWT) and every
  handshake header with its value. It logs here through a ``LoggerAdapter`` that
  rewrites those records before they are created: frames become opcode and size,
  header values become ``[redacted]`` (except a few protocol headers), and the
  query string of the request path is dropped. Exception texts are built from
  status codes, header *names*, TLS verification codes and OS error texts only.

A write that the kernel rejects after it was buffered is reported by asyncio as a
lost connection, exactly like a reset read; ``recv`` then raises
``ConnectionClosedError(1006)``, as a browser's ``onclose`` would. A write that fails
during ``send`` itself raises ``SendError`` there.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Mapping
from typing import Any
from typing import Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websockets_connect
from websockets.asyncio.server import broadcast
from websockets.exceptions import ConcurrencyError
from websockets.exceptions import ConnectionClosed as WebSocketsConnectionClosed
from websockets.exceptions import InvalidHandshake
from websockets.exceptions import InvalidHeader
from websockets.exceptions import InvalidMessage
from websockets.exceptions import InvalidProxyStatus
from websockets.exceptions import InvalidStatus
from websockets.exceptions import InvalidURI
from websockets.exceptions import PayloadTooBig
from websockets.exceptions import TooManyFragments
from websockets.exceptions import WebSocketException
from websockets.frames import Frame
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri
from websockets.version import version as websockets_version

from syncwire.errors import ConnectError
from syncwire.errors import ConnectionClosedError
from syncwire.errors import InvalidFrameError
from syncwire.errors import MessageTooLargeError
from syncwire.errors import SendError
from syncwire.errors import TransportError
from syncwire.errors import UnexpectedBinaryFrameError
from syncwire.redaction import redact_url
from syncwire.redaction import redacting_logger
from syncwire.transport.common import DEFAULT_CLOSE_TIMEOUT
from syncwire.transport.common import check_header
from syncwire.transport.common import check_options
from syncwire.transport.common import check_proxy
from syncwire.transport.common import default_user_agent
from syncwire.transport.common import describe_os_error
from syncwire.transport.common import header_items
from syncwire.transport.common import os_connect_cause
from syncwire.transport.common import warn_if_tls_weakened
from syncwire.urls import host_port
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import CLOSE_MESSAGE_TOO_BIG
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE
from syncwire.websocket_rules import check_close

# Codes websockets closes with when the peer's input is bad: protocol error,
# invalid data (not UTF-8), message too big.
_CLOSES_FOR_BAD_INPUT: Final = frozenset({1002, 1007, CLOSE_MESSAGE_TOO_BIG})

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "LOGGER_NAME",
    "WebSocketsConnection",
    "WebSocketsTransport",
    "connect_cause",
]

MAX_WRITE_BUFFER: Final = 16 * 2**20
"""Bytes waiting to be written above which reading stops (see ``_ClientConnection``)."""
try:
    from websockets.exceptions import TooManyFragments

    _REFUSED_MESSAGE: tuple[type[Exception], ...] = (TooManyFragments, UnicodeDecodeError)
except ImportError:  # older websockets have no fragment limit
    _REFUSED_MESSAGE = (UnicodeDecodeError,)
_MAX_CONTROL_FRAME: Final = 2 + 125 + 4  # header, largest payload, mask
_DATA_OPCODES: Final = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})
LOGGER_NAME: Final = "syncwire.transport.websockets"
"""The logger ``websockets`` writes to (through the redacting adapter)."""

# --------------------------------------------------------------------------- errors


def _describe_error(exc: BaseException) -> str:
    """A message for ``exc`` that holds no header value, URL secret or payload."""
    if isinstance(exc, InvalidStatus):
        return f"server rejected the WebSocket handshake: HTTP {exc.response.status_code}"
    if isinstance(exc, InvalidProxyStatus):
        return f"proxy rejected the connection: HTTP {exc.response.status_code}"
    if isinstance(exc, InvalidHeader):
        return f"invalid {exc.name} header in the handshake response"
    if isinstance(exc, WebSocketException):
        # Other texts may quote what the server sent (a redirect's Location, ...).
        return f"WebSocket handshake failed ({type(exc).__name__})"
    return describe_os_error(exc) or f"could not open the WebSocket ({type(exc).__name__})"


def connect_cause(exc: BaseException, url: str) -> str:
    """Why ``connect`` failed, in words for users (``ConnectError.cause``).

    Told from exception types, errno values and status codes only: a
    library's or the OS's message text never decides, and never appears.
    """
    where = host_port(url)
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status >= 500:
            return f"the server answered HTTP {status} (a server error) instead of a WebSocket"
        return f"the server answered HTTP {status}: is this a Convex deployment URL?"
    if isinstance(exc, InvalidProxyStatus):
        return f"the proxy answered HTTP {exc.response.status_code}"
    if isinstance(exc, InvalidMessage):
        if isinstance(exc.__cause__, EOFError):
            return f"{where} closed the connection without answering the WebSocket handshake"
        return f"{where} did not answer in HTTP: is this a Convex deployment URL?"
    if isinstance(exc, InvalidHandshake):
        return (
            f"{where} did not answer with a WebSocket handshake: is this a Convex deployment URL?"
        )
    cause = os_connect_cause(exc, where)
    if cause is not None:
        return cause
    return f"cannot open a WebSocket to {where} ({type(exc).__name__})"


def _closed_error(exc: WebSocketsConnectionClosed) -> ConnectionClosedError:
    """Browser semantics: the close frame received, else the one we sent, else 1006."""
    if exc.rcvd is None and exc.sent is not None and exc.sent.code in _CLOSES_FOR_BAD_INPUT:
        # websockets closed the connection itself because of what the peer sent.
        if exc.sent.code == CLOSE_MESSAGE_TOO_BIG:
            too_big = exc.__cause__
            if isinstance(too_big, PayloadTooBig):
                return MessageTooLargeError(too_big.size, too_big.max_size)
            return MessageTooLargeError()
        return InvalidFrameError(int(exc.sent.code), exc.sent.reason)
    close = exc.rcvd if exc.rcvd is not None else exc.sent
    if close is None:
        return ConnectionClosedError(CLOSE_ABNORMAL)
    return ConnectionClosedError(int(close.code), close.reason)


# --------------------------------------------------------------------------- connection


class _ClientConnection(ClientConnection):
    """``websockets``' client connection with the three guards a long-lived client needs.

    - ``last_data_at``: when bytes of a *data* frame last arrived, mid-frame
      included, so a large Transition on a slow link is not taken for a silent
      server. WebSocket pings do not count (a browser never sees them).
    - Reading pauses while more than ``MAX_WRITE_BUFFER`` bytes wait to be
      written: a server that floods pings and never reads its pongs cannot
      grow our memory without bound.
    - Once we close, incoming data frames are dropped and reading resumes, so
      the peer's close frame is seen even behind a full message queue.
    """

    last_data_at: float | None = None
    _closing = False
    _reading_paused_for_writes = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # When a message is refused (too many fragments, bad UTF-8) websockets
        # fails the connection and waits for it to end inside ``recv``; reading
        # may be paused behind a full queue, so the peer's close would never be
        # read. Start discarding first. (The assembler is made here.)
        messages = self.recv_messages
        get = messages.get

        async def get_or_discard(decode: bool | None = None) -> Any:
            try:
                return await get(decode)
            except _REFUSED_MESSAGE:
                self.start_discarding()
                raise

        messages.get = get_or_discard  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Only a data frame can be longer than a control frame: a partial frame
        # this long in the parser's buffer is one still arriving.
        if len(self.protocol.reader.buffer) > _MAX_CONTROL_FRAME:
            self.last_data_at = self.loop.time()
        transport = self.transport
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER and not transport.is_closing():
            self._reading_paused_for_writes = True
            transport.pause_reading()

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode in _DATA_OPCODES:
            self.last_data_at = self.loop.time()
            if self._closing:
                return  # nobody will read it; keep the queue from pausing reads
        super().process_event(event)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._reading_paused_for_writes:
            self._reading_paused_for_writes = False
            if not getattr(self.recv_messages, "paused", False):
                self.transport.resume_reading()

    def start_discarding(self) -> None:
        """We are closing: read on, dropping data, until the close frame arrives."""
        self._closing = True
        messages = self.recv_messages
        if getattr(messages, "paused", False):
            messages.paused = False
            if not self._reading_paused_for_writes:
                self.transport.resume_reading()


class WebSocketsConnection:
    """One open WebSocket, as returned by ``WebSocketsTransport.connect``."""

    __slots__ = ("_close_task", "_close_timeout", "_loop", "_url", "_ws")

    def __init__(self, ws: ClientConnection, url: str, close_timeout: float) -> None:
        self._ws = ws
        self._url = redact_url(url)
        self._close_timeout = close_timeout
        self._loop = asyncio.get_running_loop()
        self._close_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        closing = " closing" if self._close_task is not None else ""
        return f"<WebSocketsConnection {self._url} {self._ws.state.name}{closing}>"

    @property
    def last_data_at(self) -> float | None:
        """Loop time the last bytes arrived, mid-frame included (see ``TransportConnection``)."""
        return getattr(self._ws, "last_data_at", None)

    def send(self, text: str) -> None:
        """Frame ``text`` and hand it to the socket now; never blocks, keeps order.

        Raises ``SendError`` after our ``close()``, or if the socket fails while
        the frame is written (a frame sent after the peer closed is dropped);
        ``ValueError`` if ``text`` cannot be encoded as UTF-8 (a lone
        surrogate), without sending anything.
        """
        if not isinstance(text, str):
            raise TypeError(f"send() takes str, not {type(text).__name__}")
        transport = self._ws.transport
        if self._close_task is not None:
            raise SendError("cannot send: the connection is closing or closed")
        if self._ws.state is not State.OPEN or transport.is_closing():
            # The peer closed, or the connection is lost: drop the frame as a
            # browser does, so that recv reports the close with its real reason.
            return
        try:
            broadcast((self._ws,), text, raise_exceptions=True)
        except UnicodeEncodeError as exc:
            # Encoded before anything is written. Not chained: exc.object is the text.
            raise ValueError(f"text holds a lone surrogate at index {exc.start}") from None
        except ExceptionGroup as group:
            transport.abort()
            cause = group.exceptions[0].__cause__ or group.exceptions[0]
            raise SendError(f"write failed: {_describe_error(cause)}") from None
        if transport.is_closing():
            # asyncio reports a socket error during write() by closing the transport.
            raise SendError("write failed: the connection was lost")

    async def recv(self) -> str:
        """The next text frame.

        Raises ``ConnectionClosedError`` once the connection has ended (frames received
        before the close are returned first) and ``UnexpectedBinaryFrameError`` for a
        binary frame, after which the connection is still usable.
        """
        try:
            message = await self._ws.recv()
        except WebSocketsConnectionClosed as exc:
            raise _closed_error(exc) from None
        except ConcurrencyError:
            raise TransportError("recv() is already being awaited on this connection") from None
        except WebSocketException as exc:
            raise TransportError(f"receive failed ({type(exc).__name__})") from None
        if isinstance(message, str):
            return message
        raise UnexpectedBinaryFrameError(len(message))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake in the background; never blocks, idempotent.

        Raises ``ValueError`` for a code or reason a close frame cannot carry.
        """
        if self._close_task is not None:
            return
        check_close(code, reason)
        self._close_task = self._loop.create_task(
            self._close(code, reason), name=f"syncwire close {self._url}"
        )

    async def _close(self, code: int, reason: str) -> None:
        """The closing handshake, bounded by the close timeout, then abort."""
        if isinstance(self._ws, _ClientConnection):
            self._ws.start_discarding()
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._ws.close(code, reason)
        except (TimeoutError, WebSocketException, OSError):
            pass
        finally:
            # Idempotent, and the only way to bound a handshake stuck behind a full
            # write buffer. connection_lost then runs within one loop iteration.
            self._ws.transport.abort()
            await self._ws.wait_closed()

    async def wait_closed(self) -> None:
        """Return once the socket is closed; after the close timeout, abort it.

        Without a prior ``close``, waits for the peer to end the connection.
        Afterwards no task of this connection remains.
        """
        if self._close_task is not None:
            await asyncio.shield(self._close_task)
            return
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._ws.wait_closed()
        except TimeoutError:
            self._ws.transport.abort()
            await self._ws.wait_closed()


# --------------------------------------------------------------------------- transport


class WebSocketsTransport:
    """Opens WebSockets with the ``websockets`` library: the default transport.

    Every argument is keyword-only:

    - ``ssl``: the TLS context for ``wss://`` URLs. ``None`` verifies certificates
      against the system's trust store; passing a context is the only way to
      change that, and a context that skips certificate or host-name checks is
      logged as a warning. Passing one and connecting to a ``ws://`` URL is a
      ``ValueError``.
    - ``max_message_size``: largest incoming message in bytes, after
      decompression; a larger one ends the connection with ``ConnectionClosedError(1009)``.
    - ``proxy``: ``http://``, ``https://`` or ``socks5h://`` (etc.) proxy URL.
      ``None`` connects directly: environment variables are never consulted.
    - ``headers``: extra handshake headers, e.g. ``{"Convex-Client": "syncwire-0.1.0"}``.
      Their values never appear in reprs, exceptions or logs.
    - ``user_agent``: the ``User-Agent`` header; ``None`` means syncwire's own.
    - ``close_timeout``: seconds to wait for the closing handshake before aborting.
    - ``compression``: negotiate permessage-deflate (on by default).
    """

    __slots__ = (
        "_close_timeout",
        "_compression",
        "_default_ssl",
        "_headers",
        "_logger",
        "_max_message_size",
        "_proxy",
        "_ssl",
        "_user_agent",
    )

    def __init__(
        self,
        *,
        ssl: ssl_module.SSLContext | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        proxy: str | None = None,
        headers: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        compression: bool = True,
    ) -> None:
        check_options(ssl, max_message_size, close_timeout)
        warn_if_tls_weakened(ssl, LOGGER_NAME)
        if proxy is not None:
            check_proxy(proxy)
        if user_agent is not None:
            check_header("User-Agent", user_agent)
        header_pairs = header_items(headers)
        self._ssl = ssl
        self._default_ssl: ssl_module.SSLContext | None = None
        self._max_message_size = max_message_size
        self._proxy = proxy
        self._headers = header_pairs
        self._user_agent = (
            user_agent
            if user_agent is not None
            else default_user_agent("websockets", websockets_version)
        )
        self._close_timeout = float(close_timeout)
        self._compression = compression
        self._logger = redacting_logger(logging.getLogger(LOGGER_NAME))

    def __repr__(self) -> str:
        names = [name for name, _ in self._headers]
        proxy = redact_url(self._proxy) if self._proxy is not None else None
        return (
            f"WebSocketsTransport(ssl={'custom' if self._ssl is not None else 'default'}, "
            f"max_message_size={self._max_message_size}, proxy={proxy!r}, headers={names!r}, "
            f"user_agent={self._user_agent!r}, close_timeout={self._close_timeout}, "
            f"compression={self._compression})"
        )

    async def connect(self, url: str) -> WebSocketsConnection:
        """Open one WebSocket to ``url`` (``ws://`` or ``wss://``).

        Raises ``ValueError`` for another scheme, a malformed URL or an ``ssl``
        context with ``ws://``; ``ConnectError`` (a ``TransportError``, whose
        ``cause`` says why in words) when the socket or the handshake fails.
        Cancelling abandons the attempt and closes the socket.
        """
        scheme = url.partition(":")[0].lower() if isinstance(url, str) else ""
        if scheme not in ("ws", "wss"):
            raise ValueError("the URL must start with ws:// or wss://")
        try:
            parse_uri(url)  # up front: some websockets versions parse it only once awaited
        except InvalidURI:
            raise ValueError(f"invalid WebSocket URL: {redact_url(url)}") from None
        kwargs: dict[str, Any] = {}
        if scheme == "wss":
            kwargs["ssl"] = self._ssl if self._ssl is not None else self._default_context()
        elif self._ssl is not None:
            raise ValueError("an ssl context was given but the URL is ws://, not wss://")
        connector = websockets_connect(
            url,
            additional_headers=self._headers,
            user_agent_header=self._user_agent,
            compression="deflate" if self._compression else None,
            proxy=self._proxy,
            open_timeout=None,
            ping_interval=None,
            ping_timeout=None,
            close_timeout=self._close_timeout,
            max_size=self._max_message_size,
            logger=self._logger,
            create_connection=_ClientConnection,
            **kwargs,
        )
        try:
            ws = await connector
        except (OSError, TimeoutError) as exc:
            raise ConnectError(_describe_error(exc), cause=connect_cause(exc, url)) from exc
        except Exception as exc:
            # Not chained: websockets' texts may quote response headers.
            raise ConnectError(_describe_error(exc), cause=connect_cause(exc, url)) from None
        return WebSocketsConnection(ws, url, self._close_timeout)

    def _default_context(self) -> ssl_module.SSLContext:
        """One verifying context per transport: loading the CA store costs milliseconds."""
        if self._default_ssl is None:
            self._default_ssl = ssl_module.create_default_context()
        return self._default_ssl
