"""Where a ``Client`` connects, and what it needs to start."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from syncwire import Client
from syncwire.urls import host_port
from syncwire.urls import is_sync_path
from syncwire.urls import sync_url

WS_URL = "wss://happy-animal-123.convex.cloud/api/sync"


def test_deployment_urls_become_the_sync_endpoint() -> None:
    assert sync_url("https://happy-otter-123.convex.cloud") == (
        "wss://happy-otter-123.convex.cloud/api/sync"
    )
    assert sync_url("http://127.0.0.1:3210/") == "ws://127.0.0.1:3210/api/sync"
    assert sync_url(WS_URL) == WS_URL
    # A bare WebSocket origin would reach no endpoint: it gets the sync path.
    assert sync_url("ws://127.0.0.1:3210") == "ws://127.0.0.1:3210/api/sync"
    assert sync_url("wss://x.cloud/") == "wss://x.cloud/api/sync"
    assert sync_url("ws://127.0.0.1:3210/?a=1") == "ws://127.0.0.1:3210/?a=1"


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("/api/sync", True),
        ("/api/1.48.0/sync?x=1", True),
        ("/api/sync/", False),
        ("/api/a/b/sync", False),
        ("/sync", False),
    ],
)
def test_the_dev_server_serves_what_clients_ask_for(path: str, served: bool) -> None:
    assert is_sync_path(path) is served
    if served:
        assert is_sync_path(urlsplit(sync_url("http://h:1")).path)


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("wss://x.convex.cloud/api/sync", "x.convex.cloud:443"),
        ("ws://127.0.0.1/api/sync", "127.0.0.1:80"),
        ("ws://[::1]:3210/api/sync", "[::1]:3210"),
        ("ws://h:99999/", "the server"),
    ],
)
def test_messages_name_the_host_and_port(url: str, where: str) -> None:
    assert host_port(url) == where


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("ftp://x", "not ftp://"),
        ("happy-otter-123.convex.cloud", "and this one has no scheme"),
        ("https://x.cloud/api", "a deployment URL has no path"),
    ],
)
def test_other_urls_are_refused_saying_why(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match="URL") as refused:
        sync_url(bad)
    assert why in str(refused.value)


def test_a_client_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="ConvexClient"):
        Client(WS_URL)
