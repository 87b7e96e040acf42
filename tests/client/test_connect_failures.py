"""Why a client cannot connect, in words, on real sockets on 127.0.0.1 (issue 11, point 1).

Each cause is told from exception types and attributes (errno, ``gaierror``,
``ssl`` errors, the HTTP status) and put in syncwire's own words, which these
tests check exactly; a library's message text never decides and never shows.
The first failure is visible with no logging configured: Python's last-resort
handler prints it (checked in a child process, where nothing configured logging).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import NoReturn

import pytest
import trustme
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire.transport.websockets import connect_cause
from tests.helpers import first_error
from tests.helpers import run_python
from tests.transport.servers import closed_port
from tests.transport.servers import silent_server

FAST = BackoffPolicy(client_initial=0.01, unknown_initial=0.01, max_backoff=0.05)
URL = "wss://example.invalid/api/sync"


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def tcp_server(handle: Handler) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running ``handle`` per connection; yields its port."""
    writers: list[asyncio.StreamWriter] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        # The client may give up on an attempt first.
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await handle(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()


async def answer_404(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain web server: the upgrade request gets a 404 page."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot here\n"
    )
    await writer.drain()
    writer.close()


# -- on real sockets ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_refused_connection() -> None:
    port = closed_port()
    async with Client(f"http://127.0.0.1:{port}", backoff=FAST) as client:
        error = await first_error(client)
        assert error == f"connection refused by 127.0.0.1:{port}: is the server running?"
        with pytest.raises(TimeoutError):  # and a call is bounded by the caller
            async with asyncio.timeout(0.2):
                await client.query("messages:list")


@pytest.mark.asyncio
async def test_an_http_answer_instead_of_a_websocket() -> None:
    async with tcp_server(answer_404) as port, Client(f"http://127.0.0.1:{port}") as client:
        assert await first_error(client) == (
            "the server answered HTTP 404: is this a Convex deployment URL?"
        )


@pytest.mark.asyncio
async def test_a_handshake_nobody_answers_times_out() -> None:
    async with (
        silent_server() as server,
        Client(f"http://127.0.0.1:{server.port}", inactivity_threshold=0.5) as client,
    ):
        assert await first_error(client) == (
            "timed out: no answer to the WebSocket handshake within 0.5 s"
        )


@pytest.mark.asyncio
async def test_a_certificate_from_an_unknown_authority() -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_context)
    async with (
        silent_server(ssl_context=server_context) as server,
        Client(f"https://127.0.0.1:{server.port}") as client,
    ):
        assert await first_error(client) == (
            "TLS failure: the certificate was refused: "
            "the server's certificate is not signed by a trusted CA"
        )


@pytest.mark.asyncio
async def test_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver answers "no such name" here, so no lookup leaves this machine.
    def no_such_name(host: object, *_args: object, **_kwargs: object) -> NoReturn:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    async with Client("https://no-such-deployment.invalid") as client:
        error = await first_error(client)
    assert error == "DNS failure: the name no-such-deployment.invalid was not found"


@pytest.mark.asyncio
async def test_the_last_error_holds_no_query_string() -> None:
    """A ws:// URL is used as given: its query string stays out of the words."""
    port = closed_port()
    url = f"ws://127.0.0.1:{port}/api/sync?token=hunter2"
    async with Client(url, backoff=FAST) as client:
        error = await first_error(client)
        assert "hunter2" not in error
        assert "hunter2" not in repr(client.connection_state())


_CHILD = """
import asyncio, sys
from syncwire import BackoffPolicy, Client

async def main():
    fast = BackoffPolicy(client_initial=0.01, unknown_initial=0.01, max_backoff=0.02)
    async with Client(sys.argv[1], backoff=fast) as client:
        async with asyncio.timeout(20):
            async for state in client.connection_states():
                if state.connection.connection_retries >= 4:
                    break

asyncio.run(main())
"""


def test_the_first_failure_is_printed_without_logging_configured() -> None:
    port = closed_port()
    child = run_python(_CHILD, f"http://127.0.0.1:{port}")
    assert child.stderr.splitlines() == [
        f"cannot connect to ws://127.0.0.1:{port}/api/sync: connection refused by "
        f"127.0.0.1:{port}: is the server running? (retrying in the background)"
    ], "printed once, though the client failed at least four times"


# -- each cause from its exception type -------------------------------------------------------


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "Whatever", Headers(), b"secret body"))


def _invalid_message(cause: BaseException) -> InvalidMessage:
    exc = InvalidMessage("a message text syncwire never shows")
    exc.__cause__ = cause
    return exc


def _verification_failure() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "text syncwire never shows")
    exc.verify_code = 10  # X509_V_ERR_CERT_HAS_EXPIRED
    return exc


def _tls_failure() -> ssl.SSLError:
    exc = ssl.SSLError(1, "text syncwire never shows")
    exc.reason = "WRONG_VERSION_NUMBER"
    return exc


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (_status(404), "the server answered HTTP 404: is this a Convex deployment URL?"),
        (_status(200), "the server answered HTTP 200: is this a Convex deployment URL?"),
        (
            _status(503),
            "the server answered HTTP 503 (a server error) instead of a WebSocket",
        ),
        (
            _invalid_message(EOFError()),
            "example.invalid:443 closed the connection without answering the WebSocket handshake",
        ),
        (
            _invalid_message(ValueError()),
            "example.invalid:443 did not answer in HTTP: is this a Convex deployment URL?",
        ),
        (
            _verification_failure(),
            "TLS failure: the certificate was refused: the server's certificate has expired",
        ),
        (_tls_failure(), "TLS failure: the TLS handshake failed (WRONG_VERSION_NUMBER)"),
        (
            socket.gaierror(socket.EAI_NONAME, "text"),
            "DNS failure: the name example.invalid was not found",
        ),
        (
            socket.gaierror(socket.EAI_AGAIN, "text"),
            "DNS failure: could not look up example.invalid",
        ),
        (TimeoutError(), "timed out connecting to example.invalid:443"),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "text"),
            "connection refused by example.invalid:443: is the server running?",
        ),
        (
            ConnectionResetError(errno.ECONNRESET, "text"),
            "the connection to example.invalid:443 was lost during the handshake",
        ),
        (
            OSError(errno.ENETUNREACH, "text"),
            "cannot reach example.invalid:443: the network is unreachable",
        ),
        (OSError(errno.EACCES, "text"), "cannot connect to example.invalid:443 (EACCES)"),
        (OSError("Multiple exceptions: text"), "cannot connect to example.invalid:443"),
        (
            RuntimeError("text"),
            "cannot open a WebSocket to example.invalid:443 (RuntimeError)",
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_each_cause_is_told_from_types_not_texts(exc: BaseException, cause: str) -> None:
    assert connect_cause(exc, URL) == cause
    assert "text" not in cause
    assert "secret" not in cause


def test_ports_and_ipv6_hosts_are_written_out() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "text")
    assert connect_cause(refused, "ws://[::1]:3210/api/sync").startswith(
        "connection refused by [::1]:3210:"
    )
    assert connect_cause(refused, "ws://localhost/api/sync").startswith(
        "connection refused by localhost:80:"
    )
