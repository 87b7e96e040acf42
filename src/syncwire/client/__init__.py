"""The sync client: lossless queries, subscriptions, mutations, actions and auth.

``Client`` is the asyncio client; ``ConvexClient`` is the blocking facade with
the official Python package's verbs. The other modules are its parts, each
mirroring one file of convex-js ``src/browser/sync``.
"""

from syncwire.client.auth import TokenFetcher
from syncwire.client.blocking import ConvexClient, QuerySetSubscription, QuerySubscription
from syncwire.client.client import Client, ClientConnectionState, Subscription, sync_url

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
