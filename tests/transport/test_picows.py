"""What only the fast transport (``PicowsTransport``, the ``fast`` extra) shows; the
contract every transport keeps is in ``test_conformance.py``, which holds this one
to it too."""

from __future__ import annotations

import secrets

import pytest

pytest.importorskip("picows", reason="the fast extra (picows) is not installed")

from picows import WSCloseCode
from picows import WSListener
from picows import ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request
from websockets.http11 import Response

from syncwire.errors import ConnectError
from syncwire.transport.picows import PicowsTransport
from tests.helpers import fragments
from tests.helpers import leaks
from tests.transport.servers import websocket_server


def test_a_proxy_picows_cannot_use_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"proxy scheme .socks5h.: use http, https") as info:
        PicowsTransport(proxy="socks5h://127.0.0.1:1080")
    assert "socks5h" in str(info.value)


@pytest.mark.asyncio
async def test_an_unasked_extension_is_named() -> None:
    """The handshake failure names the header (``ConnectError.cause`` is the same on
    every transport: see test_conformance.py)."""

    def add_extension(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        response.headers["Sec-WebSocket-Extensions"] = "x-unknown"
        return None

    async with websocket_server(process_response=add_extension, compression=None) as server:
        for compression in (False, True):
            with pytest.raises(ConnectError, match="Extensions"):
                await PicowsTransport(compression=compression).connect(server.url)


@pytest.mark.asyncio
async def test_picows_alone_would_log_the_token(
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    """Control: the threat is real, so the redaction test in test_conformance.py can
    fail (picows logs the upgrade request below DEBUG, which that fixture captures)."""
    token = "tok_" + secrets.token_urlsafe(24)

    class Quiet(WSListener):
        pass

    async with websocket_server() as server:
        transport, _ = await ws_connect(
            Quiet, f"{server.url}?token={token}", extra_headers={"Authorization": token}
        )
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()
        await transport.wait_disconnected()
    logged = "\n".join(record.getMessage() for record in every_logger_at_debug.records)
    assert leaks(logged, fragments(token))
