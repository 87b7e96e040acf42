"""Reaching a server through an explicit proxy: a connected socket, whatever the transport.

An ``http://`` proxy gets an HTTP ``CONNECT`` (RFC 9110, section 9.3.6) on a
plain non-blocking socket; a ``socks4``/``socks5`` proxy is spoken to by the
optional ``python-socks`` package. Either way the result is a socket already
tunnelled to the server, which a transport then wraps in TLS (for ``wss://``)
and its WebSocket. The proxy is never taken from the environment.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import socket
import urllib.parse
from typing import Final

from syncwire.transport.common import open_socket

__all__ = ["ProxyRefusedError", "open_tunnel"]

_MAX_RESPONSE_HEAD: Final = 64 * 1024
"""Bytes of a proxy's answer to CONNECT read before giving up on it."""


class ProxyRefusedError(ConnectionError):
    """The proxy answered ``CONNECT`` with something other than a 2xx status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the proxy answered HTTP {status}")
        self.status = status


async def open_tunnel(proxy: str, host: str, port: int) -> socket.socket:
    """A non-blocking socket connected through ``proxy`` to ``host:port``.

    Raises ``OSError`` (``ProxyRefusedError`` for a refusal) when the proxy
    cannot be reached or refuses. Cancelling closes the socket.
    """
    parts = urllib.parse.urlsplit(proxy)
    if parts.scheme.lower().startswith("socks"):
        return await _socks_tunnel(proxy, host, port)
    loop = asyncio.get_running_loop()
    sock = await open_socket(parts.hostname or "", parts.port or 80)
    try:
        await loop.sock_sendall(sock, _connect_request(parts, host, port))
        status = await _read_status(loop, sock)
        if not 200 <= status < 300:
            raise ProxyRefusedError(status)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_request(parts: urllib.parse.SplitResult, host: str, port: int) -> bytes:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {credentials}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_status(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> int:
    """The status code of the proxy's answer, read to the blank line that ends it.

    Read one byte at a time: whatever follows the head belongs to the server.
    """
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        if len(head) >= _MAX_RESPONSE_HEAD:
            raise ConnectionError("the proxy's answer to CONNECT is too long")
        byte = await loop.sock_recv(sock, 1)
        if not byte:
            raise ConnectionError("the proxy closed the connection instead of answering")
        head += byte
    version, _, rest = bytes(head).partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ConnectionError("the proxy did not answer in HTTP")
    return int(code)


async def _socks_tunnel(proxy: str, host: str, port: int) -> socket.socket:
    # python-socks is optional (checked when the transport is made): imported by name.
    module = importlib.import_module("python_socks.async_.asyncio")
    sock: socket.socket = await module.Proxy.from_url(proxy).connect(dest_host=host, dest_port=port)
    sock.setblocking(False)
    return sock
