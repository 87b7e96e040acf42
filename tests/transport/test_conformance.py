"""The transport contract (``syncwire.transport.base``), end to end against real local
servers, for every shipped transport: each test runs once per kind in
``tests/transports.py`` (ids ``websockets`` and ``picows``).

Written against ``Transport``/``TransportConnection`` wherever the contract alone
decides; the few that must look inside (the OS socket, the asyncio transport's
write buffer and reading state, the message queue) do it through the kind's
adapters. What only one library shows (that it alone would log a token, a proxy
scheme it cannot use) stays in ``test_websockets.py`` / ``test_picows.py``.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import secrets
import socket
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

from syncwire.errors import ConnectError
from syncwire.errors import ConnectionClosedError
from syncwire.errors import InvalidFrameError
from syncwire.errors import MessageTooLargeError
from syncwire.errors import ProtocolError
from syncwire.errors import SendError
from syncwire.errors import TransportError
from syncwire.errors import UnexpectedBinaryFrameError
from syncwire.protocol import MutationResponse
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_server_message
from syncwire.transport.base import Transport
from syncwire.transport.base import TransportConnection
from syncwire.transport.common import BYTES_FROM
from syncwire.transport.common import MAX_CONTROL_FRAME
from syncwire.transport.websockets import WebSocketsTransport
from tests.helpers import fragments
from tests.helpers import leaks
from tests.helpers import until
from tests.transport.servers import TIMEOUT
from tests.transport.servers import closed_port
from tests.transport.servers import connect_proxy
from tests.transport.servers import handshake_response
from tests.transport.servers import raw_server
from tests.transport.servers import silent_server
from tests.transport.servers import websocket_server
from tests.transports import EXACT_LIMIT_ON_DEFLATED_FRAGMENTS
from tests.transports import REPORTS_PARTIAL_FRAMES
from tests.transports import Kind

Make = Callable[..., Transport]

# --------------------------------------------------------------------------- helpers


async def connect(make: Make, url: str, **options: object) -> TransportConnection:
    async with asyncio.timeout(TIMEOUT):
        return await make(**options).connect(url)


async def recv_text(conn: TransportConnection) -> str | bytes:
    async with asyncio.timeout(TIMEOUT):
        return await conn.recv()


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


def client_tasks(before: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    """Tasks started since ``before``, but the test server's (which outlive the client
    by design)."""

    def foreign(task: asyncio.Task[object]) -> bool:
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        return filename.endswith(("websockets/asyncio/server.py", "tests/transport/servers.py"))

    return {task for task in asyncio.all_tasks() - before if not foreign(task)}


def write_raw(ws: ServerConnection, data: bytes) -> None:
    """Bytes straight onto the server's socket: frames websockets would never send."""
    ws.transport.write(data)


# --------------------------------------------------------------------------- interface


def test_matches_the_transport_interface(transport_kind: Kind) -> None:
    """Same names, parameters, defaults and async-ness as the Protocols in base.py."""
    transport: Transport = transport_kind.make()
    pairs = [(Transport, type(transport)), (TransportConnection, transport_kind.connection_type)]
    for protocol, impl in pairs:
        for name in ("connect",) if protocol is Transport else ("send", "recv", "close"):
            expected, actual = getattr(protocol, name), getattr(impl, name)
            assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected)
            assert list(inspect.signature(actual).parameters.values()) == list(
                inspect.signature(expected).parameters.values()
            ), name
    assert inspect.iscoroutinefunction(transport_kind.connection_type.wait_closed)


def test_same_keyword_options_as_the_default_transport(transport_kind: Kind) -> None:
    ours = inspect.signature(transport_kind.transport_type).parameters
    default = inspect.signature(WebSocketsTransport).parameters
    assert list(ours.values()) == list(default.values())


def test_constructor_rejects_bad_options(make_transport: Make) -> None:
    with pytest.raises(ValueError, match="max_message_size"):
        make_transport(max_message_size=0)
    with pytest.raises(ValueError, match="close_timeout"):
        make_transport(close_timeout=0)
    with pytest.raises(ValueError, match="proxy scheme"):
        make_transport(proxy="ftp://proxy.example:21")
    with pytest.raises(ValueError, match="CR or LF"):
        make_transport(headers={"Convex-Client": "x\r\nInjected: yes"})


# --------------------------------------------------------------------------- round trips


@pytest.mark.asyncio
@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_send_and_recv_round_trip(make_transport: Make, compression: bool) -> None:
    async with websocket_server() as server:
        conn = await connect(make_transport, server.url, compression=compression)
        try:
            for text in ('{"type":"Connect"}', "", "é✓ unicode", "x" * 100_000, "y" * 70_000):
                conn.send(text)
                assert await recv_text(conn) == text
        finally:
            await close(conn)
    (request,) = server.requests
    offered = request.headers.get("Sec-WebSocket-Extensions", "")
    assert ("permessage-deflate" in offered) == compression


@pytest.mark.asyncio
@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_a_large_message_comes_as_its_bytes_and_the_parser_checks_them(
    make_transport: Make, compression: bool
) -> None:
    """From ``BYTES_FROM`` a text message is handed over as its UTF-8 bytes, never
    decoded to ``str`` here; below, as ``str``. Bad UTF-8 in a large one is then the
    parser's to refuse (``ProtocolError``), as the manager reports it."""
    reply = MutationResponse(
        request_id=7, success=True, result="é" * (BYTES_FROM // 2), ts=1, log_lines=()
    )
    large = encode_server_message(reply)
    assert "é" in large  # UTF-8 on the wire, not escaped
    small = large[: BYTES_FROM // 4]

    async def send_three(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(large)
        await ws.send(small)
        await ws.send(large.encode().replace(b"\xc3\xa9", b"\xc3x", 1), text=True)
        await ws.wait_closed()

    async with websocket_server(send_three) as server:
        conn = await connect(make_transport, server.url, compression=compression)
        try:
            conn.send("go")
            received = await recv_text(conn)
            assert received == large.encode()  # bytes, not str
            assert parse_server_message(received) == reply
            assert await recv_text(conn) == small  # str
            broken = await recv_text(conn)
            assert isinstance(broken, bytes)
            with pytest.raises(ProtocolError, match="UTF-8"):
                parse_server_message(broken)
        finally:
            await close(conn)


@pytest.mark.asyncio
async def test_send_never_blocks_and_keeps_order(make_transport: Make) -> None:
    """A burst of synchronous sends arrives complete and in order."""
    async with websocket_server() as server:
        conn = await connect(make_transport, server.url)
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
async def test_fragmented_messages_are_reassembled(make_transport: Make) -> None:
    async def fragmented(ws: ServerConnection) -> None:
        await ws.send(["frag", "mented ", "é"])
        await ws.send([b"\x00", b"\x01"])  # a fragmented binary message
        await ws.send("after")
        await ws.wait_closed()

    async with websocket_server(fragmented) as server:
        conn = await connect(make_transport, server.url)
        assert await recv_text(conn) == "fragmented é"
        with pytest.raises(UnexpectedBinaryFrameError) as info:
            await recv_text(conn)
        assert info.value.size == 2
        assert await recv_text(conn) == "after"
        await close(conn)


@pytest.mark.asyncio
async def test_headers_and_user_agent_are_sent(make_transport: Make) -> None:
    async with websocket_server() as server:
        conn = await connect(
            make_transport, server.url, headers={"Convex-Client": "syncwire-0.1.0"}
        )
        await close(conn)
    (request,) = server.requests
    assert request.headers["Convex-Client"] == "syncwire-0.1.0"
    assert request.headers["User-Agent"].startswith("syncwire/")
    assert request.path == "/api/sync"


@pytest.mark.asyncio
async def test_server_pings_are_answered(make_transport: Make) -> None:
    """The client sends no keepalive pings of its own but still answers the server's."""
    latency: list[float] = []

    async def ping_then_echo(ws: ServerConnection) -> None:
        pong = await ws.ping(b"are you there")
        latency.append(await asyncio.wait_for(pong, TIMEOUT))
        await ws.send("pinged")
        async for message in ws:
            await ws.send(message)

    async with websocket_server(ping_then_echo) as server:
        conn = await connect(make_transport, server.url)
        assert await recv_text(conn) == "pinged"
        conn.send("still here")
        assert await recv_text(conn) == "still here"
        await close(conn)
    assert len(latency) == 1


@pytest.mark.asyncio
async def test_no_keepalive_pings_from_the_client(make_transport: Make) -> None:
    """The manager owns liveness: an open connection runs no task (no keepalive loop)."""
    async with websocket_server() as server:
        before = asyncio.all_tasks()
        conn = await connect(make_transport, server.url)
        conn.send("hello")
        assert await recv_text(conn) == "hello"
        assert client_tasks(before) == set()
        await close(conn)


# --------------------------------------------------------------------------- how it ends


@pytest.mark.asyncio
async def test_server_close_code_and_reason(make_transport: Make) -> None:
    async def close_after_one(ws: ServerConnection) -> None:
        await ws.send("last words")
        await ws.close(1013, "SubscriptionsWorkerFullError")

    async with websocket_server(close_after_one) as server:
        conn = await connect(make_transport, server.url)
        assert await recv_text(conn) == "last words"  # frames before the close come first
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (1013, "SubscriptionsWorkerFullError")
        assert not isinstance(closed, InvalidFrameError)
        again = await recv_closed(conn)  # the end is sticky
        assert again.code == 1013
        await close(conn)
        async with asyncio.timeout(TIMEOUT):
            await server.handler_finished.wait()  # the server saw the handshake complete


@pytest.mark.asyncio
async def test_application_close_code(make_transport: Make) -> None:
    async def close_4000(ws: ServerConnection) -> None:
        await ws.close(4000, "bye")

    async with websocket_server(close_4000) as server:
        conn = await connect(make_transport, server.url)
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (4000, "bye")
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
    make_transport: Make, handler: Callable[[ServerConnection], Awaitable[None]], code: int
) -> None:
    async with websocket_server(handler) as server:
        conn = await connect(make_transport, server.url)
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (code, "")
        await close(conn)


@pytest.mark.asyncio
async def test_binary_frame_is_reported_and_connection_survives(make_transport: Make) -> None:
    async def binary_then_echo(ws: ServerConnection) -> None:
        await ws.send(b"\x00\x01\x02")
        async for message in ws:
            await ws.send(message)

    async with websocket_server(binary_then_echo) as server:
        conn = await connect(make_transport, server.url)
        with pytest.raises(UnexpectedBinaryFrameError) as info:
            await recv_text(conn)
        assert info.value.size == 3
        conn.send("still here")
        assert await recv_text(conn) == "still here"
        await close(conn)


async def check_max_message_size(make: Make, *, compression: bool, fragmented: bool) -> None:
    """1024 bytes pass, 1025 end the connection with 1009; with deflate the limit
    applies to the decompressed size (1025 'y's compress to a few bytes)."""
    close_codes: list[int | None] = []

    async def sizes(ws: ServerConnection) -> None:
        if fragmented:
            # websockets sends a list as its items, then an empty final fragment.
            await ws.send(["x" * 512, "x" * 512])
            await ws.send(["y" * 512, "y" * 513])
        else:
            await ws.send("x" * 1024)
            await ws.send("y" * 1025)
        await ws.wait_closed()
        close_codes.append(ws.close_code)

    async with websocket_server(sizes) as server:
        conn = await connect(make, server.url, max_message_size=1024, compression=compression)
        assert await recv_text(conn) == "x" * 1024
        closed = await recv_closed(conn)
        assert isinstance(closed, MessageTooLargeError)
        assert closed.code == 1009
        assert "y" * 8 not in str(closed)
        await close(conn)
        async with asyncio.timeout(TIMEOUT):
            await server.handler_finished.wait()
    assert close_codes == [1009]  # the peer is told why


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("compression", "fragmented"),
    [
        pytest.param(True, False, id="one-frame-deflate"),
        pytest.param(False, False, id="one-frame-plain"),
        pytest.param(False, True, id="fragments-plain"),
    ],
)
async def test_max_message_size_is_inclusive_and_enforced(
    make_transport: Make, compression: bool, fragmented: bool
) -> None:
    await check_max_message_size(make_transport, compression=compression, fragmented=fragmented)


@pytest.mark.asyncio
@pytest.mark.transport_needs(EXACT_LIMIT_ON_DEFLATED_FRAGMENTS)
async def test_max_message_size_is_inclusive_for_deflated_fragments(make_transport: Make) -> None:
    """The same, the message compressed and in fragments: its last, empty fragment
    still carries a byte of deflate data, which is not a byte of the message."""
    await check_max_message_size(make_transport, compression=True, fragmented=True)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param(b"\x81\x02\xff\xfe", 1007, id="text-not-utf8"),
        pytest.param(b"\x83\x00", 1002, id="reserved-opcode"),
        pytest.param(b"\xc1\x01x", 1002, id="rsv1-without-deflate"),
        pytest.param(b"\x80\x01x", 1002, id="continuation-without-start"),
        pytest.param(b"\x01\x01x\x81\x01y", 1002, id="new-message-inside-a-fragmented-one"),
    ],
)
async def test_bad_input_from_the_peer_is_an_invalid_frame(
    make_transport: Make, raw: bytes, code: int
) -> None:
    async def bad(ws: ServerConnection) -> None:
        await ws.send("good first")
        write_raw(ws, raw)
        await ws.wait_closed()

    async with websocket_server(bad, compression=None) as server:
        conn = await connect(make_transport, server.url)
        assert await recv_text(conn) == "good first"
        closed = await recv_closed(conn)
        assert isinstance(closed, InvalidFrameError)
        assert closed.code == code
        conn.send("dropped, not an error: the connection is over")
        await close(conn)


# --------------------------------------------------------------------------- send failures


@pytest.mark.asyncio
async def test_send_after_close_fails_at_once(make_transport: Make) -> None:
    async with websocket_server() as server:
        conn = await connect(make_transport, server.url)
        conn.close()
        with pytest.raises(SendError):
            conn.send("too late")
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        with pytest.raises(SendError):
            conn.send("later still")


@pytest.mark.asyncio
async def test_send_after_the_server_closed_is_dropped_like_a_browser(make_transport: Make) -> None:
    """The server's close reason, not a send failure, must decide the backoff."""

    async def close_now(ws: ServerConnection) -> None:
        await ws.close(1013, "TooManyConcurrentRequests")

    async with websocket_server(close_now) as server:
        conn = await connect(make_transport, server.url)
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (1013, "TooManyConcurrentRequests")
        conn.send("nobody listens")  # no SendError
        closed = await recv_closed(conn)
        assert closed.reason == "TooManyConcurrentRequests"
        await close(conn)


@pytest.mark.asyncio
async def test_write_error_during_send_raises_send_error(transport_kind: Kind) -> None:
    """A socket that can no longer write (shut down under the transport) fails the
    send, and the connection ends. (``test_websockets.py`` also simulates the two
    ways asyncio's transport reports a failed write; picows writes to the socket
    itself while asyncio's buffer is empty, so only a real failure reaches it.)"""
    async with websocket_server() as server:
        conn = await connect(transport_kind.make, server.url)
        transport_kind.os_socket(conn).shutdown(socket.SHUT_WR)  # every write: EPIPE
        with pytest.raises(SendError, match="write failed") as info:
            conn.send("doomed")
        assert "doomed" not in str(info.value)
        assert (await recv_closed(conn)).code == 1006
        await close(conn)


@pytest.mark.asyncio
async def test_send_rejects_what_is_not_text(make_transport: Make) -> None:
    async with websocket_server() as server:
        conn = await connect(make_transport, server.url)
        with pytest.raises(TypeError):
            conn.send(b"bytes are not text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="surrogate at index 6") as info:
            conn.send("secret\ud800")
        assert "secret" not in repr(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
        conn.send("nothing was sent before")
        assert await recv_text(conn) == "nothing was sent before"
        await close(conn)


@pytest.mark.asyncio
async def test_concurrent_recv_is_a_transport_error(make_transport: Make) -> None:
    async with websocket_server() as server:
        conn = await connect(make_transport, server.url)
        first = asyncio.ensure_future(conn.recv())
        await asyncio.sleep(0)  # let it start waiting
        with pytest.raises(TransportError, match="already"):
            await conn.recv()
        conn.send("for the first")
        async with asyncio.timeout(TIMEOUT):
            assert await first == "for the first"
        await close(conn)


# --------------------------------------------------------------------------- connect failures


@pytest.mark.asyncio
async def test_refused_connection_is_a_connect_error(make_transport: Make) -> None:
    with pytest.raises(ConnectError) as info:
        await connect(make_transport, f"ws://127.0.0.1:{closed_port()}/api/sync")
    # The OS error is kept as the cause (an OSError's text holds no secret).
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert not isinstance(info.value, ConnectionClosedError)
    assert info.value.cause.startswith("connection refused by 127.0.0.1:")


@pytest.mark.asyncio
async def test_http_rejection_is_a_connect_error(make_transport: Make) -> None:
    def forbid(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "no sync for you\n")

    async with websocket_server(process_request=forbid) as server:
        with pytest.raises(ConnectError, match="HTTP 403") as info:
            await connect(make_transport, server.url)
    assert not isinstance(info.value, ConnectionClosedError)
    assert info.value.cause == "the server answered HTTP 403: is this a Convex deployment URL?"


@pytest.mark.asyncio
async def test_unasked_extension_is_refused(make_transport: Make) -> None:
    def add_extension(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        response.headers["Sec-WebSocket-Extensions"] = "x-unknown"
        return None

    async with websocket_server(process_response=add_extension, compression=None) as server:
        for compression in (False, True):
            with pytest.raises(ConnectError, match=r"^WebSocket handshake failed") as info:
                await connect(make_transport, server.url, compression=compression)
            assert info.value.cause == (
                f"127.0.0.1:{server.port} did not answer with a WebSocket handshake: "
                "is this a Convex deployment URL?"
            )


@pytest.mark.asyncio
async def test_a_plain_permessage_deflate_answer_is_accepted(make_transport: Make) -> None:
    """The offer names no server window, so a server may accept it without one
    (RFC 7692 §7.1.2.1 would oblige it to answer a server_max_window_bits it was offered)."""

    def accept_plainly(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        response.headers["Sec-WebSocket-Extensions"] = "permessage-deflate"
        return None

    async def greet(ws: ServerConnection) -> None:
        await ws.send("uncompressed, as permessage-deflate allows")
        await ws.wait_closed()

    async with websocket_server(greet, process_response=accept_plainly, compression=None) as server:
        conn = await connect(make_transport, server.url)
        assert await recv_text(conn) == "uncompressed, as permessage-deflate allows"
        await close(conn)
    (request,) = server.requests
    assert "server_max_window_bits" not in request.headers["Sec-WebSocket-Extensions"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/", "https://example.com/", "127.0.0.1:80", "", "ws:/x"]
)
async def test_bad_url_is_a_value_error(make_transport: Make, url: str) -> None:
    with pytest.raises(ValueError, match=r"ws://|URL"):
        await make_transport().connect(url)


@pytest.mark.asyncio
async def test_ssl_context_with_plain_ws_is_a_value_error(make_transport: Make) -> None:
    transport = make_transport(ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="wss://"):
        await transport.connect("ws://127.0.0.1:1/api/sync")


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.asyncio
async def test_tls_is_verified_by_default(transport_kind: Kind, tls_ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_context)
    async with websocket_server(ssl_context=server_context) as server:
        # An unknown CA: the default context must refuse it.
        with pytest.raises(ConnectError) as refused:
            await connect(transport_kind.make, server.url)
        assert str(refused.value).startswith(
            "TLS certificate verification failed: "
            "the server's certificate is not signed by a trusted CA"
        )
        assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
        # Trusting the CA explicitly is how a caller changes verification.
        client_context = ssl.create_default_context()
        tls_ca.configure_trust(client_context)
        conn = await connect(transport_kind.make, server.url, ssl=client_context)
        sock = transport_kind.os_socket(conn)
        conn.send("over tls")
        assert await recv_text(conn) == "over tls"
        await close(conn)
        assert sock.fileno() == -1


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_cancelled_connect_leaves_nothing_open(make_transport: Make, scheme: str) -> None:
    """Cancelled while the server sits on the HTTP (ws) or TLS (wss) handshake."""
    async with silent_server() as server:
        before = asyncio.all_tasks()
        url = server.url.replace("ws://", f"{scheme}://")
        connecting = asyncio.create_task(make_transport().connect(url))
        async with asyncio.timeout(TIMEOUT):
            await server.accepted.wait()  # TCP is up, the handshake hangs
        assert not connecting.done()
        connecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await connecting
        async with asyncio.timeout(TIMEOUT):
            await server.client_gone.wait()  # the client's socket was closed
        assert client_tasks(before) == set()


@pytest.mark.asyncio
async def test_proxy_from_the_environment_is_ignored(
    make_transport: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("ws_proxy", "http_proxy", "https_proxy", "all_proxy", "socks_proxy"):
        monkeypatch.setenv(name, dead_proxy)
        monkeypatch.setenv(name.upper(), dead_proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    async with websocket_server() as server:
        # Control: a client that reads the environment (websockets' own default) would
        # use the dead proxy and fail.
        with pytest.raises(ConnectionRefusedError):
            await websockets.asyncio.client.connect(server.url, open_timeout=TIMEOUT)
        await close(await connect(make_transport, server.url))


@pytest.mark.asyncio
async def test_explicit_proxy_is_used(make_transport: Make) -> None:
    async with websocket_server() as server, connect_proxy() as proxy:
        conn = await connect(make_transport, server.url, proxy=proxy.url)
        conn.send("via proxy")
        assert await recv_text(conn) == "via proxy"
        await close(conn)
    assert proxy.requests == [f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"]


# --------------------------------------------------------------------------- closing


@pytest.mark.asyncio
async def test_close_is_idempotent_and_validates_its_arguments(make_transport: Make) -> None:
    async with websocket_server() as server:
        conn = await connect(make_transport, server.url)
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
async def test_wait_closed_is_bounded_when_the_peer_never_answers(transport_kind: Kind) -> None:
    async with silent_server(handshake=True) as server:
        transport = transport_kind.make(close_timeout=0.2, compression=False)
        loop = asyncio.get_running_loop()

        # close() sent, no echo ever comes: aborted after close_timeout.
        conn = await transport.connect(server.url)
        sock = transport_kind.os_socket(conn)
        started = loop.time()
        conn.close()
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        assert 0.15 <= loop.time() - started < TIMEOUT
        assert sock.fileno() == -1
        async with asyncio.timeout(TIMEOUT):
            await server.client_gone.wait()
        assert (await recv_closed(conn)).code == 1000  # the code we sent

        # No close() and the peer never closes: wait_closed aborts after close_timeout.
        server.client_gone.clear()
        conn = await transport.connect(server.url)
        sock = transport_kind.os_socket(conn)
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        assert sock.fileno() == -1
        assert (await recv_closed(conn)).code == 1006


@pytest.mark.asyncio
async def test_nothing_is_left_after_wait_closed(transport_kind: Kind) -> None:
    """No task, no timer, no open socket, no ResourceWarning once wait_closed returns."""
    async with websocket_server() as server:
        before = asyncio.all_tasks()
        conn = await connect(transport_kind.make, server.url)
        conn.send("hello")
        assert await recv_text(conn) == "hello"
        sock = transport_kind.os_socket(conn)
        conn.close()
        async with asyncio.timeout(TIMEOUT):
            await conn.wait_closed()
        assert client_tasks(before) == set()
        assert not transport_kind.abort_pending(conn)
        assert sock.fileno() == -1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del conn
            gc.collect()
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# --------------------------------------------------------------------------- activity


@pytest.mark.asyncio
async def test_last_data_at_moves_while_a_message_is_still_arriving(make_transport: Make) -> None:
    """The manager counts a slow large message's bytes as activity: they must show,
    here as a first fragment whose message is not complete yet."""
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
        conn = await connect(make_transport, server.url)
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


@pytest.mark.asyncio
@pytest.mark.transport_needs(REPORTS_PARTIAL_FRAMES)
async def test_last_data_at_moves_while_one_frame_is_still_arriving(make_transport: Make) -> None:
    """The same within one frame (a large Transition is one frame): its first bytes
    count as activity before the frame is complete. The server writes a 64 KiB text
    frame's header and its first 4 KiB, and the rest only once the client saw them."""
    size, first = 65_536, 4096
    assert first > MAX_CONTROL_FRAME  # more bytes than any control frame could hold
    payload = b"x" * size
    head = b"\x81\x7f" + size.to_bytes(8, "big")  # FIN, TEXT, a 64-bit length
    release = asyncio.Event()

    async def half_a_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(handshake_response(await reader.readuntil(b"\r\n\r\n")))
        await reader.read(1)  # the client's first frame: it is open, its reads are frames'
        writer.write(head + payload[:first])
        await release.wait()
        writer.write(payload[first:])
        await reader.read()  # until the client leaves

    async with raw_server(half_a_frame) as url:
        conn = await connect(make_transport, url, compression=False, close_timeout=0.2)
        receiving = asyncio.ensure_future(conn.recv())
        try:
            assert conn.last_data_at is None  # the handshake is not data
            conn.send("go")
            # A bound only a transport that never reports the bytes misses.
            await until(
                lambda: conn.last_data_at is not None,
                "the first bytes of the frame to count as data",
                deadline=TIMEOUT,
            )
            assert not receiving.done(), "the frame is not complete yet"
            release.set()
            async with asyncio.timeout(TIMEOUT):
                assert await receiving == payload.decode()
        finally:
            release.set()
            receiving.cancel()
            await close(conn)


# --------------------------------------------------------------------------- flow control


@pytest.mark.asyncio
async def test_reading_stops_while_the_write_buffer_is_full(
    transport_kind: Kind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that floods pings and never reads the pongs cannot grow our memory.

    Looks inside: the asyncio transport's write buffer and reading state.
    """
    limit = 256 * 1024
    monkeypatch.setattr(transport_kind.transport_module, "MAX_WRITE_BUFFER", limit)
    ping = b"\x89\x7d" + b"p" * 125  # 127 bytes; its masked pong is 131
    # ~15 MB of pings: ~16 MB of pongs, far over the limit and over what the kernel's
    # buffers take (a few MB here) before any is left to the transport.
    flood = ping * 120_000
    read_now = asyncio.Event()

    async def flood_unread(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(handshake_response(await reader.readuntil(b"\r\n\r\n")))
        writer.write(flood)
        await read_now.wait()  # never reads until told to
        while await reader.read(2**20):
            pass

    async with raw_server(flood_unread) as url:
        try:
            # This peer never answers a close: do not wait for it long.
            conn = await connect(transport_kind.make, url, compression=False, close_timeout=0.2)
            underlying = transport_kind.asyncio_transport(conn)
            await until(lambda: not underlying.is_reading(), "reading to pause")
            # The pongs of the read in progress may follow the check, nothing like 16 MB:
            # picows hands over a whole read at once, and its read buffer grows (it
            # doubles whenever a read fills it): about 1 MB of pongs was seen here.
            assert underlying.get_write_buffer_size() <= limit + 2 * 2**20
            read_now.set()
            await until(underlying.is_reading, "reading to resume once the server reads")
            await close(conn)
        finally:
            read_now.set()


@pytest.mark.asyncio
async def test_reading_stops_while_messages_wait_to_be_read(transport_kind: Kind) -> None:
    messages = [f"{i:04}" + "m" * 4000 for i in range(1000)]  # 4 MB: many reads' worth

    async def burst(ws: ServerConnection) -> None:
        for message in messages:
            await ws.send(message)
        await ws.wait_closed()

    async with websocket_server(burst, compression=None) as server:
        conn = await connect(transport_kind.make, server.url, compression=False)
        underlying = transport_kind.asyncio_transport(conn)
        await until(lambda: not underlying.is_reading(), "reading to pause")
        # The rest waits in the kernel.
        assert transport_kind.queued(conn) < len(messages) // 2
        received = [await recv_text(conn) for _ in messages]
        assert received == messages
        assert underlying.is_reading()
        await close(conn)


# --------------------------------------------------------------------------- secrets


@pytest.mark.asyncio
async def test_no_token_in_logs_exceptions_or_reprs(
    transport_kind: Kind, every_logger_at_debug: pytest.LogCaptureFixture
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
        if request.path.startswith("/redirect"):
            response = connection.respond(HTTPStatus.FOUND, "")
            response.headers["Location"] = f"/api/sync?token={token}"
            return response
        return None

    def corrupt_accept(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        if request.path.startswith("/corrupt"):
            del response.headers["Sec-WebSocket-Accept"]
            response.headers["Sec-WebSocket-Accept"] = token  # libraries quote it in errors
        return None

    async def echo_then_oversize(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)
            await ws.ping(message.encode()[:125] if isinstance(message, str) else b"")
            await ws.send(message * 40)  # over the 1 KiB limit: the client must fail

    async with websocket_server(
        echo_then_oversize, process_request=reject_with_token, process_response=corrupt_accept
    ) as server:
        transport = transport_kind.make(headers=headers, max_message_size=1024)
        texts.append(repr(transport))
        conn = await transport.connect(f"{server.url}?token={token}")
        texts.append(repr(conn))
        conn.send(frame)
        assert await recv_text(conn) == frame
        remember(await recv_closed(conn))  # 1009 with the token in the oversized frame
        conn.close()
        with pytest.raises(SendError) as send_failed:
            conn.send(frame)
        remember(send_failed.value)
        await close(conn)
        texts.append(repr(conn))

        where = f"127.0.0.1:{server.port}"
        for path, cause in (
            (f"/reject?{token}", "the server answered HTTP 401: is this a Convex deployment URL?"),
            ("/redirect", "the server answered HTTP 302: is this a Convex deployment URL?"),
            (
                "/corrupt",
                f"{where} did not answer with a WebSocket handshake: "
                "is this a Convex deployment URL?",
            ),
        ):
            with pytest.raises(ConnectError) as failed:
                await transport.connect(server.url.replace("/api/sync", path))
            assert failed.value.cause == cause  # not followed, not accepted
            remember(failed.value)

    pieces = fragments(token)
    records = every_logger_at_debug.records
    # Control: the transport's log really was at its lowest level and carried this
    # traffic, by size only (the frame sent and its echo, the Authorization header).
    assert transport_kind.log_shows_traffic(records, frame, header="Authorization", times=2)
    for record in records:
        rendered = record.getMessage()
        if record.exc_info:
            rendered += logging.Formatter().formatException(record.exc_info)
        assert not leaks(rendered, pieces), (record.name, rendered)
    for text in texts:
        assert not leaks(text, pieces), text
    assert "Authorization" in repr(transport)
