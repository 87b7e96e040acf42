"""Transports: the pluggable WebSocket underneath the manager.

``WebSocketsTransport`` (on the ``websockets`` library) is the default; anything
that implements ``Transport`` can replace it, such as ``syncwire.testing.FakeTransport``.
"""

from syncwire.transport.base import (
    CLOSE_ABNORMAL,
    CLOSE_NO_STATUS,
    ConnectFailed,
    ConnectionClosed,
    InvalidFrame,
    MessageTooLarge,
    SendFailed,
    Transport,
    TransportConnection,
    TransportError,
    UnexpectedBinaryFrame,
    redact_url,
)
from syncwire.transport.websockets import WebSocketsConnection, WebSocketsTransport

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
    "WebSocketsConnection",
    "WebSocketsTransport",
    "redact_url",
]
