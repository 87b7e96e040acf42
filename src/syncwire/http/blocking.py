"""``ConvexHttpClient``: the official ``convex.ConvexHttpClient``'s drop-in, on one keep-alive pool.

Blocking, with no thread and no event loop of its own: a cron job, a script or
a WSGI handler calls and waits, each call one HTTP request on the client's
pool (httpx). Calls may come from any thread; mutations go one at a time, in
the order they were called, as the official npm client sends them.
"""

from __future__ import annotations

import ssl as ssl_module
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import TypeVar
from typing import overload

import httpx

from syncwire.errors import ClientClosedError
from syncwire.function_logs import FUNCTION_LOGGER
from syncwire.http.client import DEFAULT_MAX_CONNECTIONS
from syncwire.http.client import DEFAULT_TIMEOUT
from syncwire.http.failures import Progress
from syncwire.http.failures import is_lost
from syncwire.http.failures import translate
from syncwire.http.pool import pool_options
from syncwire.http.wire import CLIENT_TIMEOUT
from syncwire.http.wire import Call
from syncwire.http.wire import CallKind
from syncwire.http.wire import Credentials
from syncwire.http.wire import Timeout
from syncwire.http.wire import admin_credentials
from syncwire.http.wire import prepare_call
from syncwire.http.wire import query_ts_call
from syncwire.http.wire import read_answer
from syncwire.http.wire import read_query_ts
from syncwire.http.wire import request_headers
from syncwire.http.wire import user_credentials
from syncwire.lifetime import Resource
from syncwire.pagination import DEFAULT_PAGE_SIZE
from syncwire.pagination import Page
from syncwire.pagination import PageWalk
from syncwire.pagination import blocking_documents
from syncwire.pagination import blocking_pages
from syncwire.portal import checked_timeout
from syncwire.protocol import ConvexValue
from syncwire.protocol import JSONValue
from syncwire.redaction import redact_url
from syncwire.results import check_result_type
from syncwire.results import convert_result
from syncwire.urls import host_port
from syncwire.urls import http_origin

__all__ = ["ConvexHttpClient"]

T = TypeVar("T")
Args = Mapping[str, ConvexValue] | None


class ConvexHttpClient(Resource):
    """A blocking Convex client over the HTTP API, the official ``ConvexHttpClient``'s
    drop-in (same verbs and argument names)::

        with ConvexHttpClient("https://happy-otter-123.convex.cloud") as client:
            client.mutation("messages:send", {"body": "hi"})
            print(client.query("messages:count"))

    The options are ``HttpClient``'s: ``timeout`` (60 s; ``None`` waits as long
    as it takes) bounds each call from the call to its answer, queueing
    included, and a call's own ``timeout=`` overrides it; ``auth``, ``debug``
    (function log lines, on by default as in the npm client), ``max_connections``,
    ``ssl``, ``proxy`` and ``transport`` (an ``httpx.BaseTransport``, for tests or a custom stack).
    ``close()`` (or ``with``) closes the pool; a client nobody refers to any
    more is closed by the garbage collector.
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        auth: str | None = None,
        debug: bool = True,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        ssl: ssl_module.SSLContext | None = None,
        proxy: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._origin = http_origin(address)
        # What a connection goes to first: the failure's words name it.
        self._where = host_port(self._origin) if proxy is None else f"the proxy {host_port(proxy)}"
        self._timeout = checked_timeout(timeout)
        self._credentials: Credentials | None = None
        if auth is not None:
            self.set_auth(auth)
        self._debug = bool(debug)
        self._http = httpx.Client(
            transport=transport, **pool_options(self._origin, ssl, max_connections, proxy)
        )
        self._closed = False
        self._mutations = _Turns()
        self._snapshot: JSONValue = None
        self._snapshot_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, self._http.close)
        self._finalizer.atexit = False

    def __repr__(self) -> str:
        return (
            f"<ConvexHttpClient {redact_url(self._origin)} {'closed' if self._closed else 'open'}>"
        )

    @property
    def url(self) -> str:
        """The deployment's origin, where the HTTP API is."""
        return self._origin

    # -- functions ----------------------------------------------------------------------

    @overload
    def query(
        self, name: str, args: Args = None, *, result_type: type[T], timeout: Timeout = ...
    ) -> T: ...
    @overload
    def query(
        self, name: str, args: Args = None, *, result_type: Any = None, timeout: Timeout = ...
    ) -> Any: ...
    def query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> Any:
        """Run a query (``POST /api/query``) and return its value, converted into
        ``result_type`` when given (a bad type fails before anything is sent)."""
        return self._function("query", name, args, result_type, timeout)

    @overload
    def mutation(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: type[T],
        skip_queue: bool = False,
        timeout: Timeout = ...,
    ) -> T: ...
    @overload
    def mutation(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        skip_queue: bool = False,
        timeout: Timeout = ...,
    ) -> Any: ...
    def mutation(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        skip_queue: bool = False,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> Any:
        """Run a mutation (``POST /api/mutation``), after the ones called before it have
        their answers (``skip_queue=True``: at once). Out of time while queued, it was
        never sent; after, it may still commit. It is never re-sent."""
        return self._function("mutation", name, args, result_type, timeout, queued=not skip_queue)

    @overload
    def action(
        self, name: str, args: Args = None, *, result_type: type[T], timeout: Timeout = ...
    ) -> T: ...
    @overload
    def action(
        self, name: str, args: Args = None, *, result_type: Any = None, timeout: Timeout = ...
    ) -> Any: ...
    def action(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> Any:
        """Run an action (``POST /api/action``); never re-sent, not queued."""
        return self._function("action", name, args, result_type, timeout)

    @overload
    def function(
        self, name: str, args: Args = None, *, result_type: type[T], timeout: Timeout = ...
    ) -> T: ...
    @overload
    def function(
        self, name: str, args: Args = None, *, result_type: Any = None, timeout: Timeout = ...
    ) -> Any: ...
    def function(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> Any:
        """Run a function of any kind (``POST /api/function``); not queued, never re-sent."""
        return self._function("function", name, args, result_type, timeout)

    @overload
    def consistent_query(
        self, name: str, args: Args = None, *, result_type: type[T], timeout: Timeout = ...
    ) -> T: ...
    @overload
    def consistent_query(
        self, name: str, args: Args = None, *, result_type: Any = None, timeout: Timeout = ...
    ) -> Any: ...
    def consistent_query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> Any:
        """Run a query at the client's one snapshot (see ``HttpClient.consistent_query``)."""
        if result_type is not None:
            check_result_type(result_type)
        call = prepare_call("query", name, args)
        progress = self._progress(call, timeout)
        deadline = _deadline(progress.seconds)
        snapshot = self._timestamp(progress, deadline)
        value = self._send(call.at(snapshot), progress, deadline)
        return value if result_type is None else convert_result(value, result_type)

    # -- pagination ----------------------------------------------------------------------

    @overload
    def pages(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: type[T],
        timeout: Timeout = ...,
    ) -> Iterator[Page[T]]: ...
    @overload
    def pages(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = ...,
    ) -> Iterator[Page[Any]]: ...
    def pages(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> Iterator[Page[Any]]:
        """Every page of a paginated query, ``page_size`` documents at a time; the
        arguments are checked now. ``timeout`` bounds each page."""
        walk = PageWalk(name, args, page_size, result_type)
        prepare_call("query", name, walk.next_args())  # the args, checked now
        self._seconds(timeout)  # checked now too

        def fetch(page_args: dict[str, ConvexValue]) -> object:
            call = prepare_call("query", name, page_args)
            progress = self._progress(call, timeout)
            return self._send(call, progress, _deadline(progress.seconds))

        return blocking_pages(walk, fetch)

    @overload
    def paginate(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: type[T],
        timeout: Timeout = ...,
    ) -> Iterator[T]: ...
    @overload
    def paginate(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = ...,
    ) -> Iterator[Any]: ...
    def paginate(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> Iterator[Any]:
        """Every document of a paginated query, page after page (see ``pages``)."""
        return blocking_documents(
            self.pages(name, args, page_size=page_size, result_type=result_type, timeout=timeout)
        )

    # -- auth ---------------------------------------------------------------------------

    def set_auth(self, value: str) -> None:
        """Call as the user this JWT names, from the next call on (see ``HttpClient``)."""
        self._credentials = user_credentials(value)

    def set_admin_auth(
        self, admin_key: str, acting_as: Mapping[str, JSONValue] | None = None
    ) -> None:
        """Call with a deployment admin key, optionally acting as a user identity."""
        self._credentials = admin_credentials(admin_key, acting_as)

    def clear_auth(self) -> None:
        """Call signed out from the next call on."""
        self._credentials = None

    def set_debug(self, value: bool) -> None:
        """Whether the functions' log lines are logged (on ``syncwire.function_logs``)."""
        self._debug = bool(value)

    # -- life ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pool; queued calls raise ``ClientClosedError``. Idempotent."""
        self._closed = True
        self._mutations.close()
        self._finalizer()

    # -- internals ----------------------------------------------------------------------

    def _function(
        self,
        kind: CallKind,
        name: str,
        args: Args,
        result_type: Any,
        timeout: Timeout,
        *,
        queued: bool = False,
    ) -> Any:
        if result_type is not None:
            check_result_type(result_type)
        call = prepare_call(kind, name, args)
        progress = self._progress(call, timeout)
        deadline = _deadline(progress.seconds)
        if queued:
            with self._mutations.turn(deadline, progress):
                value = self._send(call, progress, deadline)
        else:
            value = self._send(call, progress, deadline)
        return value if result_type is None else convert_result(value, result_type)

    def _seconds(self, timeout: Timeout) -> float | None:
        self._check_open()
        return self._timeout if timeout is CLIENT_TIMEOUT else checked_timeout(timeout)

    def _progress(self, call: Call, timeout: Timeout) -> Progress:
        return Progress(call, self._seconds(timeout))

    def _timestamp(self, progress: Progress, deadline: float | None) -> JSONValue:
        """The client's snapshot: asked for once (a failure is not kept)."""
        left = _left(deadline)
        if not self._snapshot_lock.acquire(timeout=-1 if left is None else left):
            raise progress.call.timed_out(progress.seconds, sent=False)
        try:
            if self._snapshot is None:
                call = query_ts_call()
                status, content_type, body = self._post(call, None, progress, deadline)
                self._snapshot = read_query_ts(call, status, content_type, body)
            return self._snapshot
        finally:
            self._snapshot_lock.release()

    def _send(self, call: Call, progress: Progress, deadline: float | None) -> ConvexValue:
        credentials = self._credentials
        status, content_type, body = self._post(call, credentials, progress, deadline)
        return read_answer(
            call,
            status,
            content_type,
            body,
            credentials=credentials,
            logger=FUNCTION_LOGGER if self._debug else None,
        )

    def _post(
        self,
        call: Call,
        credentials: Credentials | None,
        progress: Progress,
        deadline: float | None,
    ) -> tuple[int, str | None, bytes]:
        """One request, read whole by the deadline; a query is tried again once when a
        kept-alive connection turns out to be closed by the server."""
        while True:
            self._check_open()
            left = _left(deadline)
            if left is not None and left <= 0:
                raise progress.call.timed_out(progress.seconds, sent=progress.sent)
            progress.next_attempt()
            try:
                with self._http.stream(
                    "POST",
                    call.path,
                    content=call.body,
                    headers=request_headers(credentials),
                    timeout=httpx.Timeout(left),
                    extensions={"trace": progress.trace},
                ) as response:
                    chunks = []
                    for chunk in response.iter_bytes():
                        chunks.append(chunk)
                        if deadline is not None and time.monotonic() > deadline:
                            raise progress.call.timed_out(progress.seconds, sent=True)
                    return (
                        response.status_code,
                        response.headers.get("content-type"),
                        b"".join(chunks),
                    )
            except httpx.HTTPError as exc:
                if self._closed:
                    raise ClientClosedError(
                        f"the client was closed while {call.what} waited"
                    ) from None
                if call.idempotent and is_lost(exc) and progress.retry_once():
                    continue
                raise translate(exc, call, self._where, progress) from None
            except RuntimeError:
                if self._closed:  # httpx refuses a request on a closed client
                    raise ClientClosedError(
                        f"the client was closed before {call.what} was sent"
                    ) from None
                raise

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed")


class _Turns:
    """Mutations one at a time, in the order they were called, from any thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._line: deque[object] = deque()
        self._closed = False

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def turn(self, deadline: float | None, progress: Progress) -> _Turn:
        return _Turn(self, deadline, progress)

    def wait(self, deadline: float | None, progress: Progress) -> object:
        me = object()
        with self._changed:
            self._line.append(me)
            try:
                while self._line[0] is not me:
                    if self._closed:
                        raise ClientClosedError(
                            f"the client was closed while {progress.call.what} was queued"
                        )
                    left = _left(deadline)
                    if left is not None and left <= 0:
                        raise progress.call.timed_out(progress.seconds, sent=False)
                    self._changed.wait(left)
            except BaseException:
                self._line.remove(me)
                self._changed.notify_all()
                raise
        return me

    def leave(self, me: object) -> None:
        with self._changed:
            self._line.remove(me)
            self._changed.notify_all()


class _Turn:
    """``with``: the queue's turn of one mutation."""

    def __init__(self, turns: _Turns, deadline: float | None, progress: Progress) -> None:
        self._turns = turns
        self._deadline = deadline
        self._progress = progress
        self._me: object = None

    def __enter__(self) -> None:
        self._me = self._turns.wait(self._deadline, self._progress)

    def __exit__(self, *exc_info: object) -> None:
        self._turns.leave(self._me)


def _deadline(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)
