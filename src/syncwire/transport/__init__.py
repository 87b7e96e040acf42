"""Transports: the pluggable WebSocket underneath the manager.

``WebSocketsTransport`` (on the ``websockets`` library) is the default; anything
that implements ``Transport`` can replace it, such as ``syncwire.testing.FakeTransport``.
The errors a transport raises are in ``syncwire.errors`` (``TransportError`` and below).
"""

from syncwire.transport.base import Transport
from syncwire.transport.base import TransportConnection
from syncwire.transport.websockets import WebSocketsConnection
from syncwire.transport.websockets import WebSocketsTransport

__all__ = ["Transport", "TransportConnection", "WebSocketsConnection", "WebSocketsTransport"]
