"""What both HTTP clients take from their options and nothing from the environment:
TLS verified by default (``ssl=`` to trust another CA), a proxy only when named,
no ``.netrc`` password sent as an identity nobody chose."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from syncwire import ConvexHttpClient
from syncwire import HttpClient
from syncwire.devserver import DevServer
from syncwire.devserver.example import chat_app
from syncwire.errors import ConnectError
from tests.http.support import LocalServer
from tests.http.support import json_answer
from tests.transport.servers import closed_port

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def hostile_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Proxy variables pointing at a dead port, and a ``.netrc`` with a password for
    127.0.0.1: a client that read the environment would fail or send the password."""
    dead = f"http://127.0.0.1:{closed_port()}"
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
        monkeypatch.setenv(name.upper(), dead)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


@pytest.mark.usefixtures("hostile_environment")
async def test_nothing_is_taken_from_the_environment() -> None:
    async with LocalServer(
        lambda _seen: json_answer(200, {"status": "success", "value": 1.0})
    ) as server:
        async with HttpClient(server.url) as client:
            assert await client.query("a:b") == 1.0
        with ConvexHttpClient(server.url) as blocking:  # in a thread: the server is on this loop
            assert await asyncio.to_thread(blocking.query, "a:b") == 1.0
    assert [seen.headers.get("authorization") for seen in server.requests] == [None, None]


async def test_a_named_proxy_is_used() -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    async with DevServer(chat_app()) as server:
        async with HttpClient(server.url, proxy=dead) as client:
            with pytest.raises(ConnectError) as refused:
                await client.query("messages:count")
        assert dead.removeprefix("http://") in refused.value.cause  # the proxy, not the server
        async with HttpClient(server.url) as direct:
            assert await direct.query("messages:count") == 0.0


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"proxy": "socks5://127.0.0.1:1080"}, ValueError, "proxy scheme"),
        ({"ssl": ssl.create_default_context()}, ValueError, "https://"),
        ({"ssl": "yes"}, TypeError, "ssl"),
        ({"max_connections": 0}, ValueError, "max_connections"),
    ],
)
async def test_bad_options_are_refused_at_construction(
    options: dict[str, Any], error: type[Exception], words: str
) -> None:
    for make in (HttpClient, ConvexHttpClient):
        with pytest.raises(error, match=words):
            make("http://127.0.0.1:3210", **options)


async def test_tls_is_verified_and_ssl_trusts_another_ca(tls_ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    tls_ca.configure_trust(client_context)
    async with DevServer(chat_app(), ssl=server_context) as server:
        assert server.url.startswith("https://")
        async with HttpClient(server.url) as untrusting:
            with pytest.raises(ConnectError) as refused:
                await untrusting.query("messages:count")
        assert refused.value.cause.startswith("TLS")
        async with HttpClient(server.url, ssl=client_context) as client:
            assert await client.query("messages:count") == 0.0
