"""``http_origin``: where the HTTP API is, for every URL the sync client takes."""

from __future__ import annotations

import pytest

from syncwire.urls import http_origin


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://happy-otter-123.convex.cloud", "https://happy-otter-123.convex.cloud"),
        ("https://happy-otter-123.convex.cloud/", "https://happy-otter-123.convex.cloud"),
        ("http://127.0.0.1:3210", "http://127.0.0.1:3210"),
        ("wss://happy-otter-123.convex.cloud/api/sync", "https://happy-otter-123.convex.cloud"),
        ("ws://127.0.0.1:3210", "http://127.0.0.1:3210"),
        ("ws://127.0.0.1:3210/api/1.48.0/sync", "http://127.0.0.1:3210"),
        ("http://[::1]:3210", "http://[::1]:3210"),
    ],
)
def test_each_url_gives_its_origin(url: str, origin: str) -> None:
    assert http_origin(url) == origin


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://x.convex.cloud/api/query", "has no path"),
        ("https://x.convex.cloud?a=1", "has no path"),
        ("ws://x/elsewhere", "ends in /api/sync"),
        ("wss://x/api/sync?token=1", "ends in /api/sync"),
        ("ftp://x", "starts with https://"),
        ("x.convex.cloud", "has no scheme"),
        ("https://user:secret@x.convex.cloud", "no credentials"),
        ("http://x:99999", "port"),
        ("http://", "names a host"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        http_origin(url)
    assert "secret" not in str(caught.value)
