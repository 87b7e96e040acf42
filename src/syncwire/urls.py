"""Deployment URL rules, written once: the client's side and the dev server's inverse.

A Convex deployment serves its sync WebSocket at ``/api/sync`` (and, versioned,
at ``/api/<version>/sync``) on the deployment's origin, and its HTTP API
(``/api/query``, ``/api/mutation``…) on the same origin. Clients turn the URL a
user gives into the sync endpoint (``sync_url``) or the origin the HTTP API is
on (``http_origin``); the dev server accepts exactly the paths a client may ask
for (``is_sync_path``).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

__all__ = ["SYNC_PATH", "host_port", "http_origin", "is_sync_path", "sync_url"]

SYNC_PATH: Final = "/api/sync"
"""The sync endpoint's path on a deployment's origin."""
_SERVED_SYNC_PATH: Final = re.compile(r"/api(?:/[^/?]+)?/sync")


def sync_url(url: str) -> str:
    """The WebSocket endpoint of a deployment URL.

    ``https://happy-otter-123.convex.cloud`` → ``wss://…/api/sync`` (and
    ``http`` → ``ws``), the endpoint the official Python client uses. A ``ws://``
    or ``wss://`` URL is used as it is, except that a bare origin
    (``ws://127.0.0.1:3210``) gets the sync path, which it would otherwise miss.
    Raises ``ValueError`` saying why for anything else.
    """
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        if parts.path in ("", "/") and not parts.query and not parts.fragment:
            return urlunsplit((parts.scheme, parts.netloc, SYNC_PATH, "", ""))
        return url
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            "a deployment URL starts with https:// (or http://, ws://, wss://), "
            + (f"not {parts.scheme}://" if parts.scheme else "and this one has no scheme")
        )
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError(
            "a deployment URL has no path: give its origin, like https://name.convex.cloud"
        )
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, SYNC_PATH, "", ""))


def http_origin(url: str) -> str:
    """The origin a deployment serves its HTTP API on, for the URLs ``sync_url`` takes.

    ``https://happy-otter-123.convex.cloud`` (a trailing ``/`` dropped) is its
    own origin; a sync endpoint (``wss://…/api/sync``, ``ws://127.0.0.1:3210``)
    gives the origin it is on (``wss`` → ``https``, ``ws`` → ``http``). Raises
    ``ValueError`` saying why for anything else, with ``sync_url``'s words: a
    path, a query or a fragment, and credentials (``user:password@``), which
    the HTTP library would send as a password.
    """
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        if (
            parts.query
            or parts.fragment
            or not (parts.path in ("", "/") or _SERVED_SYNC_PATH.fullmatch(parts.path))
        ):
            raise ValueError(
                "a sync endpoint URL ends in /api/sync and has no query: "
                "give it like wss://name.convex.cloud/api/sync, or the deployment URL"
            )
        scheme = "https" if parts.scheme == "wss" else "http"
    else:
        sync_url(url)  # the deployment URL rules, in their words
        scheme = parts.scheme
    if "@" in parts.netloc:
        raise ValueError(
            "a deployment URL holds no credentials: give its origin, like "
            "https://name.convex.cloud, and the token to set_auth()"
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not one
    except ValueError:
        raise ValueError("a deployment URL's port is a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("a deployment URL names a host, like https://name.convex.cloud")
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def is_sync_path(path: str) -> bool:
    """Whether a request path (its query ignored) names the sync endpoint."""
    return _SERVED_SYNC_PATH.fullmatch(path.partition("?")[0]) is not None


def host_port(url: str) -> str:
    """``host:port`` of a WebSocket URL for messages, the port filled in from the scheme."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "the server"
    if port is None:
        port = 443 if parts.scheme.lower() in ("wss", "https") else 80
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
