"""Transports: the pluggable WebSocket underneath the manager.

Two ship with syncwire, with one contract and one conformance suite
(``docs/transports.md``): ``WebSocketsTransport`` (on ``websockets``, always
installed) and ``PicowsTransport`` (in ``syncwire.transport.picows``, on the C
library ``picows``: ``pip install 'syncwire[fast]'``). ``default_transport``
picks the fast one when it is installed; passing a transport picks for you.
Anything that implements ``Transport`` can replace them, such as
``syncwire.testing.FakeTransport``. The errors a transport raises are in
``syncwire.errors`` (``TransportError`` and below).
"""

import importlib.util

from syncwire.transport.base import Transport
from syncwire.transport.base import TransportConnection
from syncwire.transport.websockets import WebSocketsConnection
from syncwire.transport.websockets import WebSocketsTransport

__all__ = [
    "Transport",
    "TransportConnection",
    "WebSocketsConnection",
    "WebSocketsTransport",
    "default_transport",
    "fast_transport_installed",
]


def fast_transport_installed() -> bool:
    """Whether ``picows`` (the ``syncwire[fast]`` extra) can be imported."""
    try:
        return importlib.util.find_spec("picows") is not None
    except ImportError:  # a finder that refuses it, as a test does
        return False


def default_transport(*, max_message_size: int, headers: dict[str, str]) -> Transport:
    """``PicowsTransport`` when the fast extra is installed, else ``WebSocketsTransport``."""
    if fast_transport_installed():
        # Imported by name: without the extra, importing this package must not fail.
        picows = importlib.import_module("syncwire.transport.picows")
        fast: Transport = picows.PicowsTransport(max_message_size=max_message_size, headers=headers)
        return fast
    return WebSocketsTransport(max_message_size=max_message_size, headers=headers)
