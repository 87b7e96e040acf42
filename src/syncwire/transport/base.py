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

from typing import Protocol

from syncwire.errors import SyncwireError

__all__ = [
    "CLOSE_ABNORMAL",
    "CLOSE_NO_STATUS",
    "ConnectionClosed",
    "MessageTooLarge",
    "SendFailed",
    "Transport",
    "TransportConnection",
    "TransportError",
    "UnexpectedBinaryFrame",
]

CLOSE_NO_STATUS = 1005
"""Close code reported when the peer's close frame carried no status."""
CLOSE_ABNORMAL = 1006
"""Close code reported when the connection ended without a close frame."""


class TransportError(SyncwireError):
    """The socket could not be opened, or failed while in use."""


class ConnectionClosed(TransportError):
    """The connection ended: ``code`` and ``reason`` as the peer sent them.

    ``code`` is 1005 when the close frame had no status and 1006 when the
    connection dropped without a close frame (as browsers report them).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class MessageTooLarge(ConnectionClosed):
    """A frame exceeded the transport's size limit; it closed the connection (1009)."""

    def __init__(self, size: int | None = None) -> None:
        super().__init__(1009, "message too big")
        self.size = -1 if size is None else size


class SendFailed(TransportError):
    """A frame handed to ``send`` could not be written; the connection is unusable."""


class UnexpectedBinaryFrame(TransportError):
    """The peer sent a binary frame; the sync protocol has only text frames."""

    def __init__(self, size: int) -> None:
        super().__init__(f"unexpected binary frame of {size} bytes")
        self.size = size


class TransportConnection(Protocol):
    """One open WebSocket."""

    def send(self, text: str) -> None:
        """Queue one text frame for sending, in order; never blocks.

        Raises ``SendFailed`` at once if the connection is closing or closed;
        a write that fails later makes ``recv`` raise ``SendFailed``. (Where the
        operating system reports a failed buffered write as a lost connection, as
        for the default transport, ``recv`` raises ``ConnectionClosed(1006)``
        instead: treat the two alike.)
        """
        ...

    async def recv(self) -> str | bytes:
        """The next text frame, as ``str`` or as its UTF-8 ``bytes``.

        Raises ``ConnectionClosed`` when the connection ends (``MessageTooLarge``
        when it ended because an incoming message exceeded the size limit),
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
