"""syncwire: an asyncio-native client for the Convex sync protocol.

``Client`` runs queries, subscriptions, mutations, actions and auth whose
every promise survives reconnects; underneath, ``WebSocketManager`` keeps a
WebSocket alive through server restarts, overload, dead networks and paused
apps, speaking the sync protocol of ``syncwire.protocol``.

The official Python package's top-level names are here too (``ConvexClient``,
``ConvexError``, ``ConvexInt64``, ``convex_to_json``, ``json_to_convex``), so
code written for it runs unchanged after ``from syncwire import ...``.
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
    AuthenticationError,
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
from syncwire.protocol import ConvexInt64, convex_to_json, json_to_convex

__all__ = [
    "AuthenticationError",
    "BackoffPolicy",
    "Client",
    "ClientClosedError",
    "ClientConnectionState",
    "ConnectionLostError",
    "ConnectionState",
    "ConvexClient",
    "ConvexError",
    "ConvexInt64",
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
    "convex_to_json",
    "json_to_convex",
]
