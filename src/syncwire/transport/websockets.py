"""The default transport: ``websockets``' Sans-I/O protocol under a plain asyncio ``Protocol``.

``websockets`` parses and builds frames (``ClientProtocol``: the handshake, masking,
permessage-deflate, the size limit checked after decompression, control frames);
this module moves the bytes, through its documented Sans-I/O API only. Owning the
asyncio side is what gives the manager what it needs:

- **A synchronous, ordered, never-blocking ``send``.** The manager sends from plain
  callbacks, as the seed does with the browser's ``WebSocket.send``. Each frame is
  built and handed to ``asyncio.Transport.write`` at once; the transport buffers
  what the kernel does not take yet. Frames leave in call order, no task runs per
  connection, and there is no queue to drain. Like ``WebSocket.bufferedAmount`` in
  a browser the buffer is unbounded: a peer that stops reading is the manager's
  inactivity timer's business.
- **Byte-level activity.** ``last_data_at`` moves when bytes of a *data* frame
  arrive, mid-frame included, so a large Transition on a slow link is not taken
  for a silent server; WebSocket pings do not count (a browser never sees them).
- **Bounded memory.** Reading pauses while more than ``MAX_QUEUE`` messages wait to
  be read, and while more than ``MAX_WRITE_BUFFER`` bytes wait to be written (a
  server that floods pings and never reads the pongs). A message may arrive in at
  most ``MAX_FRAGMENTS`` frames. Once we close, incoming data is dropped and reading
  goes on, so the peer's close frame is seen even behind a full queue.
- **Browser-like close codes.** ``ConnectionClosedError.code`` is the code of the close
  frame received, else of the one sent (1009 for an oversized message, 1002 for a
  protocol error, 1007 for text that is not UTF-8), else 1006; an empty close frame
  reads as 1005.
- **No policy.** No keepalive pings from the client (server pings are answered), no
  opening-handshake timeout (the manager cancels ``connect`` instead, which leaves
  nothing open), no redirect followed, no proxy taken from the environment, and TLS
  verification on unless the caller passes a context.
- **No secrets in logs, exceptions or reprs.** ``websockets`` logs every frame with
  its payload at DEBUG (an ``Authenticate`` frame carries the user's JWT) and every
  handshake header with its value. It logs here through a ``LoggerAdapter`` that
  rewrites those records before they are created (``syncwire.redaction``). That
  adapter knows ``websockets``' log formats, which are not its stable API: hence the
  upper bound on ``websockets`` in ``pyproject.toml``. Exception texts are built from
  status codes, header *names*, TLS verification codes and OS error texts only.

A write that the kernel rejects after it was buffered is reported by asyncio as a
lost connection, exactly like a reset read; ``recv`` then raises
``ConnectionClosedError(1006)``, as a browser's ``onclose`` would. A write that fails
during ``send`` itself raises ``SendError`` there.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl as ssl_module
from collections.abc import Mapping
from typing import Final
from typing import cast

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed as WebSocketsConnectionClosed
from websockets.exceptions import InvalidHandshake
from websockets.exceptions import InvalidHeader
from websockets.exceptions import InvalidMessage
from websockets.exceptions import InvalidStatus
from websockets.exceptions import InvalidURI
from websockets.exceptions import PayloadTooBig
from websockets.exceptions import WebSocketException
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import WebSocketURI
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
from syncwire.transport.common import BYTES_FROM
from syncwire.transport.common import DEFAULT_CLOSE_TIMEOUT
from syncwire.transport.common import MAX_CONTROL_FRAME
from syncwire.transport.common import MAX_FRAGMENTS
from syncwire.transport.common import MAX_QUEUE
from syncwire.transport.common import MAX_WRITE_BUFFER
from syncwire.transport.common import TransportOptions
from syncwire.transport.common import describe_os_error
from syncwire.transport.common import os_connect_cause
from syncwire.transport.proxy import ProxyRefusedError
from syncwire.transport.proxy import open_tunnel
from syncwire.urls import host_port
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import CLOSE_MESSAGE_TOO_BIG
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE
from syncwire.websocket_rules import check_close

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "LOGGER_NAME",
    "WebSocketsConnection",
    "WebSocketsTransport",
    "connect_cause",
]

LOGGER_NAME: Final = "syncwire.transport.websockets"
"""The logger ``websockets`` writes to (through the redacting adapter)."""
_RESUME_QUEUE: Final = MAX_QUEUE // 4
# Codes websockets closes with when the peer's input is bad: protocol error,
# invalid data (not UTF-8), message too big.
_CLOSES_FOR_BAD_INPUT: Final = frozenset({1002, 1007, CLOSE_MESSAGE_TOO_BIG})
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT
_OPEN: Final = State.OPEN


# --------------------------------------------------------------------------- errors


def _describe_error(exc: BaseException) -> str:
    """A message for ``exc`` that holds no header value, URL secret or payload."""
    if isinstance(exc, InvalidStatus):
        return f"server rejected the WebSocket handshake: HTTP {exc.response.status_code}"
    if isinstance(exc, ProxyRefusedError):
        return f"proxy rejected the connection: HTTP {exc.status}"
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
    if isinstance(exc, ProxyRefusedError):
        return f"the proxy answered HTTP {exc.status}"
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


def _with_deflate_slack(limit: int) -> int:
    """``limit`` plus what deflate can add to incompressible data (5 bytes a 16 KiB block)."""
    return limit + limit // 1000 + 1024


def _closed_error(exc: WebSocketsConnectionClosed) -> ConnectionClosedError:
    """Browser semantics: the close frame received, else the one we sent, else 1006."""
    if exc.rcvd is None and exc.sent is not None and exc.sent.code in _CLOSES_FOR_BAD_INPUT:
        # The connection was failed on our side because of what the peer sent.
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


class _Wire(asyncio.Protocol):
    """One connection's I/O: bytes between asyncio and ``websockets``' ``ClientProtocol``."""

    transport: asyncio.Transport
    """Set by ``connection_made``: everything but ``WebSocketsTransport._open`` runs after."""

    def __init__(
        self, protocol: ClientProtocol, max_message_size: int, close_timeout: float
    ) -> None:
        self.protocol = protocol
        self.loop = asyncio.get_running_loop()
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self.too_large: tuple[int, int] | None = None  # (size, limit) when we refused one
        self.made = False
        # Text messages received and not read yet (a large one as its bytes); an int
        # stands for a binary frame (its length: the payload itself is never used).
        self.messages: collections.deque[str | bytes | int] = collections.deque()
        self.reader: asyncio.Future[None] | None = None
        self.handshake: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.last_data_at: float | None = None
        # Bytes received since the last complete frame: all of them belong to the
        # one frame still arriving, a data frame once they outnumber a control frame's.
        self.unparsed = 0
        self.fragments: list[bytes] = []
        self.fragmented: Opcode = _TEXT
        self.discarding = False
        self.queue_full = False
        self.writes_full = False
        self.reading_paused = False
        self.abort_timer: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        self.made = True
        # pause_writing is called above this many buffered bytes, resume_writing below.
        transport.set_write_buffer_limits(high=MAX_WRITE_BUFFER)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self.flush()
        if events:
            self.unparsed = 0
            for event in events:
                if isinstance(event, Frame):
                    if not self.frame_received(event):
                        break
                else:
                    self.check_handshake()
        elif self.handshake.done():
            self.unparsed += len(data)
            if self.unparsed > MAX_CONTROL_FRAME:
                self.last_data_at = self.loop.time()
        self.check_handshake()
        if protocol.close_expected():
            self.expect_close()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self.flush()
        self.check_handshake()
        # Returning None lets asyncio close the transport: nothing is written after EOF.

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; the protocol is CLOSED afterwards
        if self.abort_timer is not None:
            self.abort_timer.cancel()
        if not self.handshake.done():
            failure = self.protocol.handshake_exc or exc or ConnectionResetError()
            self.handshake.set_exception(failure)
        self.lost.set_result(None)
        self.wake_reader()

    def pause_writing(self) -> None:
        self.writes_full = True
        self.update_reading()

    def resume_writing(self) -> None:
        self.writes_full = False
        self.update_reading()

    # ---------------------------------------------------------------- frames

    def frame_received(self, frame: Frame) -> bool:
        """Take one frame from the protocol; ``False`` once the connection was failed."""
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            self.last_data_at = self.loop.time()
            if frame.fin:
                return self.message_received(opcode, frame.data)
            self.fragmented = opcode
            self.fragments = [bytes(frame.data)]
        elif opcode is _CONT:
            self.last_data_at = self.loop.time()
            fragments = self.fragments
            if self.discarding:
                fragments.clear()
            elif len(fragments) >= MAX_FRAGMENTS:
                self.fail(CLOSE_MESSAGE_TOO_BIG, f"more than {MAX_FRAGMENTS} fragments")
                return False
            fragments.append(bytes(frame.data))
            if frame.fin:
                self.fragments = []
                return self.message_received(self.fragmented, b"".join(fragments))
        # Control frames: the protocol has answered pings and close frames already.
        return True

    def message_received(self, opcode: Opcode, data: bytes | bytearray | memoryview) -> bool:
        if self.discarding:
            return True  # we are closing: nobody will read it
        if len(data) > self.max_message_size:
            self.too_large = (len(data), self.max_message_size)
            self.fail(CLOSE_MESSAGE_TOO_BIG, "message too big")
            return False
        if opcode is _BINARY:
            self.messages.append(len(data))
        elif len(data) >= BYTES_FROM:
            self.messages.append(bytes(data))  # the parser checks its UTF-8
        else:
            try:
                text = str(data, "utf-8")
            except UnicodeDecodeError as exc:
                self.fail(1007, f"{exc.reason} at position {exc.start}")
                return False
            self.messages.append(text)
        self.wake_reader()
        if len(self.messages) >= MAX_QUEUE and not self.queue_full:
            self.queue_full = True
            self.update_reading()
        return True

    def message_taken(self) -> None:
        if self.queue_full and len(self.messages) <= _RESUME_QUEUE:
            self.queue_full = False
            self.update_reading()

    # ---------------------------------------------------------------- output and state

    def flush(self) -> None:
        """Write what the protocol has to send (frames, then maybe the end of stream)."""
        transport = self.transport
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                try:
                    transport.write_eof()
                except (OSError, RuntimeError):
                    transport.abort()
            else:
                transport.close()

    def fail(self, code: int, reason: str) -> None:
        """End the connection because of the peer's input (RFC 6455 7.1.7)."""
        self.protocol.fail(code, reason)
        self.flush()
        self.expect_close()

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake, and drop what arrives from now on."""
        self.discarding = True
        self.fragments = []
        self.update_reading()
        if self.protocol.state is _OPEN:
            self.protocol.send_close(code, reason)
            self.flush()
        self.expect_close()

    def expect_close(self) -> None:
        """The peer should end TCP now; abort if it has not within the close timeout."""
        if self.abort_timer is None and not self.lost.done():
            self.abort_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def check_handshake(self) -> None:
        handshake = self.handshake
        if handshake.done():
            return
        failure = self.protocol.handshake_exc
        if failure is not None:
            handshake.set_exception(failure)
        elif self.protocol.state is not State.CONNECTING:
            handshake.set_result(None)

    def update_reading(self) -> None:
        """Read unless a queue or the write buffer is full (the queue never while closing)."""
        transport = self.transport
        if transport.is_closing():
            return
        paused = self.writes_full or (self.queue_full and not self.discarding)
        if paused != self.reading_paused:
            self.reading_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def wake_reader(self) -> None:
        reader = self.reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def closed_error(self) -> ConnectionClosedError:
        if self.too_large is not None:
            return MessageTooLargeError(*self.too_large)
        return _closed_error(self.protocol.close_exc)


class WebSocketsConnection:
    """One open WebSocket, as returned by ``WebSocketsTransport.connect``."""

    __slots__ = ("_closing", "_url", "_wire")

    def __init__(self, wire: _Wire, url: str) -> None:
        self._wire = wire
        self._url = redact_url(url)
        self._closing = False

    def __repr__(self) -> str:
        closing = " closing" if self._closing else ""
        return f"<WebSocketsConnection {self._url} {self._wire.protocol.state.name}{closing}>"

    @property
    def last_data_at(self) -> float | None:
        """Loop time the last bytes arrived, mid-frame included (see ``TransportConnection``)."""
        return self._wire.last_data_at

    def send(self, text: str) -> None:
        """Frame ``text`` and hand it to the socket now; never blocks, keeps order.

        Raises ``SendError`` after our ``close()``, or if the socket fails while
        the frame is written (a frame sent after the peer closed is dropped);
        ``ValueError`` if ``text`` cannot be encoded as UTF-8 (a lone
        surrogate), without sending anything.
        """
        if not isinstance(text, str):
            raise TypeError(f"send() takes str, not {type(text).__name__}")
        if self._closing:
            raise SendError("cannot send: the connection is closing or closed")
        wire = self._wire
        transport = wire.transport
        if wire.protocol.state is not _OPEN or transport.is_closing():
            # The peer closed, or the connection is lost: drop the frame as a
            # browser does, so that recv reports the close with its real reason.
            return
        try:
            data = text.encode()
        except UnicodeEncodeError as exc:
            # Not chained: exc.object is the text.
            raise ValueError(f"text holds a lone surrogate at index {exc.start}") from None
        wire.protocol.send_text(data)
        try:
            wire.flush()
        except (OSError, RuntimeError) as exc:
            transport.abort()
            raise SendError(f"write failed: {_describe_error(exc)}") from None
        if transport.is_closing():
            # asyncio reports a socket error during write() by closing the transport.
            raise SendError("write failed: the connection was lost")

    async def recv(self) -> str | bytes:
        """The next text frame, as ``str`` (as its UTF-8 ``bytes`` from ``BYTES_FROM``).

        Raises ``ConnectionClosedError`` once the connection has ended (frames received
        before the close are returned first) and ``UnexpectedBinaryFrameError`` for a
        binary frame, after which the connection is still usable.
        """
        wire = self._wire
        messages = wire.messages
        while not messages:
            if wire.lost.done():
                raise wire.closed_error()
            if wire.reader is not None:
                raise TransportError("recv() is already being awaited on this connection")
            wire.reader = reader = wire.loop.create_future()
            try:
                await reader
            finally:
                wire.reader = None
        message = messages.popleft()
        wire.message_taken()
        if isinstance(message, int):
            raise UnexpectedBinaryFrameError(message)
        return message

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; never blocks, idempotent.

        Raises ``ValueError`` for a code or reason a close frame cannot carry.
        """
        if self._closing:
            return
        check_close(code, reason)
        self._closing = True
        self._wire.close(code, reason)

    async def wait_closed(self) -> None:
        """Return once the socket is closed; after the close timeout, abort it.

        Without a prior ``close``, waits for the peer to end the connection.
        Afterwards no task of this connection remains.
        """
        wire = self._wire
        try:
            async with asyncio.timeout(wire.close_timeout):
                await asyncio.shield(wire.lost)
        except TimeoutError:
            wire.transport.abort()
            await asyncio.shield(wire.lost)


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
    - ``proxy``: ``http://`` or ``socks5h://`` (etc., with the ``python-socks``
      package) proxy URL. ``None`` connects directly: environment variables are
      never consulted.
    - ``headers``: extra handshake headers, e.g. ``{"Convex-Client": "syncwire-0.1.0"}``.
      Their values never appear in reprs, exceptions or logs.
    - ``user_agent``: the ``User-Agent`` header; ``None`` means syncwire's own.
    - ``close_timeout``: seconds to wait for the closing handshake before aborting.
    - ``compression``: negotiate permessage-deflate (on by default).
    """

    __slots__ = ("_logger", "_options")

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
        self._options = TransportOptions.checked(
            ssl=ssl,
            max_message_size=max_message_size,
            proxy=proxy,
            headers=headers,
            user_agent=user_agent,
            close_timeout=close_timeout,
            compression=compression,
            library=("websockets", websockets_version),
            logger_name=LOGGER_NAME,
        )
        self._logger = redacting_logger(logging.getLogger(LOGGER_NAME))

    def __repr__(self) -> str:
        return f"WebSocketsTransport({self._options!r})"

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
            uri = parse_uri(url)
        except InvalidURI:
            raise ValueError(f"invalid WebSocket URL: {redact_url(url)}") from None
        options = self._options
        ssl = options.tls_for("wss" if uri.secure else "ws")
        wire = _Wire(self._client_protocol(uri), options.max_message_size, options.close_timeout)
        try:
            await self._open(wire, uri, ssl)
        except (OSError, TimeoutError) as exc:
            raise ConnectError(_describe_error(exc), cause=connect_cause(exc, url)) from exc
        except Exception as exc:
            # Not chained: websockets' texts may quote response headers.
            raise ConnectError(_describe_error(exc), cause=connect_cause(exc, url)) from None
        return WebSocketsConnection(wire, url)

    def _client_protocol(self, uri: WebSocketURI) -> ClientProtocol:
        """The Sans-I/O protocol, its handshake request (with our headers) queued."""
        options = self._options
        protocol = ClientProtocol(
            uri,
            extensions=enable_client_permessage_deflate(None) if options.compression else None,
            # The exact limit is ours, on the whole message (``_Wire.message_received``):
            # websockets checks each frame's *compressed* length against what is left,
            # and deflate may make a message of exactly the limit a few bytes longer.
            max_size=_with_deflate_slack(options.max_message_size),
            logger=self._logger,
        )
        request = protocol.connect()
        for name, value in options.headers:
            request.headers[name] = value
        if "User-Agent" not in request.headers:
            request.headers["User-Agent"] = options.user_agent
        protocol.send_request(request)
        return protocol

    async def _open(
        self, wire: _Wire, uri: WebSocketURI, ssl: ssl_module.SSLContext | None
    ) -> None:
        """TCP (through the proxy, if any), TLS, then the WebSocket handshake."""
        loop = asyncio.get_running_loop()
        server_hostname = uri.host if ssl is not None else None
        try:
            if self._options.proxy is None:
                await loop.create_connection(
                    lambda: wire, uri.host, uri.port, ssl=ssl, server_hostname=server_hostname
                )
            else:
                sock = await open_tunnel(self._options.proxy, uri.host, uri.port)
                try:
                    await loop.create_connection(
                        lambda: wire, sock=sock, ssl=ssl, server_hostname=server_hostname
                    )
                except BaseException:
                    sock.close()
                    raise
            wire.flush()
            await wire.handshake
        except BaseException:
            wire.handshake.cancel()  # a failure that comes later has nobody to tell
            if wire.made:
                wire.transport.abort()
            raise
