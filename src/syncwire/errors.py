"""Exceptions raised by syncwire.

The tree::

    SyncwireError                 every error this library raises on purpose
    ├── ProtocolError             a frame or value that breaks the sync protocol
    │                             (also a ValueError)
    ├── FunctionError             a query, mutation or action failed on the server
    │   └── ConvexError           ... by throwing a ConvexError: ``data`` is its payload
    ├── ConnectionLostError       an action was in flight when the connection dropped
    │                             (actions run at most once, so it is not re-sent)
    ├── FatalServerError          the server ended the session (``FatalError``)
    ├── AuthenticationError       the server rejected the token you gave, and nothing
    │                             replaced it: calls fail until set_auth or clear_auth
    └── ClientClosedError         the client was closed while the call waited

Errors in *your* input (a value Convex cannot represent, a bad argument) are
plain ``TypeError``/``ValueError``, as Python users expect; ``ProtocolError`` is
reserved for what arrives over the wire, so a receive loop can catch exactly it.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "ConnectionLostError",
    "ConvexError",
    "FatalServerError",
    "FunctionError",
    "ProtocolError",
    "SyncwireError",
]


class SyncwireError(Exception):
    """Base class of every exception syncwire raises on purpose."""


class ProtocolError(SyncwireError, ValueError):
    """A message or value received from a peer does not follow the sync protocol.

    The text says what was wrong and where (a JSON path such as ``$.endVersion.ts``);
    it never contains the payload itself, which may hold user data or secrets.
    """


class FunctionError(SyncwireError):
    """A Convex function failed on the server; ``message`` is the server's text.

    ``data`` is ``None`` here; a function that throws ``ConvexError`` raises
    the subclass, whose ``data`` carries the thrown payload.
    """

    def __init__(self, message: str, data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ConvexError(FunctionError):
    """The function threw a ``ConvexError``; ``data`` is its payload (a Convex value).

    Same name and attributes as the official Python client's ``ConvexError``.
    """


class ConnectionLostError(SyncwireError):
    """The connection dropped while an action was in flight; it may or may not have run."""


class FatalServerError(SyncwireError):
    """The server sent ``FatalError``: the client is finished; the text is the server's."""


class AuthenticationError(SyncwireError):
    """The server rejected the token the user gave, and no fetcher supplied one it accepts.

    Calls fail with it, rather than run under no identity, until the user calls
    ``set_auth`` (a new token) or ``clear_auth`` (run signed out, on purpose).
    ``reason`` says what went wrong (the server's words, the token redacted).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"{reason}; calls fail until set_auth() gives a token the server accepts, "
            "or clear_auth() signs out"
        )
        self.reason = reason


class ClientClosedError(SyncwireError):
    """The client was closed, so the call cannot complete."""
