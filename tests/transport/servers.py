"""Local servers for the transport tests, each started on 127.0.0.1:0 and always stopped.

- ``websocket_server``: a real ``websockets`` server running a per-test handler.
- ``silent_server``: accepts TCP (or TLS) connections and never answers (a hung handshake).
- ``connect_proxy``: a minimal HTTP CONNECT proxy, to prove an explicit proxy is used.
- ``raw_server``: plain TCP, for bytes no WebSocket library would send (a frame cut
  in two, a ping flood); ``handshake_response`` (and ``accept_key``) answer the
  opening handshake there. ``closed_port``: a port nobody serves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.http11 import Response

Handler = Callable[[ServerConnection], Awaitable[None]]
ProcessRequest = Callable[[ServerConnection, Request], Response | None]
ProcessResponse = Callable[[ServerConnection, Request, Response], Response | None]

# Bound on every wait in these tests: generous for a loaded CI machine, yet a hang
# fails in seconds instead of never.
TIMEOUT = 5.0

# The peer's own logs are not under test, and at DEBUG they would print the frames
# it receives (the redaction test's sentinel included). A logger outside the
# hierarchy keeps them out of caplog; warnings still reach stderr.
SERVER_LOGGER = logging.Logger("tests.transport.peer", level=logging.WARNING)


@dataclass
class WebSocketServer:
    """A running server: where it listens and what it saw."""

    url: str
    port: int
    requests: list[Request] = field(default_factory=list)
    handlers_done: int = 0
    handler_finished: asyncio.Event = field(default_factory=asyncio.Event)


async def echo(ws: ServerConnection) -> None:
    """Send every message back as it came (text as text, binary as binary)."""
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def websocket_server(
    handler: Handler = echo,
    *,
    process_request: ProcessRequest | None = None,
    process_response: ProcessResponse | None = None,
    ssl_context: ssl.SSLContext | None = None,
    compression: str | None = "deflate",
) -> AsyncIterator[WebSocketServer]:
    """Serve ``handler`` until the block ends; the peer closing first is not an error."""
    info = WebSocketServer(url="", port=0)

    async def run(ws: ServerConnection) -> None:
        try:
            await handler(ws)
        except ConnectionClosed:
            pass
        finally:
            info.handlers_done += 1
            info.handler_finished.set()

    def record(connection: ServerConnection, request: Request) -> Response | None:
        info.requests.append(request)
        return process_request(connection, request) if process_request else None

    async with serve(
        run,
        "127.0.0.1",
        0,
        process_request=record,
        process_response=process_response,
        ssl=ssl_context,
        compression=compression,
        ping_interval=None,
        close_timeout=TIMEOUT,
        logger=SERVER_LOGGER,
    ) as server:
        info.port = server.sockets[0].getsockname()[1]
        info.url = f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{info.port}/api/sync"
        yield info


@dataclass
class SilentServer:
    """Accepts connections, reads, never replies; tells when a client went away."""

    port: int = 0
    accepted: asyncio.Event = field(default_factory=asyncio.Event)
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/sync"


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(request_head: bytes) -> str:
    """The ``Sec-WebSocket-Accept`` that answers the request head ``request_head``."""
    for line in request_head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            digest = hashlib.sha1((value.strip() + _WS_GUID).encode(), usedforsecurity=False)
            return base64.b64encode(digest.digest()).decode()
    raise AssertionError("no Sec-WebSocket-Key in the request")


def handshake_response(request_head: bytes) -> bytes:
    """The 101 that completes the opening handshake of ``request_head``, no extensions."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
        + accept_key(request_head).encode()
        + b"\r\n\r\n"
    )


@contextlib.asynccontextmanager
async def silent_server(
    *, handshake: bool = False, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[SilentServer]:
    """With ``handshake=False`` the opening handshake hangs; with ``True`` it completes
    (without extensions) and then the server ignores everything, close frames included.
    With ``ssl_context`` it speaks TLS first (a client that refuses the certificate
    never gets as far as the handshake)."""
    info = SilentServer()
    writers: list[asyncio.StreamWriter] = []

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            if handshake:
                writer.write(handshake_response(await reader.readuntil(b"\r\n\r\n")))
            info.accepted.set()
            await reader.read()  # until the client closes (EOF) or resets
        info.client_gone.set()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=ssl_context)
    info.port = server.sockets[0].getsockname()[1]
    try:
        yield info
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let on_client tasks see EOF and finish


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[str]:
    """Run ``handler`` on each TCP connection to 127.0.0.1; yields the ``ws://`` URL.
    The peer leaving is not an error; at the end every connection is aborted and
    every handler awaited (cancelled after ``TIMEOUT``)."""
    writers: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[None]] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.append(writer)
        # Python 3.11's start_server logs an error for a handler that ends cancelled.
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            await handler(reader, writer)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/sync"
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()  # close() would first write what is buffered
        if handlers:
            _, late = await asyncio.wait(handlers, timeout=TIMEOUT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        await server.wait_closed()


@dataclass
class ConnectProxy:
    url: str = ""
    requests: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def connect_proxy() -> AsyncIterator[ConnectProxy]:
    """An HTTP proxy that only does CONNECT, and records each request line."""
    info = ConnectProxy()
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line = head.split(b"\r\n", 1)[0].decode()
        info.requests.append(request_line)
        host, _, port = request_line.split()[1].rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        both = [
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ]
        tasks.update(both)
        await asyncio.gather(*both)
        for closing in (writer, up_writer):
            with contextlib.suppress(OSError):
                await closing.wait_closed()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    info.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield info
    finally:
        server.close()
        await server.wait_closed()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
