"""What every transport shares, whatever WebSocket library it is built on.

Option checks (so every transport refuses the same bad input with the same
words), the default ``User-Agent``, and the words for a failed connection told
from the operating system's and the TLS layer's exception *types and codes*:
a library's or the OS's message text never decides, and never appears
(it may quote a header, a URL or a payload).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import importlib.util
import ipaddress
import logging
import math
import platform
import socket
import ssl as ssl_module
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Final

from syncwire._version import __version__
from syncwire.redaction import redact_url

__all__ = [
    "BYTES_FROM",
    "DEFAULT_CLOSE_TIMEOUT",
    "MAX_CONTROL_FRAME",
    "MAX_FRAGMENTS",
    "MAX_QUEUE",
    "MAX_READ",
    "MAX_WRITE_BUFFER",
    "PROXY_SCHEMES",
    "TransportOptions",
    "check_header",
    "check_options",
    "check_proxy",
    "default_tls",
    "default_user_agent",
    "describe_os_error",
    "header_items",
    "open_socket",
    "os_connect_cause",
    "warn_if_tls_weakened",
]

DEFAULT_CLOSE_TIMEOUT: Final = 5.0
"""Seconds ``wait_closed`` waits for the closing handshake before aborting the socket."""

# The limits every transport keeps, so that a server meets the same client whichever
# transport runs (the conformance suite in tests/transport checks them on each).
MAX_WRITE_BUFFER: Final = 16 * 2**20
"""Bytes waiting to be written above which reading stops (a server flooding pings
that never reads the pongs cannot grow our memory without bound)."""
MAX_QUEUE: Final = 16
"""Messages received and not yet read above which reading stops (until 4 are left)."""
MAX_FRAGMENTS: Final = 4096
"""Frames one message may arrive in; one more ends the connection with 1009."""
BYTES_FROM: Final = 1 << 20
"""Bytes from which a text message is handed over as its UTF-8 ``bytes`` (``recv``):
the parser reads bytes directly and refuses bad UTF-8 itself, so a large message is
never decoded into a ``str`` (4 bytes a character once it holds one emoji) only to
be encoded back. A smaller one is decoded and checked here (1007 when it is not UTF-8)."""
MAX_READ: Final = 256 * 1024
"""Bytes taken from the socket at a time (asyncio's own read size): a flood is read,
and its pings answered, at the pace of the reads, not in ever larger gulps."""
MAX_CONTROL_FRAME: Final = 2 + 125 + 4
"""Bytes of the largest control frame (header, payload, mask): more bytes of one
frame still arriving can only be a data frame's."""

PROXY_SCHEMES: Final = frozenset({"http", "socks4", "socks4a", "socks5", "socks5h"})
"""Proxy URL schemes ``syncwire.transport.proxy`` speaks (SOCKS with ``python-socks``)."""
# Why OpenSSL refused a certificate, by its X509_V_ERR_* code (numbers fixed in its
# public header), in syncwire's words: the message does not depend on OpenSSL's text.
_UNTRUSTED_ISSUER: Final = frozenset({2, 18, 19, 20, 21})
_OTHER_HOST: Final = frozenset({62, 63, 64})
_EXPIRED: Final = 10
_NAME_NOT_FOUND: Final = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)
_UNREACHABLE: Final = {
    errno.ENETUNREACH: "the network is unreachable",
    errno.EHOSTUNREACH: "the host is unreachable",
    errno.EADDRNOTAVAIL: "the address is not available",
}


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """The options every transport takes, checked once, with the same words for each.

    See ``WebSocketsTransport`` for what each means.
    """

    ssl: ssl_module.SSLContext | None
    max_message_size: int
    proxy: str | None
    headers: tuple[tuple[str, str], ...]
    user_agent: str
    close_timeout: float
    compression: bool

    @classmethod
    def checked(
        cls,
        *,
        ssl: ssl_module.SSLContext | None,
        max_message_size: int,
        proxy: str | None,
        headers: Mapping[str, str] | None,
        user_agent: str | None,
        close_timeout: float,
        compression: bool,
        library: tuple[str, str],
        logger_name: str,
        proxy_schemes: frozenset[str] = PROXY_SCHEMES,
    ) -> TransportOptions:
        """Refuse what the transport cannot honour; ``library`` is (name, version)."""
        check_options(ssl, max_message_size, close_timeout)
        warn_if_tls_weakened(ssl, logger_name)
        if proxy is not None:
            check_proxy(proxy, proxy_schemes)
        if user_agent is not None:
            check_header("User-Agent", user_agent)
        return cls(
            ssl=ssl,
            max_message_size=max_message_size,
            proxy=proxy,
            headers=header_items(headers),
            user_agent=user_agent if user_agent is not None else default_user_agent(*library),
            close_timeout=float(close_timeout),
            compression=bool(compression),
        )

    def __repr__(self) -> str:
        """The options as keyword arguments, with no header value and no proxy secret."""
        names = [name for name, _ in self.headers]
        proxy = redact_url(self.proxy) if self.proxy is not None else None
        return (
            f"ssl={'custom' if self.ssl is not None else 'default'}, "
            f"max_message_size={self.max_message_size}, proxy={proxy!r}, headers={names!r}, "
            f"user_agent={self.user_agent!r}, close_timeout={self.close_timeout}, "
            f"compression={self.compression}"
        )

    def tls_for(self, scheme: str) -> ssl_module.SSLContext | None:
        """The TLS context for a ``ws``/``wss`` URL; ``ValueError`` for ssl with ``ws://``."""
        if scheme == "wss":
            return self.ssl if self.ssl is not None else default_tls()
        if self.ssl is not None:
            raise ValueError("an ssl context was given but the URL is ws://, not wss://")
        return None


@functools.cache
def default_tls() -> ssl_module.SSLContext:
    """One verifying context per process: loading the CA store costs milliseconds."""
    return ssl_module.create_default_context()


def check_options(
    ssl: ssl_module.SSLContext | None, max_message_size: int, close_timeout: float
) -> None:
    """Refuse what no transport can honour, before anything is opened."""
    if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
        raise TypeError("ssl must be an ssl.SSLContext or None")
    if isinstance(max_message_size, bool) or not isinstance(max_message_size, int):
        raise TypeError("max_message_size must be an int")
    if max_message_size < 1:
        raise ValueError("max_message_size must be positive")
    if not (close_timeout > 0 and math.isfinite(close_timeout)):
        raise ValueError("close_timeout must be a positive number of seconds")


def warn_if_tls_weakened(ssl: ssl_module.SSLContext | None, logger_name: str) -> None:
    """A context that skips checks is allowed (a self-signed test server), never silently."""
    if ssl is None:
        return
    if ssl.verify_mode != ssl_module.CERT_REQUIRED or not ssl.check_hostname:
        logging.getLogger(logger_name).warning(
            "TLS verification is weakened by the ssl context given: %s",
            "certificates are not verified"
            if ssl.verify_mode != ssl_module.CERT_REQUIRED
            else "host names are not checked",
        )


def check_proxy(proxy: str, schemes: frozenset[str] = PROXY_SCHEMES) -> None:
    """Refuse a proxy URL whose scheme the transport cannot speak, naming those it can."""
    scheme = urllib.parse.urlsplit(proxy).scheme.lower()
    if scheme not in schemes:
        raise ValueError(
            f"unsupported proxy scheme {scheme!r}: use {', '.join(sorted(schemes))}"
            + (" (TLS to the proxy itself is not supported)" if scheme == "https" else "")
        )
    if scheme.startswith("socks") and importlib.util.find_spec("python_socks") is None:
        raise ValueError("a SOCKS proxy needs the python-socks package")


def check_header(name: str, value: str) -> None:
    """Reject header injection (CR/LF) early; the value is not quoted in the error."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError("header names and values must be str")
    if not name or any(c in name for c in "\r\n:") or any(c in value for c in "\r\n"):
        raise ValueError(f"invalid header {name!r}: names and values cannot hold CR or LF")


def header_items(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """``headers`` as checked pairs, in the order given."""
    items = tuple((headers or {}).items())
    for name, value in items:
        check_header(name, value)
    return items


def default_user_agent(library: str, version: str) -> str:
    python = platform.python_version()
    return f"syncwire/{__version__} Python/{python} {library}/{version}"


# --------------------------------------------------------------------------- errors


def describe_os_error(exc: BaseException) -> str | None:
    """A message for an OS or TLS error, holding no payload; ``None`` for other errors."""
    if isinstance(exc, ssl_module.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None)
        return f"TLS certificate verification failed: {_why_unverified(exc)}" + (
            f" ({detail})" if detail else ""
        )
    if isinstance(exc, OSError | TimeoutError):
        # OS and TLS error texts hold errno, addresses and verification results only.
        detail = str(exc)
        return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return None


def _why_unverified(exc: ssl_module.SSLCertVerificationError) -> str:
    code = getattr(exc, "verify_code", None)
    if code in _UNTRUSTED_ISSUER:
        why = "the server's certificate is not signed by a trusted CA"
    elif code in _OTHER_HOST:
        why = "the server's certificate is for another host"
    elif code == _EXPIRED:
        why = "the server's certificate has expired"
    elif code is not None:
        why = f"OpenSSL verify code {code}"
    else:
        why = "the server's certificate was refused"
    return why


def os_connect_cause(exc: BaseException, where: str) -> str | None:
    """Why connecting to ``where`` (``host:port``) failed, for OS, DNS and TLS errors.

    ``None`` for an error of another kind (the transport's library tells those).
    """
    if isinstance(exc, ssl_module.SSLCertVerificationError):
        return f"TLS failure: the certificate was refused: {_why_unverified(exc)}"
    if isinstance(exc, ssl_module.SSLError):
        reason = getattr(exc, "reason", None)
        return "TLS failure: the TLS handshake failed" + (
            f" ({reason})" if isinstance(reason, str) and reason.isidentifier() else ""
        )
    if isinstance(exc, socket.gaierror):
        host = where.rpartition(":")[0]
        if exc.errno in _NAME_NOT_FOUND:
            return f"DNS failure: the name {host} was not found"
        return f"DNS failure: could not look up {host}"
    if isinstance(exc, TimeoutError):
        return f"timed out connecting to {where}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}: is the server running?"
    if isinstance(exc, ConnectionError):  # reset, aborted, broken pipe
        return f"the connection to {where} was lost during the handshake"
    if isinstance(exc, OSError):
        if exc.errno in _UNREACHABLE:
            return f"cannot reach {where}: {_UNREACHABLE[exc.errno]}"
        name = errno.errorcode.get(exc.errno) if isinstance(exc.errno, int) else None
        return f"cannot connect to {where}" + (f" ({name})" if name else "")
    return None


# --------------------------------------------------------------------------- sockets


async def open_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket connected to ``host:port``, each address in turn.

    A numeric address is used as it is: looking a name up runs in asyncio's
    thread pool, which would start a thread for nothing. Cancelling closes the
    socket being connected.
    """
    loop = asyncio.get_running_loop()
    infos = _numeric(host, port) or await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = error or exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error or OSError(f"no address for {host}")


def _numeric(
    host: str, port: int
) -> list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]]:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return []
    if ip.version == 6:
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0))]
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
