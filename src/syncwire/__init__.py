"""syncwire: an asyncio-native client for the Convex sync protocol.

A WebSocket that stays alive through server restarts, overload, dead networks
and paused apps (``WebSocketManager``), and the sync protocol it speaks
(``syncwire.protocol``).
"""

from syncwire._core.backoff import BackoffPolicy
from syncwire._version import __version__
from syncwire.errors import ProtocolError, SyncwireError
from syncwire.manager import (
    ConnectionState,
    OnMessageResponse,
    ReconnectMetadata,
    WebSocketManager,
)

__all__ = [
    "BackoffPolicy",
    "ConnectionState",
    "OnMessageResponse",
    "ProtocolError",
    "ReconnectMetadata",
    "SyncwireError",
    "WebSocketManager",
    "__version__",
]
