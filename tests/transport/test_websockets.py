"""WebSocketsTransport against real local servers: the transport contract, end to end."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import secrets
import ssl
import traceback
import warnings
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from http import HTTPStatus

import pytest
import trustme
import websockets.asyncio.client
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request
from websockets.http11 import Response

from syncwire.errors import ConnectionClosedError
from syncwire.errors import MessageTooLargeError
from syncwire.errors import SendError
from syncwire.errors import TransportError
from syncwire.errors import UnexpectedBinaryFrameError
from syncwire.transport.base import Transport
from syncwire.transport.base import TransportConnection
from syncwire.transport.websockets import LOGGER_NAME
from syncwire.transport.websockets import WebSocketsConnection
from syncwire.transport.websockets import WebSocketsTransport
from tests.helpers import fragments
from tests.helpers import leaks
from tests.helpers import until
from tests.transport.servers import TIMEOUT
from tests.transport.servers import closed_port
from tests.transport.servers import connect_proxy
from tests.transport.servers import silent_server
from tests.transport.servers import websocket_server

# --------------------------------------------------------------------------- helpers


async def recv_closed(conn: TransportConnection) -> ConnectionClosedError:
    """Read until the connection ends; fail on any frame instead."""
    async with asyncio.timeout(TIMEOUT):
        try:
            frame = await conn.recv()
        except ConnectionClosedError as closed:
            return closed
    pytest.fail(f"expected the connection to end, got a frame: {frame!r}")


async def close(conn: TransportConnection) -> None:
    conn.close()
    async with asyncio.timeout(TIMEOUT):
        await conn.wait_closed()


class ClientSocket:
    """The client's OS socket, taken while open: TLS transports forget it on close.

    Reaches inside the connection, since nothing public tells whether the fd is shut.
    """

    def __init__(self, conn: WebSocketsConnection) -> None:
        self._sock = conn._wire.transport.get_extra_info("socket")
        assert self._sock.fileno() >= 0

    @property
    def closed(self) -> bool:
        fileno: int = self._sock.fileno()
        return fileno == -1


def foreign_task(task: asyncio.Task[object]) -> bool:
    """Tasks of the test server, which outlive the client by design."""
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return filename.endswith(("websockets/asyncio/server.py", "tests/transport/servers.py"))


# --------------------------------------------------------------------------- interface


def test_matches_the_transport_interface() -> None:
    """Same names, parameters, defaults and async-ness as the Protocols in base.py."""
    transport: Transport = WebSocketsTransport()  # and mypy checks the types
    pairs = [(Transport, type(transport)), (TransportConnection, WebSocketsConnection)]
    for protocol, impl in pairs:
        for name in ("connect",) if protocol is Transport else ("send", "recv", "close"):
            expected, actual = getattr(protocol, name), getattr(impl, name)
            assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected)
            assert list(inspect.signature(actual).parameters.values()) == list(
                inspect.signature(expected).parameters.values()
            ), name
    assert inspect.iscoroutinefunction(WebSocketsConnection.wait_closed)


def test_constructor_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="max_message_size"):
        WebSocketsTransport(max_message_size=0)
    with pytest.raises(ValueError, match="close_timeout"):
        WebSocketsTransport(close_timeout=0)
    with pytest.raises(ValueError, match="proxy scheme"):
        WebSocketsTransport(proxy="ftp://proxy.example:21")
    with pytest.raises(ValueError, match="CR or LF"):
        WebSocketsTransport(headers={"Convex-Client": "x\r\nInjected: yes"})


# --------------------------------------------------------------------------- round trips


@pytest.mark.asyncio
async def test_send_and_recv_round_trip() -> None:
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        try:
            for text in ('{"type":"Connect"}', "", "é✓ unicode", "x" * 100_000):
                conn.send(text)
                async with asyncio.timeout(TIMEOUT):
                    assert await conn.recv() == text
        finally:
            await close(conn)


@pytest.mark.asyncio
async def test_send_never_blocks_and_keeps_order() -> None:
    """A burst of synchronous sends arrives complete and in order."""
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        try:
            frames = [f'{{"seq":{i},"pad":"{"p" * (i % 300)}"}}' for i in range(2000)]
            for frame in frames:
                conn.send(frame)  # no await between sends: nothing may reorder them
            async with asyncio.timeout(TIMEOUT):
                echoed = [await conn.recv() for _ in frames]
            assert echoed == frames
        finally:
            await close(conn)


@pytest.mark.asyncio
async def test_headers_and_user_agent_are_sent() -> None:
    async with websocket_server() as server:
        transport = WebSocketsTransport(headers={"Convex-Client": "syncwire-0.1.0"})
        await close(await transport.connect(server.url))
    (request,) = server.requests
    assert request.headers["Convex-Client"] == "syncwire-0.1.0"
    assert request.headers["User-Agent"].startswith("syncwire/")
    assert request.path == "/api/sync"


@pytest.mark.asyncio
async def test_server_pings_are_answered() -> None:
    """The client sends no keepalive pings of its own but still answers the server's."""
    latency: list[float] = []

    async def ping_then_echo(ws: ServerConnection) -> None:
        pong = await ws.ping()
        latency.append(await asyncio.wait_for(pong, TIMEOUT))
        await ws.send("pinged")

    async with websocket_server(ping_then_echo) as server:
        conn = await WebSocketsTransport().connect(server.url)
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "pinged"
        await close(conn)
    assert len(latency) == 1


# --------------------------------------------------------------------------- how it ends


@pytest.mark.asyncio
async def test_server_close_code_and_reason() -> None:
    async def close_after_one(ws: ServerConnection) -> None:
        await ws.send("last words")
        await ws.close(1013, "SubscriptionsWorkerFullError")

    async with websocket_server(close_after_one) as server:
        conn = await WebSocketsTransport().connect(server.url)
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "last words"  # frames before the close come first
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (1013, "SubscriptionsWorkerFullError")
        again = await recv_closed(conn)  # the end is sticky
        assert again.code == 1013
        await close(conn)


async def close_without_status(ws: ServerConnection) -> None:
    ws.protocol.send_close()  # an empty close frame: websockets has no public API for it
    ws.send_data()
    await ws.wait_closed()


async def drop(ws: ServerConnection) -> None:
    ws.transport.abort()
    await ws.wait_closed()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("handler", "code"),
    [
        pytest.param(close_without_status, 1005, id="close-frame-without-status-is-1005"),
        pytest.param(drop, 1006, id="tcp-drop-is-1006"),
    ],
)
async def test_an_end_without_a_close_status(
    handler: Callable[[ServerConnection], Awaitable[None]], code: int
) -> None:
    async with websocket_server(handler) as server:
        conn = await WebSocketsTransport().connect(server.url)
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (code, "")
        await close(conn)


@pytest.mark.asyncio
async def test_binary_frame_is_reported_and_connection_survives() -> None:
    async def binary_then_echo(ws: ServerConnection) -> None:
        await ws.send(b"\x00\x01\x02")
        async for message in ws:
            await ws.send(message)

    async with websocket_server(binary_then_echo) as server:
        conn = await WebSocketsTransport().connect(server.url)
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(UnexpectedBinaryFrameError) as info:
                await conn.recv()
            assert info.value.size == 3
            conn.send("still here")
            assert await conn.recv() == "still here"
        await close(conn)


@pytest.mark.asyncio
@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_max_message_size_is_inclusive_and_enforced(compression: bool) -> None:
    """1024 bytes pass, 1025 end the connection with 1009; with deflate the limit
    applies to the decompressed size (1025 'y's compress to a few bytes)."""

    async def sizes(ws: ServerConnection) -> None:
        await ws.send("x" * 1024)
        await ws.send("y" * 1025)
        await ws.wait_closed()

    async with websocket_server(sizes) as server:
        transport = WebSocketsTransport(max_message_size=1024, compression=compression)
        conn = await transport.connect(server.url)
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "x" * 1024
        closed = await recv_closed(conn)
        assert isinstance(closed, MessageTooLargeError)
        assert closed.code == 1009
        assert "y" * 8 not in str(closed)
        await close(conn)


# --------------------------------------------------------------------------- send failures


@pytest.mark.asyncio
async def test_send_after_close_fails_at_once() -> None:
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        conn.close()
        with pytest.raises(SendError):
            conn.send("too late")
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        with pytest.raises(SendError):
            conn.send("later still")


@pytest.mark.asyncio
async def test_send_after_the_server_closed_is_dropped_like_a_browser() -> None:
    """The server's close reason, not a send failure, must decide the backoff."""

    async def close_now(ws: ServerConnection) -> None:
        await ws.close(1013, "TooManyConcurrentRequests")

    async with websocket_server(close_now) as server:
        conn = await WebSocketsTransport().connect(server.url)
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (1013, "TooManyConcurrentRequests")
        conn.send("nobody listens")  # no SendError
        closed = await recv_closed(conn)
        assert closed.reason == "TooManyConcurrentRequests"
        await close(conn)


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["write raises", "transport closes"])
async def test_write_error_during_send_raises_send_failed(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A socket error while writing surfaces from send, and the connection ends.

    asyncio's own transports report a failed ``sock.send`` by closing themselves
    (``_fatal_error``) rather than raising; both shapes are simulated here.
    """
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        transport = conn._wire.transport

        def broken_write(data: bytes) -> None:
            if how == "write raises":
                raise ConnectionResetError(104, "Connection reset by peer")
            transport.abort()

        monkeypatch.setattr(transport, "write", broken_write)
        with pytest.raises(SendError, match="write failed") as info:
            conn.send("doomed")
        assert "doomed" not in str(info.value)
        assert (await recv_closed(conn)).code == 1006
        await close(conn)


@pytest.mark.asyncio
async def test_no_keepalive_pings_from_the_client() -> None:
    """The manager owns liveness: an open connection runs no task (no keepalive loop)."""
    async with websocket_server() as server:
        before = asyncio.all_tasks()
        conn = await WebSocketsTransport().connect(server.url)
        conn.send("hello")
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "hello"
        assert {t for t in asyncio.all_tasks() - before if not foreign_task(t)} == set()
        await close(conn)


@pytest.mark.asyncio
async def test_send_rejects_what_is_not_text() -> None:
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        with pytest.raises(TypeError):
            conn.send(b"bytes are not text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="surrogate at index 6") as info:
            conn.send("secret\ud800")
        assert "secret" not in repr(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
        conn.send("nothing was sent before")
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "nothing was sent before"
        await close(conn)


@pytest.mark.asyncio
async def test_concurrent_recv_is_a_transport_error() -> None:
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        first = asyncio.create_task(conn.recv())
        await asyncio.sleep(0)  # let it start waiting
        with pytest.raises(TransportError, match="already"):
            await conn.recv()
        conn.send("for the first")
        async with asyncio.timeout(TIMEOUT):
            assert await first == "for the first"
        await close(conn)


# --------------------------------------------------------------------------- connect failures


@pytest.mark.asyncio
async def test_refused_connection_is_a_transport_error() -> None:
    with pytest.raises(TransportError) as info:
        await WebSocketsTransport().connect(f"ws://127.0.0.1:{closed_port()}/api/sync")
    # The OS error is kept as the cause (an OSError's text holds no secret).
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert not isinstance(info.value, ConnectionClosedError)


@pytest.mark.asyncio
async def test_http_rejection_is_a_transport_error() -> None:
    def forbid(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "no sync for you\n")

    async with websocket_server(process_request=forbid) as server:
        with pytest.raises(TransportError, match="HTTP 403") as info:
            await WebSocketsTransport().connect(server.url)
    assert not isinstance(info.value, ConnectionClosedError)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/", "https://example.com/", "127.0.0.1:80", "", "ws:/x"]
)
async def test_bad_url_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match=r"ws://|URL"):
        await WebSocketsTransport().connect(url)


@pytest.mark.asyncio
async def test_ssl_context_with_plain_ws_is_a_value_error() -> None:
    transport = WebSocketsTransport(ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="wss://"):
        await transport.connect("ws://127.0.0.1:1/api/sync")


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.asyncio
async def test_tls_is_verified_by_default(tls_ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_context)
    async with websocket_server(ssl_context=server_context) as server:
        # An unknown CA: the default context must refuse it.
        with pytest.raises(TransportError) as refused:
            await WebSocketsTransport().connect(server.url)
        assert str(refused.value).startswith(
            "TLS certificate verification failed: "
            "the server's certificate is not signed by a trusted CA"
        )
        assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
        # Trusting the CA explicitly is how a caller changes verification.
        client_context = ssl.create_default_context()
        tls_ca.configure_trust(client_context)
        conn = await WebSocketsTransport(ssl=client_context).connect(server.url)
        sock = ClientSocket(conn)
        conn.send("over tls")
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "over tls"
        await close(conn)
        assert sock.closed


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_cancelled_connect_leaves_nothing_open(scheme: str) -> None:
    """Cancelled while the server sits on the HTTP (ws) or TLS (wss) handshake."""
    async with silent_server() as server:
        before = asyncio.all_tasks()
        url = server.url.replace("ws://", f"{scheme}://")
        connecting = asyncio.create_task(WebSocketsTransport().connect(url))
        async with asyncio.timeout(TIMEOUT):
            await server.accepted.wait()  # TCP is up, the handshake hangs
        assert not connecting.done()
        connecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await connecting
        async with asyncio.timeout(TIMEOUT):
            await server.client_gone.wait()  # the client's socket was closed
        assert {t for t in asyncio.all_tasks() - before if not foreign_task(t)} == set()


@pytest.mark.asyncio
async def test_proxy_from_the_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("ws_proxy", "http_proxy", "https_proxy", "all_proxy", "socks_proxy"):
        monkeypatch.setenv(name, dead_proxy)
        monkeypatch.setenv(name.upper(), dead_proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    async with websocket_server() as server:
        # Sanity: websockets' own default would use the dead proxy and fail.
        with pytest.raises(ConnectionRefusedError):
            await websockets.asyncio.client.connect(server.url, open_timeout=TIMEOUT)
        await close(await WebSocketsTransport().connect(server.url))


@pytest.mark.asyncio
async def test_explicit_proxy_is_used() -> None:
    async with websocket_server() as server, connect_proxy() as proxy:
        conn = await WebSocketsTransport(proxy=proxy.url).connect(server.url)
        conn.send("via proxy")
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "via proxy"
        await close(conn)
    assert proxy.requests == [f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"]


# --------------------------------------------------------------------------- closing


@pytest.mark.asyncio
async def test_close_is_idempotent_and_validates_its_arguments() -> None:
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        with pytest.raises(ValueError, match="1005"):
            conn.close(1005)
        with pytest.raises(ValueError, match="reason"):
            conn.close(1000, "r" * 124)
        conn.close(4000, "bye")
        conn.close()  # ignored: already closing
        conn.close(1005)  # ignored too
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
            await conn.wait_closed()
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (4000, "bye")  # the server's echo


@pytest.mark.asyncio
async def test_wait_closed_is_bounded_when_the_peer_never_answers() -> None:
    async with silent_server(handshake=True) as server:
        transport = WebSocketsTransport(close_timeout=0.2, compression=False)
        loop = asyncio.get_running_loop()

        # close() sent, no echo ever comes: aborted after close_timeout.
        conn = await transport.connect(server.url)
        sock = ClientSocket(conn)
        started = loop.time()
        conn.close()
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        assert 0.15 <= loop.time() - started < TIMEOUT
        assert sock.closed
        async with asyncio.timeout(TIMEOUT):
            await server.client_gone.wait()

        # No close() and the peer never closes: wait_closed aborts after close_timeout.
        server.client_gone.clear()
        conn = await transport.connect(server.url)
        sock = ClientSocket(conn)
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        assert sock.closed
        assert (await recv_closed(conn)).code == 1006


@pytest.mark.asyncio
async def test_nothing_is_left_after_wait_closed() -> None:
    """No task, no open socket, no ResourceWarning once wait_closed returns."""
    async with websocket_server() as server:
        before = asyncio.all_tasks()
        conn = await WebSocketsTransport().connect(server.url)
        conn.send("hello")
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == "hello"
        sock = ClientSocket(conn)
        conn.close()
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        assert {t for t in asyncio.all_tasks() - before if not foreign_task(t)} == set()
        assert sock.closed
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del conn
            gc.collect()
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.asyncio
async def test_last_data_at_moves_while_a_message_is_still_arriving() -> None:
    """The manager counts a slow large frame's bytes as activity: they must show."""
    first_sent, release = asyncio.Event(), asyncio.Event()

    async def in_two_fragments(ws: ServerConnection) -> None:
        await ws.recv()  # the client is ready to look

        async def parts() -> AsyncIterator[str]:
            yield "first half, "
            first_sent.set()
            await release.wait()
            yield "second half"

        await ws.send(parts())
        await ws.wait_closed()

    async with websocket_server(in_two_fragments) as server:
        conn = await WebSocketsTransport().connect(server.url)
        try:

            def data_seen() -> bool:
                return conn.last_data_at is not None

            assert not data_seen()  # the handshake is not data
            receiving = asyncio.ensure_future(conn.recv())
            conn.send("go")
            async with asyncio.timeout(TIMEOUT):
                await first_sent.wait()
            await until(data_seen, "the first fragment's bytes")
            assert not receiving.done(), "the message is not complete yet"
            release.set()
            async with asyncio.timeout(TIMEOUT):
                assert await receiving == "first half, second half"
        finally:
            release.set()
            await close(conn)


# --------------------------------------------------------------------------- secrets


@pytest.mark.asyncio
async def test_websockets_alone_would_log_the_token(
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    """Control: the threat is real, so the redaction test below can fail."""
    token = "tok_" + secrets.token_urlsafe(24)
    async with (
        websocket_server() as server,
        websockets.asyncio.client.connect(server.url, proxy=None) as ws,
    ):
        await ws.send(f'{{"type":"Authenticate","value":"{token}"}}')
        await ws.recv()
    logged = "\n".join(record.getMessage() for record in every_logger_at_debug.records)
    assert leaks(logged, fragments(token))


@pytest.mark.asyncio
async def test_no_token_in_logs_exceptions_or_reprs(
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    token = "tok_" + secrets.token_urlsafe(24)
    frame = f'{{"type":"Authenticate","tokenType":"User","value":"{token}"}}'
    headers = {"Convex-Client": "syncwire-0.1.0", "Authorization": f"Bearer {token}"}
    texts: list[str] = []  # every exception text and repr the test sees

    def remember(error: BaseException) -> None:
        texts.extend([str(error), repr(error), "".join(traceback.format_exception(error))])

    def reject_with_token(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/reject"):
            response = connection.respond(HTTPStatus.UNAUTHORIZED, f"bad token {token}\n")
            response.headers["X-Echo"] = token
            return response
        return None

    def corrupt_accept(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        if request.path.startswith("/corrupt"):
            del response.headers["Sec-WebSocket-Accept"]
            response.headers["Sec-WebSocket-Accept"] = token  # websockets quotes it in errors
        return None

    async def echo_then_oversize(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)
            await ws.send(message * 40)  # over the 1 KiB limit: the client must fail

    async with websocket_server(
        echo_then_oversize, process_request=reject_with_token, process_response=corrupt_accept
    ) as server:
        transport = WebSocketsTransport(headers=headers, max_message_size=1024)
        texts.append(repr(transport))
        conn = await transport.connect(f"{server.url}?token={token}")
        texts.append(repr(conn))
        conn.send(frame)
        async with asyncio.timeout(TIMEOUT):
            assert await conn.recv() == frame
        remember(await recv_closed(conn))  # 1009 with the token in the oversized frame
        conn.close()
        with pytest.raises(SendError) as send_failed:
            conn.send(frame)
        remember(send_failed.value)
        await close(conn)
        texts.append(repr(conn))

        with pytest.raises(TransportError) as rejected:
            await transport.connect(server.url.replace("/api/sync", f"/reject?{token}"))
        remember(rejected.value)
        with pytest.raises(TransportError, match="Sec-WebSocket-Accept") as corrupted:
            await transport.connect(server.url.replace("/api/sync", "/corrupt"))
        remember(corrupted.value)

    pieces = fragments(token)
    records = every_logger_at_debug.records
    # The log really was at DEBUG and carried the frames, by size only: the frame
    # sent and its echo, as the adapter rewrote websockets' arguments (whatever
    # websockets' own wording around them).
    logged = [record.args for record in records if record.name == LOGGER_NAME]
    assert logged.count((f"TEXT [{len(frame)} bytes]",)) >= 2
    assert ("Authorization", "[redacted]") in logged
    for record in records:
        rendered = record.getMessage()
        if record.exc_info:
            rendered += logging.Formatter().formatException(record.exc_info)
        assert not leaks(rendered, pieces), (record.name, rendered)
    for text in texts:
        assert not leaks(text, pieces), text
    assert "Authorization" in repr(transport)
