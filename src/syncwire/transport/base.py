"""The transport interface: one WebSocket, no policy.

A transport opens one socket to a URL, sends and receives text frames, and
closes. It never reconnects by itself and never decides anything about
backoff: reconnection policy lives only in the manager. Keeping the interface
this small lets the default implementation, a faster optional one and the
in-memory fake in ``syncwire.testing`` stand in for each other.

Errors raised across this boundary are only the ``TransportError`` family
(defined in ``syncwire.errors``);
implementations map their library's exceptions here, so nothing else leaks to
the manager (and nothing carrying a secret does).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Transport", "TransportConnection"]


class TransportConnection(Protocol):
    """One open WebSocket."""

    @property
    def last_data_at(self) -> float | None:
        """The loop time bytes of a frame last arrived, even mid-frame.

        ``None`` before any, and always from a transport that cannot tell. The
        manager counts a large frame that is still arriving as activity, not as
        a silent server.
        """
        ...

    def send(self, text: str) -> None:
        """Queue one text frame for sending, in order; never blocks.

        Raises ``SendError`` at once after our own ``close()``. Once the peer
        closed or the connection was lost, the frame is dropped without an
        error, as a browser's ``WebSocket.send`` does: ``recv`` reports the
        close with the peer's code and reason, which decide the backoff. A
        write that fails later makes ``recv`` raise ``SendError``. (Where the
        operating system reports a failed buffered write as a lost connection, as
        for the default transport, ``recv`` raises ``ConnectionClosedError(1006)``
        instead: treat the two alike.)
        """
        ...

    async def recv(self) -> str | bytes:
        """The next text frame, as ``str`` or as its UTF-8 ``bytes``.

        Raises ``ConnectionClosedError`` when the connection ends (``InvalidFrameError``
        when the transport ended it because of the peer's bad input, such as
        ``MessageTooLargeError`` for a message over the size limit),
        ``UnexpectedBinaryFrameError`` for a binary frame (the connection stays
        open), and ``SendError`` after a queued frame failed to be written.
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
