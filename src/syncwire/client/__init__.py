"""The sync client: lossless queries, subscriptions, mutations, actions and auth.

``Client`` is the asyncio client; ``ConvexClient`` is the blocking facade with
the official Python package's verbs. The other modules are its parts, each
mirroring one file of convex-js ``src/browser/sync``.
"""

from syncwire.client.auth import TokenFetcher
from syncwire.client.blocking import ConvexClient
from syncwire.client.blocking import QuerySetSubscription
from syncwire.client.blocking import QuerySubscription
from syncwire.client.client import Client
from syncwire.client.client import ClientConnectionState
from syncwire.client.client import Subscription
from syncwire.urls import sync_url

__all__ = [
    "Client",
    "ClientConnectionState",
    "ConvexClient",
    "QuerySetSubscription",
    "QuerySubscription",
    "Subscription",
    "TokenFetcher",
    "sync_url",
]
