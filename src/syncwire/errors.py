"""Every exception syncwire raises on purpose: the one place they are defined.

The tree::

    SyncwireError                   every error this library raises on purpose
    ├── ProtocolError               a frame or value that breaks the sync protocol
    │                               (also a ValueError)
    ├── TransportError              the socket could not be opened, or failed in use
    │   ├── ConnectError            opening failed; ``cause`` says why, in words
    │   ├── ConnectionClosedError   the connection ended (``code``, ``reason``)
    │   │   └── InvalidFrameError   ... because the peer broke the WebSocket protocol
    │   │       └── MessageTooLargeError  ... with a message over the size limit
    │   ├── SendError               a frame could not be written
    │   └── UnexpectedBinaryFrameError    the peer sent a binary frame
    ├── FunctionError               a query, mutation or action failed on the server
    │   └── ConvexError             ... by throwing a ConvexError: ``data`` is its payload
    ├── ResultTypeError             a result does not fit the ``result_type`` asked for
    │                               (also a ValueError); ``path`` says where
    ├── HttpError                   the HTTP API refused a request (``status``, ``code``)
    ├── ConnectionLostError         an action was in flight when the connection dropped
    │                               (actions run at most once, so it is not re-sent)
    ├── FatalServerError            the server ended the session (``FatalError``)
    ├── AuthenticationError         the server rejected the token you gave, and nothing
    │                               replaced it: calls fail until set_auth or clear_auth
    ├── ClientClosedError           the client was closed while the call waited
    └── DevServerError              raised inside the dev server (``syncwire.devserver``)
        ├── AppError                raise it in a function: the client gets a ConvexError
        ├── NestedCallError         a ``ctx.run_*`` call failed
        └── InvalidTokenError       the dev server's verifier rejected a token

The transport errors are what a ``Transport`` raises across its boundary
(``syncwire.transport.base``): implementations map their library's exceptions
to them, so nothing else reaches the manager. The client never raises them to
you; it reconnects instead, and says why in ``last_error``.

Errors in *your* input (a value Convex cannot represent, a bad argument) are
plain ``TypeError``/``ValueError``, as Python users expect; ``ProtocolError`` is
reserved for what arrives over the wire, so a receive loop can catch exactly it.
"""

from __future__ import annotations

__all__ = [
    "AppError",
    "AuthenticationError",
    "ClientClosedError",
    "ConnectError",
    "ConnectionClosedError",
    "ConnectionLostError",
    "ConvexError",
    "DevServerError",
    "FatalServerError",
    "FunctionError",
    "HttpError",
    "InvalidFrameError",
    "InvalidTokenError",
    "MessageTooLargeError",
    "NestedCallError",
    "ProtocolError",
    "ResultTypeError",
    "SendError",
    "SyncwireError",
    "TransportError",
    "UnexpectedBinaryFrameError",
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


class ResultTypeError(SyncwireError, ValueError):
    """A function's value does not fit the ``result_type`` the caller asked for.

    ``path`` is where (``$[3].author``; ``$`` is the whole value), ``reason``
    what did not fit (``Expected `str`, got `int```), ``result_type`` the type's
    name. The text holds no part of the value.
    """

    def __init__(self, result_type: str, path: str, reason: str) -> None:
        super().__init__(f"the result does not fit {result_type} at {path}: {reason}")
        self.result_type = result_type
        self.path = path
        self.reason = reason


class HttpError(SyncwireError):
    """The deployment refused an HTTP API request: not a function's failure.

    ``status`` is the HTTP status, ``code`` the deployment's error code
    (``BadJsonBody``…) when it sent one, ``message`` its words. The text holds
    no credential.
    """

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(f"HTTP {status}" + (f" {code}" if code else "") + f": {message}")
        self.status = status
        self.code = code
        self.message = message


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


# --- the transport boundary ----------------------------------------------------


class TransportError(SyncwireError):
    """The socket could not be opened, or failed while in use."""


class ConnectError(TransportError):
    """The socket or its opening handshake failed: ``Transport.connect`` raises it.

    ``cause`` says why in words for users, built by syncwire from exception
    types and attributes (never from a library's message text), and holds no
    secret: "connection refused by 127.0.0.1:1: is the server running?",
    "the server answered HTTP 404: is this a Convex deployment URL?"…
    """

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class ConnectionClosedError(TransportError):
    """The connection ended: ``code`` and ``reason`` as the peer sent them.

    ``code`` is 1005 when the close frame had no status and 1006 when the
    connection dropped without a close frame (as browsers report them).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class InvalidFrameError(ConnectionClosedError):
    """The peer broke the WebSocket protocol; the transport closed the connection.

    ``code`` is the close code the transport sent: 1007 for a text frame that is
    not UTF-8, 1002 for a malformed frame. Bad input from the server, not a
    close by the server.
    """


class MessageTooLargeError(InvalidFrameError):
    """A message exceeded the transport's size limit; it closed the connection (1009).

    ``size`` is the message's size in bytes when the transport knows it (a
    library may stop reading before the end), ``limit`` the limit it broke.
    """

    def __init__(self, size: int | None = None, limit: int | None = None) -> None:
        super().__init__(1009, "message too big")
        self.size = size
        self.limit = limit

    @property
    def description(self) -> str:
        """What was too large, for a log line: sizes only, never content."""
        if self.size is not None:
            return f"a message of {self.size} bytes" + (
                f" over the limit of {self.limit}" if self.limit is not None else ""
            )
        if self.limit is not None:
            return f"a message over the limit of {self.limit} bytes"
        return "a message over the size limit"


class SendError(TransportError):
    """A frame handed to ``send`` could not be written; the connection is unusable."""


class UnexpectedBinaryFrameError(TransportError):
    """The peer sent a binary frame; the sync protocol has only text frames."""

    def __init__(self, size: int) -> None:
        super().__init__(f"unexpected binary frame of {size} bytes")
        self.size = size


# --- the dev server --------------------------------------------------------------


class DevServerError(SyncwireError):
    """Raised inside the dev server, by your functions or its token verifier."""


class AppError(DevServerError):
    """Raise it in a dev server function: the client gets a ``ConvexError`` with ``data``.

    ``data`` is a Convex value (checked when the error is sent).
    The dev server's counterpart of ``throw new ConvexError(data)`` in a Convex
    function; the failed mutation commits nothing.
    """

    def __init__(self, data: object) -> None:
        super().__init__(data if isinstance(data, str) else repr(data))
        self.data = data


class NestedCallError(DevServerError):
    """A ``ctx.run_query``/``run_mutation``/``run_action`` call failed.

    ``error_message`` and ``error_data`` are the callee's; raised again, it
    fails the caller the same way.
    """

    def __init__(self, error_message: str, error_data: object = None) -> None:
        super().__init__(error_message)
        self.error_message = error_message
        self.error_data = error_data


class InvalidTokenError(DevServerError):
    """The dev server rejected a token; the text is what the client's ``AuthError`` says."""
