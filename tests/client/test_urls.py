"""Where a ``Client`` connects, and what it needs to start."""

from __future__ import annotations

import pytest

from syncwire import Client
from syncwire.client import sync_url

WS_URL = "wss://happy-animal-123.convex.cloud/api/sync"


def test_deployment_urls_become_the_sync_endpoint() -> None:
    assert sync_url("https://happy-otter-123.convex.cloud") == (
        "wss://happy-otter-123.convex.cloud/api/sync"
    )
    assert sync_url("http://127.0.0.1:3210/") == "ws://127.0.0.1:3210/api/sync"
    assert sync_url(WS_URL) == WS_URL


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
