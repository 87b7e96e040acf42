"""TLS with a private CA (trustme), client to dev server: only a verified server is used.

The dev server serves ``wss://`` with a certificate from a throwaway CA. The
client, on every shipped transport, refuses an unknown CA and a certificate for
another host name, and keeps refusing (it retries, never falls back); trusting
the CA explicitly is the one way in. A context that weakens verification is
logged, never silent.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import trustme

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire.devserver.example import chat_app
from syncwire.devserver.server import DevServer
from syncwire.transport.base import Transport
from tests.helpers import until
from tests.reliability.conftest import Figure
from tests.transports import Kind

TIMEOUT = 10.0
POLICY = BackoffPolicy(client_initial=0.01, unknown_initial=0.01, max_backoff=0.05)
ATTEMPTS = 5


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *hostnames: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hostnames).configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def refused(server: DevServer, transport: Transport, caplog: pytest.LogCaptureFixture) -> str:
    """Let a client try ``ATTEMPTS`` times; it must never get a session. Returns the error."""
    caplog.clear()
    async with Client(server.url, transport=transport, backoff=POLICY) as client:
        await until(
            lambda: caplog.text.count("WebSocket error message") >= ATTEMPTS,
            f"{ATTEMPTS} refused attempts",
        )
        state = client.connection_state().connection
        assert not state.has_ever_connected
        assert server.session_count == 0
    errors = [r.getMessage() for r in caplog.records if "WebSocket error message" in r.getMessage()]
    return errors[0]


@pytest_asyncio.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[DevServer]:
    async with DevServer(chat_app(), ssl=server_context(ca, "127.0.0.1")) as server:
        yield server


@pytest.mark.asyncio
async def test_an_unknown_ca_is_refused_every_time(
    transport_kind: Kind,
    tls_server: DevServer,
    caplog: pytest.LogCaptureFixture,
    figure: Figure,
) -> None:
    assert tls_server.url.startswith("https://")
    with caplog.at_level(logging.INFO, "syncwire.manager"):
        error = await refused(tls_server, transport_kind.make(), caplog)
    assert error.startswith(
        "WebSocket error message: TLS certificate verification failed: "
        "the server's certificate is not signed by a trusted CA"
    ), error
    figure("TLS, unknown CA", f"refused on all {ATTEMPTS} attempts", goal="refused", held=True)


@pytest.mark.asyncio
async def test_a_certificate_for_another_host_is_refused(
    transport_kind: Kind, ca: trustme.CA, caplog: pytest.LogCaptureFixture, figure: Figure
) -> None:
    async with DevServer(chat_app(), ssl=server_context(ca, "other.example")) as server:
        with caplog.at_level(logging.INFO, "syncwire.manager"):
            error = await refused(server, transport_kind.make(ssl=trusting(ca)), caplog)
    assert error.startswith(
        "WebSocket error message: TLS certificate verification failed: "
        "the server's certificate is for another host"
    ), error
    figure(
        "TLS, host name mismatch", f"refused on all {ATTEMPTS} attempts", goal="refused", held=True
    )


@pytest.mark.asyncio
async def test_a_trusted_ca_is_accepted(
    transport_kind: Kind, tls_server: DevServer, ca: trustme.CA, figure: Figure
) -> None:
    transport = transport_kind.make(ssl=trusting(ca))
    async with Client(tls_server.url, transport=transport, backoff=POLICY) as client:
        async with asyncio.timeout(TIMEOUT):
            await client.mutation("messages:send", {"body": "over TLS"})
            messages = await client.query("messages:list")
    assert [m["body"] for m in messages] == ["over TLS"]
    figure(
        "TLS, trusted private CA", "accepted; query and mutation ran", goal="accepted", held=True
    )


def test_weakening_verification_is_never_silent(
    transport_kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    no_hostname = ssl.create_default_context()
    no_hostname.check_hostname = False
    logger_name = transport_kind.logger_name
    with caplog.at_level(logging.WARNING, logger_name):
        transport_kind.make(ssl=unverified)
        transport_kind.make(ssl=no_hostname)
        transport_kind.make(ssl=ssl.create_default_context())
    warnings = [r.getMessage() for r in caplog.records if r.name == logger_name]
    assert warnings == [
        "TLS verification is weakened by the ssl context given: certificates are not verified",
        "TLS verification is weakened by the ssl context given: host names are not checked",
    ]
