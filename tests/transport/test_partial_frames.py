"""Bytes of one large frame still arriving count as activity, on every transport.

The manager's inactivity timer must not take a large Transition on a slow link
for a silent server: ``last_data_at`` has to move while the frame's payload is
still arriving, before the frame is complete. A raw server answers the handshake, waits
for the client's first frame (a sync client speaks first: Connect), writes the
frame's header and half its payload, waits, then writes the rest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib.util
from collections.abc import AsyncIterator
from collections.abc import Callable

import pytest

from syncwire.transport.base import Transport
from syncwire.transport.websockets import WebSocketsTransport
from tests.helpers import until
from tests.transport.servers import TIMEOUT

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAYLOAD = b"x" * 200_000
"""Far larger than any control frame (at most 131 bytes with its header)."""


def _picows() -> Transport:
    from syncwire.transport.picows import PicowsTransport

    return PicowsTransport(compression=False)


TRANSPORTS = [
    pytest.param(lambda: WebSocketsTransport(compression=False), id="websockets"),
    pytest.param(
        _picows,
        id="picows",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("picows") is None,
            reason="the fast extra (picows) is not installed",
        ),
    ),
]


@contextlib.asynccontextmanager
async def half_then_rest(
    first_half_sent: asyncio.Event, release: asyncio.Event
) -> AsyncIterator[str]:
    """A server that sends one text frame in two writes, the second on ``release``."""
    header = bytes((0x81, 127)) + len(PAYLOAD).to_bytes(8, "big")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())  # noqa: S324 - RFC 6455
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            await writer.drain()
            # The client speaks first, as a sync client does (Connect): "go", masked.
            await reader.readexactly(2 + 4 + 2)
            half = len(PAYLOAD) // 2
            writer.write(header + PAYLOAD[:half])
            await writer.drain()
            first_half_sent.set()
            await release.wait()
            writer.write(PAYLOAD[half:])
            await writer.drain()
            await reader.read(1)  # the client's close frame: end the connection
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/api/sync"
    finally:
        release.set()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
@pytest.mark.parametrize("make", TRANSPORTS)
async def test_last_data_at_moves_before_a_large_frame_is_complete(
    make: Callable[[], Transport],
) -> None:
    first_half_sent, release = asyncio.Event(), asyncio.Event()
    async with half_then_rest(first_half_sent, release) as url:
        conn = await make().connect(url)
        try:
            assert conn.last_data_at is None  # the handshake is not data
            receiving = asyncio.ensure_future(conn.recv())
            conn.send("go")
            async with asyncio.timeout(TIMEOUT):
                await first_half_sent.wait()
            await until(lambda: conn.last_data_at is not None, "bytes of the frame to count")
            assert not receiving.done(), "the frame is not complete yet"
            release.set()
            async with asyncio.timeout(TIMEOUT):
                assert await receiving == PAYLOAD.decode()
        finally:
            release.set()
            conn.close()
            async with asyncio.timeout(TIMEOUT):
                await conn.wait_closed()
