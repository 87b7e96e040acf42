"""syncwire: an asyncio-native client for the Convex sync protocol.

``Client`` runs queries, subscriptions, mutations, actions and auth whose
every promise survives reconnects; underneath, ``WebSocketManager`` keeps a
WebSocket alive through server restarts, overload, dead networks and paused
apps, speaking the sync protocol of ``syncwire.protocol``.

``HttpClient`` (asyncio) and ``ConvexHttpClient`` (blocking) call functions over
the HTTP API instead, one request each on a keep-alive pool.

The official Python package's top-level names are here too (``ConvexClient``,
``ConvexError``, ``ConvexInt64``, ``convex_to_json``, ``json_to_convex``), so
code written for it runs unchanged after ``from syncwire import ...``.
"""

from syncwire._version import __version__
from syncwire.backoff import BackoffPolicy
from syncwire.client import Client
from syncwire.client import ClientConnectionState
from syncwire.client import ConvexClient
from syncwire.client import QuerySetSubscription
from syncwire.client import QuerySubscription
from syncwire.client import Subscription
from syncwire.client import TokenFetcher
from syncwire.errors import AuthenticationError
from syncwire.errors import ClientClosedError
from syncwire.errors import ConnectionLostError
from syncwire.errors import ConvexError
from syncwire.errors import FatalServerError
from syncwire.errors import FunctionError
from syncwire.errors import HttpError
from syncwire.errors import ProtocolError
from syncwire.errors import ResultTypeError
from syncwire.errors import SyncwireError
from syncwire.http import ConvexHttpClient
from syncwire.http import HttpClient
from syncwire.manager import ConnectionState
from syncwire.manager import OnMessageResponse
from syncwire.manager import ReconnectMetadata
from syncwire.manager import WebSocketManager
from syncwire.pagination import Page
from syncwire.protocol import ConvexInt64
from syncwire.protocol import convex_to_json
from syncwire.protocol import json_to_convex

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
    "ConvexHttpClient",
    "ConvexInt64",
    "FatalServerError",
    "FunctionError",
    "HttpClient",
    "HttpError",
    "OnMessageResponse",
    "Page",
    "ProtocolError",
    "QuerySetSubscription",
    "QuerySubscription",
    "ReconnectMetadata",
    "ResultTypeError",
    "Subscription",
    "SyncwireError",
    "TokenFetcher",
    "WebSocketManager",
    "__version__",
    "convex_to_json",
    "json_to_convex",
]
