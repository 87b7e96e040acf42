"""Exceptions raised by syncwire.

The tree::

    SyncwireError                 every error this library raises on purpose
    └── ProtocolError             a frame or value that breaks the sync protocol
                                  (also a ValueError)

Errors in *your* input (a value Convex cannot represent, a bad argument) are
plain ``TypeError``/``ValueError``, as Python users expect; ``ProtocolError`` is
reserved for what arrives over the wire, so a receive loop can catch exactly it.
"""

from __future__ import annotations

__all__ = ["ProtocolError", "SyncwireError"]


class SyncwireError(Exception):
    """Base class of every exception syncwire raises on purpose."""


class ProtocolError(SyncwireError, ValueError):
    """A message or value received from a peer does not follow the sync protocol.

    The text says what was wrong and where (a JSON path such as ``$.endVersion.ts``);
    it never contains the payload itself, which may hold user data or secrets.
    """
