"""What only the default transport (``WebSocketsTransport``) shows; the contract every
transport keeps is in ``test_conformance.py``, which holds this one to it too."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import websockets.asyncio.client
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request
from websockets.http11 import Response

from syncwire.errors import ConnectError
from syncwire.errors import ConnectionClosedError
from syncwire.errors import SendError
from syncwire.transport.websockets import WebSocketsTransport
from tests.helpers import fragments
from tests.helpers import leaks
from tests.transport.servers import TIMEOUT
from tests.transport.servers import websocket_server
from tests.transports import WEBSOCKETS


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["write raises", "transport closes"])
async def test_write_error_during_send_raises_send_failed(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A socket error while writing surfaces from send, and the connection ends.

    asyncio's own transports report a failed ``sock.send`` by closing themselves
    (``_fatal_error``) rather than raising; both shapes are simulated on the asyncio
    transport, which this transport hands every frame to. (picows writes to the
    socket itself while asyncio's buffer is empty: the conformance suite fails a
    real socket under both.)
    """
    async with websocket_server() as server:
        conn = await WebSocketsTransport().connect(server.url)
        transport = WEBSOCKETS.asyncio_transport(conn)

        def broken_write(data: bytes) -> None:
            if how == "write raises":
                raise ConnectionResetError(104, "Connection reset by peer")
            transport.abort()

        monkeypatch.setattr(transport, "write", broken_write)
        with pytest.raises(SendError, match="write failed") as info:
            conn.send("doomed")
        assert "doomed" not in str(info.value)
        async with asyncio.timeout(TIMEOUT):
            with pytest.raises(ConnectionClosedError) as closed:
                await conn.recv()
            assert closed.value.code == 1006
            conn.close()
            await conn.wait_closed()


@pytest.mark.asyncio
async def test_a_corrupt_accept_header_is_named() -> None:
    """The handshake failure names the header (``ConnectError.cause`` is the same on
    every transport: see the redaction test in test_conformance.py)."""

    def corrupt_accept(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        del response.headers["Sec-WebSocket-Accept"]
        response.headers["Sec-WebSocket-Accept"] = "AAAA"
        return None

    async with websocket_server(process_response=corrupt_accept) as server:
        with pytest.raises(ConnectError, match="Sec-WebSocket-Accept"):
            await WebSocketsTransport().connect(server.url)


@pytest.mark.asyncio
async def test_websockets_alone_would_log_the_token(
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    """Control: the threat is real, so the redaction test in test_conformance.py can fail."""
    token = "tok_" + secrets.token_urlsafe(24)
    async with (
        websocket_server() as server,
        websockets.asyncio.client.connect(server.url, proxy=None) as ws,
    ):
        await ws.send(f'{{"type":"Authenticate","value":"{token}"}}')
        await ws.recv()
    logged = "\n".join(record.getMessage() for record in every_logger_at_debug.records)
    assert leaks(logged, fragments(token))
