"""syncwire: an asyncio-native client for the Convex sync protocol.

``Client`` runs queries, subscriptions, mutations, actions and auth whose
every promise survives reconnects; underneath, ``WebSocketManager`` keeps a
WebSocket alive through server restarts, overload, dead networks and paused
apps, speaking the sync protocol of ``syncwire.protocol``.
"""

from syncwire._core.backoff import BackoffPolicy
from syncwire._version import __version__
from syncwire.client import (
    Client,
    ClientConnectionState,
    ConvexClient,
    QuerySetSubscription,
    QuerySubscription,
    Subscription,
    TokenFetcher,
)
from syncwire.errors import (
    ClientClosedError,
    ConnectionLostError,
    ConvexError,
    FatalServerError,
    FunctionError,
    ProtocolError,
    SyncwireError,
)
from syncwire.manager import (
    ConnectionState,
    OnMessageResponse,
    ReconnectMetadata,
    WebSocketManager,
)

__all__ = [
    "BackoffPolicy",
    "Client",
    "ClientClosedError",
    "ClientConnectionState",
    "ConnectionLostError",
    "ConnectionState",
    "ConvexClient",
    "ConvexError",
    "FatalServerError",
    "FunctionError",
    "OnMessageResponse",
    "ProtocolError",
    "QuerySetSubscription",
    "QuerySubscription",
    "ReconnectMetadata",
    "Subscription",
    "SyncwireError",
    "TokenFetcher",
    "WebSocketManager",
    "__version__",
]
