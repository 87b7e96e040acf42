"""How both HTTP clients set up their httpx pool: one place for the options.

Why apart: ``HttpClient`` and ``ConvexHttpClient`` differ only in httpx's
class (``AsyncClient`` or ``Client``); their pools are configured alike.
TLS uses one verifying context per process, the one the WebSocket transports
use: building one loads the CA store, tens of milliseconds that a one-shot
client (a cron job, a serverless handler) would otherwise pay at every start.
"""

from __future__ import annotations

import functools
import ssl as ssl_module
from typing import Any
from typing import Final

import httpx

from syncwire.transport.common import check_proxy
from syncwire.transport.common import default_tls

__all__ = ["HTTP_PROXY_SCHEMES", "pool_options"]

HTTP_PROXY_SCHEMES: Final = frozenset({"http", "https"})
"""The proxies httpx speaks without an extra package."""


def pool_options(
    origin: str, ssl: ssl_module.SSLContext | None, max_connections: int, proxy: str | None
) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client``/``AsyncClient``; raises for bad ones.

    One pool of ``max_connections`` kept alive, no timeout of httpx's own (each
    call's deadline bounds it, queueing included), no redirect followed (a
    deployment does not redirect its API; a redirect would carry the credentials
    elsewhere). ``ssl`` verifies an ``https`` origin instead of the default.
    Nothing is taken from the environment, as the WebSocket transports take
    nothing: no proxy variable (``proxy`` names one, ``http`` or ``https``) and
    no ``.netrc``, whose password would go out as an identity nobody chose here.
    """
    if proxy is not None:
        check_proxy(proxy, HTTP_PROXY_SCHEMES)
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise TypeError("max_connections must be an int")
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
        raise TypeError("ssl must be an ssl.SSLContext or None")
    if origin.startswith("https:"):
        verify = ssl if ssl is not None else default_tls()
    elif ssl is not None:
        raise ValueError("an ssl context was given but the URL is http://, not https://")
    else:
        verify = _unused_tls()
    return {
        "base_url": origin,
        "timeout": None,
        "limits": httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        "verify": verify,
        "follow_redirects": False,
        "trust_env": False,
        "proxy": proxy,
    }


@functools.cache
def _unused_tls() -> ssl_module.SSLContext:
    """For an ``http`` origin, which never uses it: httpx builds one otherwise."""
    return ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_CLIENT)
