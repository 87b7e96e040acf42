"""Convex functions over the HTTP API: ``HttpClient`` (asyncio) and ``ConvexHttpClient``
(blocking, the official package's drop-in), each with one keep-alive connection pool.

For code that calls functions and needs no subscription: serverless handlers, cron
jobs, scripts. ``wire`` holds the HTTP API's requests and answers, ``failures``
httpx's exceptions in syncwire's words.
"""

from syncwire.http.blocking import ConvexHttpClient
from syncwire.http.client import DEFAULT_MAX_CONNECTIONS
from syncwire.http.client import DEFAULT_TIMEOUT
from syncwire.http.client import HttpClient

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_TIMEOUT", "ConvexHttpClient", "HttpClient"]
