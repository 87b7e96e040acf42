"""The fast transport, built on ``picows``' core API (``pip install 'syncwire[fast]'``).

``picows`` parses frames in C and hands each complete frame to a listener
callback, and its ``WSTransport.send`` frames and writes synchronously: the two
things the receive and send paths of the default transport
(``syncwire.transport.websockets``) spend most of their time around. Only the
documented core API is used: ``ws_connect``, a ``WSListener`` subclass (the
documented way to receive), ``WSTransport`` and ``WSFrame``; the asyncio
transport underneath (``WSTransport.underlying_transport``) only through
asyncio's public transport methods.

What this module adds on top of ``picows``, and why (the same contract as the
default transport, see ``syncwire.transport.base``):

- **Messages, not frames.** Fragments are reassembled here; a message over
  ``max_message_size`` (inclusive) ends the connection with 1009, a text
  message that is not UTF-8 with 1007, a broken sequence of fragments or a
  reserved bit with 1002 (``InvalidFrameError``). ``picows`` checks the rest of
  the framing (opcodes, masks, control-frame sizes, close codes) and closes with
  1002 or 1009 itself; that too is reported as ``InvalidFrameError``.
- **permessage-deflate.** ``picows``' core API has none. It is negotiated and
  run here with ``websockets``' own implementation (already a dependency):
  the same offer as the default transport, and the size limit applied to the
  decompressed message.
- **Browser-like close codes**, a synchronous ordered ``send`` that drops frames
  once the peer closed, a bounded ``wait_closed``, no keepalive pings (the
  server's are answered here), and reading paused while more than
  ``MAX_WRITE_BUFFER`` bytes wait to be written (a server flooding pings that
  never reads the pongs cannot grow our memory) or while ``MAX_QUEUE`` messages
  wait to be read; a message may come in at most ``MAX_FRAGMENTS`` frames.
- **Cancelling ``connect`` leaves nothing open.** ``ws_connect`` keeps the
  socket open when cancelled during the WebSocket handshake, so the socket is
  made here (``socket_factory``) and shut down on cancellation.
- **No secrets in logs, exceptions or reprs.** ``picows`` logs the whole
  upgrade request (header values, the URL's query) and ping payloads at its
  low debug level. It logs here through an adapter that keeps only numbers and
  socket addresses among a record's arguments. Redirects are not followed
  (``picows`` would resend every header to the new host).

Bytes of a frame still arriving: ``picows`` reports complete frames only, so a
thin protocol stands between asyncio's transport and ``picows``' (``_ByteWatch``,
through asyncio's public ``set_protocol``) and counts the bytes read that
completed no frame. What it cannot do: proxies other than ``http://``,
``https://``, ``socks4://`` and ``socks5://``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.metadata
import logging
import socket
import ssl as ssl_module
import urllib.parse
from collections.abc import Mapping
from typing import Any
from typing import Final

from picows import WSCloseCode
from picows import WSError
from picows import WSFrame
from picows import WSHandshakeError
from picows import WSInvalidStatusError
from picows import WSListener
from picows import WSMsgType
from picows import WSParsedURL
from picows import WSTransport
from picows import WSUpgradeRequest
from picows import WSUpgradeResponse
from picows import ws_connect
from websockets.exceptions import NegotiationError
from websockets.exceptions import PayloadTooBig
from websockets.exceptions import ProtocolError
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame
from websockets.frames import Opcode

from syncwire.errors import ConnectError
from syncwire.errors import ConnectionClosedError
from syncwire.errors import InvalidFrameError
from syncwire.errors import MessageTooLargeError
from syncwire.errors import SendError
from syncwire.errors import TransportError
from syncwire.errors import UnexpectedBinaryFrameError
from syncwire.redaction import numbers_only_logger
from syncwire.redaction import redact_url
from syncwire.transport.common import BYTES_FROM
from syncwire.transport.common import DEFAULT_CLOSE_TIMEOUT
from syncwire.transport.common import MAX_CONTROL_FRAME
from syncwire.transport.common import MAX_FRAGMENTS
from syncwire.transport.common import MAX_QUEUE
from syncwire.transport.common import MAX_READ
from syncwire.transport.common import MAX_WRITE_BUFFER
from syncwire.transport.common import TransportOptions
from syncwire.transport.common import describe_os_error
from syncwire.transport.common import open_socket
from syncwire.transport.common import os_connect_cause
from syncwire.urls import host_port
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import CLOSE_MESSAGE_TOO_BIG
from syncwire.websocket_rules import CLOSE_NO_STATUS
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE
from syncwire.websocket_rules import check_close

__all__ = ["LOGGER_NAME", "PicowsConnection", "PicowsTransport"]

LOGGER_NAME: Final = "syncwire.transport.picows"
"""The logger ``picows`` writes to (through the redacting adapter)."""
_RESUME_QUEUE: Final = MAX_QUEUE // 4

_PROXY_SCHEMES: Final = frozenset({"http", "https", "socks4", "socks5"})
_CLOSE_PROTOCOL_ERROR: Final = 1002
_CLOSE_INVALID_DATA: Final = 1007
# picows closes with these when the peer's framing is bad (see the module docstring).
_CLOSES_FOR_BAD_INPUT: Final = frozenset({_CLOSE_PROTOCOL_ERROR, 1007, CLOSE_MESSAGE_TOO_BIG})
# The same offer as websockets' client makes by default (the default transport's:
# ``enable_client_permessage_deflate``): any window the server picks, memLevel 5 for
# our compressor. An offer naming server_max_window_bits would oblige the server to
# answer with it (RFC 7692 §7.1.2.1), so a server accepting plain permessage-deflate,
# as the default transport allows, would fail the handshake.
_DEFLATE_SETTINGS: Final = {"memLevel": 5}
_DEFLATE_OFFER: Final = "permessage-deflate; " + "; ".join(
    name if value is None else f"{name}={value}"
    for name, value in ClientPerMessageDeflateFactory(
        compress_settings=_DEFLATE_SETTINGS
    ).get_request_params()
)
_TEXT: Final = WSMsgType.TEXT
_BINARY: Final = WSMsgType.BINARY
_CONTINUATION: Final = WSMsgType.CONTINUATION
_CLOSE: Final = WSMsgType.CLOSE
_PING: Final = WSMsgType.PING

# --------------------------------------------------------------------------- errors


def _describe_error(exc: BaseException) -> str:
    """A message for ``exc`` that holds no header value, URL secret or payload."""
    if isinstance(exc, WSInvalidStatusError | WSHandshakeError) and exc.response is not None:
        status = int(exc.response.status)
        if status != 101:
            return f"server rejected the WebSocket handshake: HTTP {status}"
    if isinstance(exc, _NegotiationFailed):
        return "WebSocket handshake failed: unacceptable Sec-WebSocket-Extensions"
    if isinstance(exc, WSError):
        return f"WebSocket handshake failed ({type(exc).__name__})"
    return describe_os_error(exc) or f"could not open the WebSocket ({type(exc).__name__})"


def connect_cause(exc: BaseException, url: str) -> str:
    """Why ``connect`` failed, in words for users (``ConnectError.cause``).

    Told from exception types, errno values and status codes only, in the
    default transport's words (``syncwire.transport.websockets.connect_cause``).
    """
    where = host_port(url)
    if isinstance(exc, WSHandshakeError) and exc.response is not None:
        status = int(exc.response.status)
        if status >= 500:
            return f"the server answered HTTP {status} (a server error) instead of a WebSocket"
        if status != 101:
            return f"the server answered HTTP {status}: is this a Convex deployment URL?"
    if isinstance(exc, _HandshakeEOF):
        return f"{where} closed the connection without answering the WebSocket handshake"
    if isinstance(exc, WSError | _NegotiationFailed):
        return (
            f"{where} did not answer with a WebSocket handshake: is this a Convex deployment URL?"
        )
    cause = os_connect_cause(exc, where)
    if cause is not None:
        return cause
    if type(exc).__module__.startswith("python_socks"):
        return f"the proxy refused or failed the connection to {where}"
    return f"cannot open a WebSocket to {where} ({type(exc).__name__})"


class _NegotiationFailed(Exception):
    """The server's Sec-WebSocket-Extensions answer was not one we can accept."""


class _HandshakeEOF(Exception):
    """The server closed the connection before completing the handshake."""


def _parse_extensions(header: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """``Sec-WebSocket-Extensions`` (RFC 6455 §9.1) as (name, [(param, value)])."""
    extensions = []
    for item in header.split(","):
        parts = [part.strip() for part in item.split(";")]
        if not parts[0]:
            raise _NegotiationFailed
        params: list[tuple[str, str | None]] = []
        for part in parts[1:]:
            name, eq, value = part.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            params.append((name.strip(), value if eq else None))
        extensions.append((parts[0], params))
    return extensions


def _negotiate_deflate(response: WSUpgradeResponse, offered: bool) -> Extension | None:
    """The permessage-deflate extension the server accepted, if any (``None`` if none)."""
    values = response.headers.getall("Sec-WebSocket-Extensions", [])
    if not values:
        return None
    if not offered:
        raise _NegotiationFailed
    extensions = _parse_extensions(", ".join(values))
    if len(extensions) != 1 or extensions[0][0] != "permessage-deflate":
        raise _NegotiationFailed
    factory = ClientPerMessageDeflateFactory(compress_settings=_DEFLATE_SETTINGS)
    try:
        return factory.process_response_params(extensions[0][1], [])
    except NegotiationError:
        raise _NegotiationFailed from None


# --------------------------------------------------------------------------- connection


class _Listener(WSListener):
    """Receives ``picows``' frames for one ``PicowsConnection`` (all state lives there)."""

    __slots__ = ("conn",)

    def __init__(self, conn: PicowsConnection) -> None:
        super().__init__()
        self.conn = conn

    def on_ws_connected(self, transport: WSTransport) -> None:
        # Before any frame: one may follow the handshake response in the same read.
        self.conn._transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.conn._on_frame(frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.conn._on_disconnected()

    def pause_writing(self) -> None:
        self.conn._writes_paused = True

    def resume_writing(self) -> None:
        self.conn._on_resume_writing()


class _ByteWatch(asyncio.BufferedProtocol):
    """Stands between asyncio's transport and ``picows``' protocol, counting bytes.

    ``picows`` reports complete frames only; bytes read that completed no frame
    belong to the one frame still arriving, and once they outnumber the largest
    control frame's, to a data frame (see ``PicowsConnection.last_data_at``).
    It also bounds each read to ``MAX_READ`` bytes: ``picows`` doubles its buffer
    whenever a read fills it, so a flood would be read (and its pings answered)
    in ever larger gulps. Interposed through asyncio's public ``set_protocol``;
    everything else is passed on.
    """

    __slots__ = ("conn", "inner")

    def __init__(self, inner: asyncio.BufferedProtocol, conn: PicowsConnection) -> None:
        self.inner = inner
        self.conn = conn

    def get_buffer(self, sizehint: int) -> Any:
        return memoryview(self.inner.get_buffer(sizehint))[:MAX_READ]

    def buffer_updated(self, nbytes: int) -> None:
        conn = self.conn
        frames = conn._frames
        self.inner.buffer_updated(nbytes)
        if conn._frames != frames:
            conn._unparsed = 0
            return
        conn._unparsed += nbytes
        if conn._unparsed > MAX_CONTROL_FRAME:
            conn.last_data_at = conn._loop.time()

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class PicowsConnection:
    """One open WebSocket, as returned by ``PicowsTransport.connect``."""

    __slots__ = (
        "_abort_handle",
        "_close_sent",
        "_close_timeout",
        "_closing",
        "_deflate",
        "_discarding",
        "_disconnected",
        "_end",
        "_fragments",
        "_fragments_size",
        "_fragments_type",
        "_frames",
        "_loop",
        "_max_size",
        "_paused_for_queue",
        "_paused_for_writes",
        "_peer_close",
        "_queue",
        "_reaper",
        "_transport",
        "_unparsed",
        "_url",
        "_waiter",
        "_writes_paused",
        "last_data_at",
    )

    def __init__(
        self, url: str, max_message_size: int, close_timeout: float, deflate: Extension | None
    ) -> None:
        self._url = redact_url(url)
        self._max_size = max_message_size
        self._close_timeout = close_timeout
        self._deflate = deflate
        self._loop = asyncio.get_running_loop()
        self._transport: WSTransport | None = None
        self._queue: collections.deque[str | bytes | TransportError] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._fragments: list[bytes] = []
        self._fragments_size = 0
        self._fragments_type: WSMsgType | None = None
        self._closing = False  # our close() was called
        self._discarding = False  # we closed or failed: data frames are dropped
        self._close_sent: tuple[int, str] | None = None
        self._peer_close: tuple[int, str] | None = None
        self._end: ConnectionClosedError | None = None  # what recv raises once the queue is empty
        self._disconnected = self._loop.create_future()
        self._abort_handle: asyncio.TimerHandle | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._writes_paused = False
        self._paused_for_writes = False
        self._paused_for_queue = False
        self._frames = 0  # frames received, of any kind
        self._unparsed = 0  # bytes read since the last complete frame
        self.last_data_at: float | None = None
        """Loop time bytes of a data frame last arrived, mid-frame included
        (see ``TransportConnection``)."""

    def __repr__(self) -> str:
        if self._disconnected.done():
            state = "CLOSED"
        elif self._closing or self._peer_close is not None or self._end is not None:
            state = "CLOSING"
        else:
            state = "OPEN"
        return f"<PicowsConnection {self._url} {state}>"

    # -- receiving (called by picows through the listener) ---------------------------------

    def _watch_bytes(self) -> None:
        """Count the bytes read under ``picows``, for a frame still arriving."""
        if self._transport is None:
            return
        underlying = self._transport.underlying_transport
        inner = underlying.get_protocol()
        if isinstance(inner, asyncio.BufferedProtocol):
            underlying.set_protocol(_ByteWatch(inner, self))

    def _on_frame(self, frame: WSFrame) -> None:
        self._frames += 1
        msg_type = frame.msg_type
        if msg_type is _TEXT and frame.fin and not frame.rsv1:
            # The common case: one uncompressed text frame.
            self.last_data_at = self._loop.time()
            if self._fragments_type is not None:
                self._fail(_CLOSE_PROTOCOL_ERROR, "expected a continuation frame")
            elif frame.rsv2 or frame.rsv3:
                self._fail(_CLOSE_PROTOCOL_ERROR, "reserved bits set")
            elif frame.payload_size > self._max_size:
                self._fail_too_big(frame.payload_size)
            elif self._discarding:
                pass
            elif frame.payload_size >= BYTES_FROM:
                self._deliver(frame.get_payload_as_bytes())  # the parser checks its UTF-8
            else:
                try:
                    self._deliver(frame.get_payload_as_utf8_text())
                except UnicodeDecodeError:
                    self._fail(_CLOSE_INVALID_DATA, "invalid UTF-8")
            return
        if frame.rsv2 or frame.rsv3 or (frame.rsv1 and self._deflate is None):
            self._fail(_CLOSE_PROTOCOL_ERROR, "reserved bits set")
        elif msg_type is _TEXT or msg_type is _BINARY or msg_type is _CONTINUATION:
            self.last_data_at = self._loop.time()
            self._on_data_frame(frame)
        elif msg_type is _PING:
            self._on_ping(frame)
        elif msg_type is _CLOSE:
            self._on_close_frame(frame)
        # PONG: we never ping, so there is nothing to match it with.

    def _on_data_frame(self, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is _CONTINUATION:
            if self._fragments_type is None:
                self._fail(_CLOSE_PROTOCOL_ERROR, "unexpected continuation frame")
                return
            if frame.rsv1:
                self._fail(_CLOSE_PROTOCOL_ERROR, "reserved bit set on a continuation frame")
                return
        elif self._fragments_type is not None:
            self._fail(_CLOSE_PROTOCOL_ERROR, "expected a continuation frame")
            return
        data = frame.get_payload_as_bytes()
        deflate = self._deflate
        if deflate is not None:
            opcode = Opcode(msg_type.value)
            budget = self._max_size - self._fragments_size
            try:
                decoded = deflate.decode(
                    Frame(opcode, data, fin=frame.fin, rsv1=frame.rsv1), max_size=budget
                ).data
                data = decoded if isinstance(decoded, bytes) else bytes(decoded)
            except PayloadTooBig:
                self._fail_too_big(None)
                return
            except ProtocolError:
                self._fail(_CLOSE_PROTOCOL_ERROR, "decompression failed")
                return
        size = self._fragments_size + len(data)
        if size > self._max_size:
            self._fail_too_big(size)
            return
        if msg_type is not _CONTINUATION:
            self._fragments_type = msg_type
        if not frame.fin:
            if len(self._fragments) >= MAX_FRAGMENTS - 1:
                self._fail(
                    CLOSE_MESSAGE_TOO_BIG,
                    f"more than {MAX_FRAGMENTS} fragments",
                    MessageTooLargeError(None, self._max_size),
                )
                return
            self._fragments.append(data)
            self._fragments_size = size
            return
        kind = self._fragments_type
        if self._fragments:
            self._fragments.append(data)
            data = b"".join(self._fragments)
            self._fragments.clear()
        self._fragments_size = 0
        self._fragments_type = None
        if self._discarding:
            return  # nobody will read it
        if kind is _BINARY:
            self._deliver(UnexpectedBinaryFrameError(len(data)))
            return
        if len(data) >= BYTES_FROM:
            self._deliver(data)  # the parser checks its UTF-8
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self._fail(_CLOSE_INVALID_DATA, "invalid UTF-8")
            return
        self._deliver(text)

    def _deliver(self, item: str | bytes | TransportError) -> None:
        queue = self._queue
        queue.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(queue) >= MAX_QUEUE and not self._paused_for_queue:
            self._paused_for_queue = True
            self._pause_reading()

    def _on_ping(self, frame: WSFrame) -> None:
        transport = self._transport
        if transport is None or self._close_sent is not None or self._peer_close is not None:
            return
        transport.send_pong(frame.get_payload_as_bytes())
        self._check_write_buffer()

    def _on_close_frame(self, frame: WSFrame) -> None:
        if frame.payload_size == 0:
            close = (CLOSE_NO_STATUS, "")
        else:
            close = (frame.get_close_code().value, frame.get_close_reason() or "")
        if self._peer_close is None:
            self._peer_close = close
        transport = self._transport
        if transport is not None and self._close_sent is None:
            # Echo the close (RFC 6455 §5.5.1); an empty one stays empty.
            if close[0] == CLOSE_NO_STATUS:
                transport.send(_CLOSE, b"")
                self._close_sent = close
            else:
                self._send_close(*close)
        if self._end is None:
            self._end = ConnectionClosedError(*close)
        self._wake()
        # The closing handshake is complete: end the TCP connection (writes flush first).
        if transport is not None:
            transport.disconnect()
        self._arm_abort()

    def _on_disconnected(self) -> None:
        if self._abort_handle is not None:
            self._abort_handle.cancel()
            self._abort_handle = None
        if self._end is None:
            self._end = self._closed_error()
        self._fragments.clear()
        if not self._disconnected.done():
            self._disconnected.set_result(None)
        if self._transport is not None and self._reaper is None:
            # picows hands a failure it detected (bad framing) to wait_disconnected
            # right after this callback; retrieve it, or asyncio reports it as lost.
            self._reaper = self._loop.create_task(_reap(self._transport))
        self._wake()

    def _closed_error(self) -> ConnectionClosedError:
        """Browser semantics: the close frame received, else the one sent, else 1006."""
        if self._peer_close is not None:
            return ConnectionClosedError(*self._peer_close)
        transport = self._transport
        handshake = transport.close_handshake if transport is not None else None
        sent = handshake.sent if handshake is not None else None
        if sent is not None and not self._closing and self._close_sent is None:
            # picows closed the connection itself because of what the peer sent.
            code = int(sent.code.value)
            if code == CLOSE_MESSAGE_TOO_BIG:
                return MessageTooLargeError(None, self._max_size)
            if code in _CLOSES_FOR_BAD_INPUT:
                return InvalidFrameError(code, sent.reason or "")
        if self._close_sent is not None:
            return ConnectionClosedError(*self._close_sent)
        return ConnectionClosedError(CLOSE_ABNORMAL)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- failing, pausing -------------------------------------------------------------------

    def _fail_too_big(self, size: int | None) -> None:
        self._fail(
            CLOSE_MESSAGE_TOO_BIG, "message too big", MessageTooLargeError(size, self._max_size)
        )

    def _fail(self, code: int, reason: str, error: InvalidFrameError | None = None) -> None:
        """The peer's input is bad: close with ``code``, drop what follows, end the socket."""
        if self._end is None:
            self._end = error if error is not None else InvalidFrameError(code, reason)
        self._fragments.clear()
        self._fragments_type = None
        self._fragments_size = 0
        self._start_discarding()
        transport = self._transport
        if transport is not None:
            if self._close_sent is None and self._peer_close is None:
                self._send_close(code, reason)
            transport.disconnect()
        self._arm_abort()
        self._wake()

    def _send_close(self, code: int, reason: str) -> None:
        self._close_sent = (code, reason)
        if self._transport is not None:
            self._transport.send_close(WSCloseCode(code), reason.encode())

    def _start_discarding(self) -> None:
        """Read on, dropping data, until the close frame arrives."""
        self._discarding = True
        if self._paused_for_queue:
            self._paused_for_queue = False
            if not self._paused_for_writes:
                self._resume_reading()

    def _pause_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            underlying = transport.underlying_transport
            if not underlying.is_closing():
                underlying.pause_reading()

    def _resume_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            underlying = transport.underlying_transport
            if not underlying.is_closing():
                underlying.resume_reading()

    def _check_write_buffer(self) -> None:
        if not self._writes_paused or self._paused_for_writes or self._transport is None:
            return
        if self._transport.underlying_transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self._paused_for_writes = True
            self._pause_reading()

    def _on_resume_writing(self) -> None:
        self._writes_paused = False
        if self._paused_for_writes:
            self._paused_for_writes = False
            if not self._paused_for_queue:
                self._resume_reading()

    def _arm_abort(self) -> None:
        """Bound the end: abort the socket if it is not closed within the close timeout."""
        if self._abort_handle is None and not self._disconnected.done():
            self._abort_handle = self._loop.call_later(self._close_timeout, self._abort)

    def _abort(self) -> None:
        self._abort_handle = None
        if self._transport is not None:
            self._transport.disconnect(graceful=False)

    # -- the interface -------------------------------------------------------------------

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
        transport = self._transport
        if (
            transport is None
            or self._peer_close is not None
            or self._end is not None
            or transport.is_disconnected
        ):
            # The peer closed, or the connection is lost: drop the frame as a
            # browser does, so that recv reports the close with its real reason.
            return
        try:
            if self._deflate is None:
                transport.send(_TEXT, text)
            else:
                frame = self._deflate.encode(Frame(Opcode.TEXT, text.encode()))
                transport.send(_TEXT, frame.data, True, frame.rsv1)
        except UnicodeEncodeError as exc:
            # Encoded before anything is written. Not chained: exc.object is the text.
            raise ValueError(f"text holds a lone surrogate at index {exc.start}") from None
        except OSError as exc:
            transport.disconnect(graceful=False)
            raise SendError(f"write failed: {describe_os_error(exc)}") from None
        if transport.underlying_transport.is_closing():
            # asyncio reports a socket error during write() by closing the transport.
            raise SendError("write failed: the connection was lost")
        if self._writes_paused:
            self._check_write_buffer()

    async def recv(self) -> str | bytes:
        """The next text frame, as ``str`` (as its UTF-8 ``bytes`` from ``BYTES_FROM``).

        Raises ``ConnectionClosedError`` once the connection has ended (frames received
        before the close are returned first) and ``UnexpectedBinaryFrameError`` for a
        binary frame, after which the connection is still usable.
        """
        queue = self._queue
        while not queue:
            if self._end is not None:
                raise self._end
            if self._waiter is not None:
                raise TransportError("recv() is already being awaited on this connection")
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        item = queue.popleft()
        if self._paused_for_queue and len(queue) <= _RESUME_QUEUE:
            self._paused_for_queue = False
            if not self._paused_for_writes:
                self._resume_reading()
        if isinstance(item, TransportError):
            raise item
        return item

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; never blocks, idempotent.

        Raises ``ValueError`` for a code or reason a close frame cannot carry.
        """
        if self._closing:
            return
        check_close(code, reason)
        self._closing = True
        self._start_discarding()
        transport = self._transport
        if transport is None or self._disconnected.done():
            return
        if self._close_sent is None and self._peer_close is None and self._end is None:
            self._send_close(code, reason)
        self._arm_abort()

    async def wait_closed(self) -> None:
        """Return once the socket is closed; after the close timeout, abort it.

        Without a prior ``close``, waits for the peer to end the connection.
        Afterwards no task of this connection remains.
        """
        if not self._disconnected.done():
            try:
                async with asyncio.timeout(self._close_timeout):
                    await asyncio.shield(self._disconnected)
            except TimeoutError:
                self._abort()
                await asyncio.shield(self._disconnected)
        if self._reaper is not None:
            await asyncio.shield(self._reaper)


# --------------------------------------------------------------------------- transport


class PicowsTransport:
    """Opens WebSockets with the ``picows`` library: the fast transport (``syncwire[fast]``).

    Takes the same keyword arguments as ``WebSocketsTransport``, with the same
    meaning; see there. Two differences: ``proxy`` takes ``http://``,
    ``https://``, ``socks4://`` and ``socks5://`` URLs (a ``socks5h://`` proxy, which
    resolves names itself, needs ``WebSocketsTransport``), and redirects are not
    followed.
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
            library=("picows", importlib.metadata.version("picows")),
            logger_name=LOGGER_NAME,
            proxy_schemes=_PROXY_SCHEMES,
        )
        self._logger = numbers_only_logger(logging.getLogger(LOGGER_NAME))

    def __repr__(self) -> str:
        return f"PicowsTransport({self._options!r})"

    async def connect(self, url: str) -> PicowsConnection:
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
            parts = urllib.parse.urlsplit(url)
            if not parts.hostname:
                raise ValueError
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError(f"invalid WebSocket URL: {redact_url(url)}") from None
        options = self._options
        ssl_context = options.tls_for(scheme)
        headers = [("User-Agent", options.user_agent), *options.headers]
        if options.compression:
            headers.append(("Sec-WebSocket-Extensions", _DEFLATE_OFFER))
        sockets: list[socket.socket] = []
        conn: PicowsConnection | None = None
        negotiation: list[BaseException] = []

        async def make_socket(target: WSParsedURL) -> socket.socket:
            sock = await open_socket(target.host, target.port)
            sockets.append(sock)
            return sock

        def make_listener(request: WSUpgradeRequest, response: WSUpgradeResponse) -> _Listener:
            nonlocal conn
            deflate = None
            try:
                deflate = _negotiate_deflate(response, options.compression)
            except _NegotiationFailed as exc:
                negotiation.append(exc)
            conn = PicowsConnection(url, options.max_message_size, options.close_timeout, deflate)
            return _Listener(conn)

        try:
            transport, _ = await ws_connect(
                make_listener,
                url,
                ssl_context=ssl_context,
                websocket_handshake_timeout=None,  # the manager cancels connect instead
                logger_name=self._logger,
                enable_auto_ping=False,
                enable_auto_pong=False,  # answered in PicowsConnection, to watch the buffer
                max_frame_size=options.max_message_size + 1024,  # compressed frames may grow
                extra_headers=headers,
                max_redirects=0,
                proxy=options.proxy,
                socket_factory=make_socket,
                use_aiofastnet=False,  # asyncio's own transports (see the module docstring)
            )
        except asyncio.CancelledError:
            for sock in sockets:
                _shut(sock)
            raise
        except (OSError, TimeoutError) as exc:
            raise ConnectError(_describe_error(exc), cause=connect_cause(exc, url)) from exc
        except Exception as exc:
            for sock in sockets:
                _shut(sock)
            if isinstance(exc, WSHandshakeError) and exc.response is None:
                exc = _HandshakeEOF()
            # Not chained: picows' texts may quote the response and its headers.
            raise ConnectError(_describe_error(exc), cause=connect_cause(exc, url)) from None
        if conn is None:  # the handshake completed without a listener: cannot happen
            transport.disconnect(graceful=False)
            raise ConnectError(
                "WebSocket handshake failed", cause=connect_cause(_HandshakeEOF(), url)
            )
        if negotiation:
            transport.disconnect(graceful=False)
            failed = negotiation[0]
            raise ConnectError(_describe_error(failed), cause=connect_cause(failed, url)) from None
        conn._transport = transport
        if transport.is_disconnected:
            conn._on_disconnected()
        else:
            conn._watch_bytes()
        return conn


async def _reap(transport: WSTransport) -> None:
    with contextlib.suppress(Exception):
        await transport.wait_disconnected()


def _shut(sock: socket.socket) -> None:
    """End a socket that a transport may own: it reads EOF and closes itself."""
    if sock.fileno() == -1:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        sock.close()  # not connected: no transport owns it yet
