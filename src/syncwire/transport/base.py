"""The transport interface: one WebSocket, no policy.

A transport opens one socket to a URL, sends and receives text frames, and
closes. It never reconnects by itself and never decides anything about
backoff: reconnection policy lives only in the manager. Keeping the interface
this small lets the default implementation, a faster optional one and the
in-memory fake in ``syncwire.testing`` stand in for each other.

Errors raised across this boundary are only the ``TransportError`` family;
implementations map their library's exceptions here, so nothing else leaks to
the manager (and nothing carrying a secret does).
"""

from __future__ import annotations

import urllib.parse
from typing import Protocol

from syncwire.errors import SyncwireError

__all__ = [
    "CLOSE_ABNORMAL",
    "CLOSE_NO_STATUS",
    "ConnectFailed",
    "ConnectionClosed",
    "InvalidFrame",
    "MessageTooLarge",
    "SendFailed",
    "Transport",
    "TransportConnection",
    "TransportError",
    "UnexpectedBinaryFrame",
    "redact_url",
]

CLOSE_NO_STATUS = 1005
"""Close code reported when the peer's close frame carried no status."""
CLOSE_ABNORMAL = 1006
"""Close code reported when the connection ended without a close frame."""


class TransportError(SyncwireError):
    """The socket could not be opened, or failed while in use."""


class ConnectFailed(TransportError):
    """The socket or its opening handshake failed: ``connect`` raises it.

    ``cause`` says why in words for users, built by syncwire from exception
    types and attributes (never from a library's message text), and holds no
    secret: "connection refused by 127.0.0.1:1: is the server running?",
    "the server answered HTTP 404: is this a Convex deployment URL?"…
    ``status_code`` is the HTTP status when the server answered the upgrade
    request with one.
    """

    def __init__(self, message: str, *, cause: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.status_code = status_code


class ConnectionClosed(TransportError):
    """The connection ended: ``code`` and ``reason`` as the peer sent them.

    ``code`` is 1005 when the close frame had no status and 1006 when the
    connection dropped without a close frame (as browsers report them).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class InvalidFrame(ConnectionClosed):
    """The peer broke the WebSocket protocol; the transport closed the connection.

    ``code`` is the close code the transport sent: 1007 for a text frame that is
    not UTF-8, 1002 for a malformed frame. Bad input from the server, not a
    close by the server.
    """


class MessageTooLarge(InvalidFrame):
    """A message exceeded the transport's size limit; it closed the connection (1009).

    ``size`` is the message's size in bytes when the transport knows it (a
    library may stop reading before the end), ``limit`` the limit it broke.
    """

    def __init__(self, size: int | None = None, limit: int | None = None) -> None:
        super().__init__(1009, "message too big")
        self.size = size
        self.limit = limit

    @property
    def description(self) -> str:
        """What was too large, for a log line: sizes only, never content."""
        if self.size is not None:
            return f"a message of {self.size} bytes" + (
                f" over the limit of {self.limit}" if self.limit is not None else ""
            )
        if self.limit is not None:
            return f"a message over the limit of {self.limit} bytes"
        return "a message over the size limit"


class SendFailed(TransportError):
    """A frame handed to ``send`` could not be written; the connection is unusable."""


class UnexpectedBinaryFrame(TransportError):
    """The peer sent a binary frame; the sync protocol has only text frames."""

    def __init__(self, size: int) -> None:
        super().__init__(f"unexpected binary frame of {size} bytes")
        self.size = size


class TransportConnection(Protocol):
    """One open WebSocket.

    A connection may also have ``last_data_at``: the loop time its last bytes
    arrived, even mid-frame (``None`` before any). The manager then counts a
    large frame that is still arriving as activity, not as a silent server.
    """

    def send(self, text: str) -> None:
        """Queue one text frame for sending, in order; never blocks.

        Raises ``SendFailed`` at once after our own ``close()``. Once the peer
        closed or the connection was lost, the frame is dropped without an
        error, as a browser's ``WebSocket.send`` does: ``recv`` reports the
        close with the peer's code and reason, which decide the backoff. A
        write that fails later makes ``recv`` raise ``SendFailed``. (Where the
        operating system reports a failed buffered write as a lost connection, as
        for the default transport, ``recv`` raises ``ConnectionClosed(1006)``
        instead: treat the two alike.)
        """
        ...

    async def recv(self) -> str | bytes:
        """The next text frame, as ``str`` or as its UTF-8 ``bytes``.

        Raises ``ConnectionClosed`` when the connection ends (``InvalidFrame``
        when the transport ended it because of the peer's bad input, such as
        ``MessageTooLarge`` for a message over the size limit),
        ``UnexpectedBinaryFrame`` for a binary frame (the connection stays
        open), and ``SendFailed`` after a queued frame failed to be written.
        """
        ...

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start closing; never blocks, idempotent. ``wait_closed`` waits for the end."""
        ...

    async def wait_closed(self) -> None:
        """Return once the socket is fully closed (bounded by the close timeout)."""
        ...


class Transport(Protocol):
    """Opens WebSockets. One instance may open many, one after another or at once."""

    async def connect(self, url: str) -> TransportConnection:
        """Open one WebSocket to ``url`` (``ws://`` or ``wss://``).

        Raises ``TransportError`` when the socket cannot be opened. Cancelling
        the call abandons the attempt and leaves nothing open.
        """
        ...


def redact_url(url: str) -> str:
    """``url`` without credentials, query or fragment: fit for reprs and messages."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
