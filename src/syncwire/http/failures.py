"""httpx's exceptions in syncwire's words, for both HTTP clients.

A failed connection is told from the exception *types and attributes* the
operating system and the TLS layer raised (``syncwire.transport.common``),
found in the chain httpx and httpcore wrap them in; httpx's and the OS's
message texts never decide and never appear. What a failure means for the
call (never sent, so it never runs; sent, so it may still commit) is in the
words, and in the type: ``ConnectError`` (not sent), the built-in
``TimeoutError``, ``ConnectionLostError`` (sent, no answer).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

from syncwire.errors import ConnectError
from syncwire.errors import ConnectionLostError
from syncwire.errors import ProtocolError
from syncwire.http.wire import Call
from syncwire.transport.common import os_connect_cause

__all__ = ["Progress", "is_lost", "translate"]

# httpcore's trace events (the documented ``trace`` request extension) that tell
# where a request is: a new connection is being opened, the request is going out.
_CONNECTING = "connection.connect_tcp.started"
_SENDING = ("http11.send_request_headers.started", "http2.send_request_headers.started")


class Progress:
    """One call's time limit and how far its request got.

    httpcore's trace events tell whether an attempt opened a new connection
    and whether the request started going out (from then on the server may
    run it). A transport that sends no trace events (``httpx.MockTransport``,
    a custom one) tells nothing: a request handed to it may have been sent.
    """

    __slots__ = ("call", "handed", "new_connection", "retried", "seconds", "sending", "traced")

    def __init__(self, call: Call, seconds: float | None) -> None:
        self.call = call
        self.seconds = seconds
        self.handed = False
        """The request was handed to httpx."""
        self.traced = False
        self.sending = False
        self.new_connection = False
        self.retried = False

    @property
    def sent(self) -> bool:
        """The server may have the request: it started going out, or it was handed to a
        transport that does not say."""
        return self.sending or (self.handed and not self.traced)

    def next_attempt(self) -> None:
        self.handed = True
        self.new_connection = False

    def retry_once(self) -> bool:
        """Whether to try again a query whose kept-alive connection turned out closed:
        once, and only when the attempt did not open the connection itself."""
        if self.retried or self.new_connection:
            return False
        self.retried = True
        return True

    def saw(self, event: str) -> None:
        self.traced = True
        if event == _CONNECTING:
            self.new_connection = True
        elif event in _SENDING:
            self.sending = True

    def trace(self, event: str, _info: object) -> None:
        """The blocking client's trace callback."""
        self.saw(event)

    async def atrace(self, event: str, _info: object) -> None:
        """The asyncio client's trace callback."""
        self.saw(event)


def is_lost(exc: BaseException) -> bool:
    """The connection broke under a request: written or read, without a whole answer."""
    return isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError)


def translate(exc: httpx.HTTPError, call: Call, where: str, progress: Progress) -> Exception:
    """The error to raise for ``exc``, which httpx raised while running ``call``."""
    seconds = progress.seconds
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return call.timed_out(seconds, sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return call.timed_out(seconds, sent=True)
    if isinstance(exc, httpx.ConnectError):
        cause = connect_cause(exc, where)
        return ConnectError(f"{call.what} was not sent: {cause}", cause=cause)
    if isinstance(exc, httpx.ProxyError):
        cause = f"the proxy did not open a connection to {where}"
        return ConnectError(f"{call.what} was not sent: {cause}", cause=cause)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(
            f"the answer to {call.what} could not be decoded: its content encoding is broken"
        )
    if is_lost(exc) or progress.sent:
        return ConnectionLostError(call.lost(where))
    cause = f"the request could not be made ({type(exc).__name__})"
    return ConnectError(f"{call.what} was not sent: {cause}", cause=cause)


def connect_cause(exc: BaseException, where: str) -> str:
    """Why connecting to ``where`` failed, from the most telling OS or TLS error in
    ``exc``'s chain (an errno, a DNS or TLS failure over a bare ``OSError``)."""
    fallback = None
    for candidate in _chain(exc):
        cause = os_connect_cause(candidate, where)
        if cause is None:
            continue
        if isinstance(candidate, ssl.SSLError | socket.gaierror | TimeoutError) or (
            isinstance(candidate, OSError) and candidate.errno is not None
        ):
            return cause
        fallback = fallback or cause
    return fallback or f"cannot connect to {where}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it was raised from or during, and the members of exception groups."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(linked for linked in (current.__cause__, current.__context__) if linked)
