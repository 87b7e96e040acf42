"""Transports: the pluggable WebSocket underneath the manager."""

from syncwire.transport.base import (
    CLOSE_ABNORMAL,
    CLOSE_NO_STATUS,
    ConnectionClosed,
    MessageTooLarge,
    SendFailed,
    Transport,
    TransportConnection,
    TransportError,
    UnexpectedBinaryFrame,
)

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
