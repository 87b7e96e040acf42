"""``HttpClient``: Convex functions over the HTTP API, from asyncio, on one keep-alive pool.

One request per call, no socket held open between them but the pool's idle
keep-alive connections: for serverless handlers, cron jobs and scripts that
call a few functions and need no subscription (``syncwire.Client`` is for
those). Mutations go one at a time in the order they were called, as the
official ``ConvexHttpClient`` sends them (``skip_queue=True`` opts out).
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import AsyncIterator
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from typing import Final
from typing import TypeVar
from typing import overload

import httpx

from syncwire.errors import ClientClosedError
from syncwire.function_logs import FUNCTION_LOGGER
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
from syncwire.lifetime import AsyncResource
from syncwire.pagination import DEFAULT_PAGE_SIZE
from syncwire.pagination import Page
from syncwire.pagination import PageWalk
from syncwire.pagination import async_documents
from syncwire.pagination import async_pages
from syncwire.portal import checked_timeout
from syncwire.protocol import ConvexValue
from syncwire.protocol import JSONValue
from syncwire.redaction import redact_url
from syncwire.results import check_result_type
from syncwire.results import convert_result
from syncwire.urls import host_port
from syncwire.urls import http_origin

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_TIMEOUT", "HttpClient"]

T = TypeVar("T")
Args = Mapping[str, ConvexValue] | None

DEFAULT_TIMEOUT: Final = 60.0
"""Seconds a call waits for its answer unless told otherwise: as long as the sync
client waits for a silent server (its ``inactivity_threshold``)."""
DEFAULT_MAX_CONNECTIONS: Final = 100
"""Connections one client's pool opens at most (httpx's own default)."""


class HttpClient(AsyncResource):
    """A Convex client over the HTTP API, for asyncio::

        async with HttpClient("https://happy-otter-123.convex.cloud") as client:
            await client.mutation("messages:send", {"body": "hi"})
            print(await client.query("messages:count"))

    ``url`` is a deployment URL (``https://name.convex.cloud``,
    ``http://127.0.0.1:3210``) or its sync endpoint (``wss://…/api/sync``).
    ``timeout`` bounds each call in seconds, from the call to its answer
    (queueing included; ``None``: wait as long as it takes); a call's own
    ``timeout=`` overrides it, and running out raises the built-in
    ``TimeoutError`` saying whether the call may still run. ``auth`` is a
    user's JWT (as ``set_auth``); ``debug=False`` stops the functions' log
    lines (``syncwire.function_logs``). ``max_connections`` bounds the pool;
    ``ssl`` verifies an ``https`` deployment with your context instead of the
    system's CA store (as ``Client``'s transports take it); ``proxy``
    (``http://host:port``) sends through an HTTP proxy. Nothing is read from
    the environment: no proxy variable, no ``.netrc``.
    ``transport`` is an httpx transport to send through instead of the pool
    (for tests, ``httpx.MockTransport``, or a custom stack); the pool's
    limits do not apply to it.

    The client may be made anywhere, even where no event loop runs yet (at
    import, in a module global); its calls must all run in one event loop.
    Close it with ``async with`` or ``await client.aclose()``; a call after
    that raises ``ClientClosedError``.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        auth: str | None = None,
        debug: bool = True,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        ssl: ssl_module.SSLContext | None = None,
        proxy: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._origin = http_origin(url)
        # What a connection goes to first: the failure's words name it.
        self._where = host_port(self._origin) if proxy is None else f"the proxy {host_port(proxy)}"
        self._timeout = checked_timeout(timeout)
        self._credentials: Credentials | None = None
        if auth is not None:
            self.set_auth(auth)
        self._debug = bool(debug)
        self._http = httpx.AsyncClient(
            transport=transport, **pool_options(self._origin, ssl, max_connections, proxy)
        )
        self._closed = False
        self._mutations = asyncio.Lock()  # FIFO: mutations go out in call order
        self._snapshot: JSONValue = None
        self._snapshot_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<HttpClient {redact_url(self._origin)} {'closed' if self._closed else 'open'}>"

    @property
    def url(self) -> str:
        """The deployment's origin, where the HTTP API is."""
        return self._origin

    # -- functions ----------------------------------------------------------------------

    @overload
    async def query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: type[T],
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> T: ...
    @overload
    async def query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any: ...
    async def query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any:
        """Run a query (``POST /api/query``) and return its value.

        ``result_type`` converts the value (``syncwire.results``); a type that
        cannot be raises ``TypeError`` before anything is sent.
        """
        return await self._function("query", name, args, result_type, timeout)

    @overload
    async def mutation(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: type[T],
        skip_queue: bool = False,
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> T: ...
    @overload
    async def mutation(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        skip_queue: bool = False,
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any: ...
    async def mutation(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        skip_queue: bool = False,
        timeout: Timeout = CLIENT_TIMEOUT,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any:
        """Run a mutation (``POST /api/mutation``) and return its value.

        Mutations are sent one at a time, in the order they were called, each
        once the one before has its answer; ``skip_queue=True`` sends this one
        at once. Out of time while queued, it was never sent and never runs;
        after it was sent, it may still commit. A connection lost while it
        waited for its answer raises ``ConnectionLostError``: it may have
        committed. It is never re-sent.
        """
        return await self._function(
            "mutation", name, args, result_type, timeout, queued=not skip_queue
        )

    @overload
    async def action(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: type[T],
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> T: ...
    @overload
    async def action(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any: ...
    async def action(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any:
        """Run an action (``POST /api/action``); never re-sent, not queued."""
        return await self._function("action", name, args, result_type, timeout)

    @overload
    async def function(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: type[T],
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> T: ...
    @overload
    async def function(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any: ...
    async def function(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any:
        """Run a function of any kind (``POST /api/function``): the deployment knows
        which it is. Not queued, never re-sent; its log lines show as ``?(name)``."""
        return await self._function("function", name, args, result_type, timeout)

    @overload
    async def consistent_query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: type[T],
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> T: ...
    @overload
    async def consistent_query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = ...,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any: ...
    async def consistent_query(
        self,
        name: str,
        args: Args = None,
        *,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,  # noqa: ASYNC109 - the call says whether it was sent
    ) -> Any:
        """Run a query at the client's snapshot: every ``consistent_query`` of this
        client reads the database as of one moment (upstream's ``consistentQuery``).

        The first one asks the deployment for the snapshot (``/api/query_ts``);
        the others reuse it. A deployment reads only a short way into the past
        (about 30 s on Convex): make a new client for a new snapshot.
        """
        if result_type is not None:
            check_result_type(result_type)
        call = prepare_call("query", name, args)
        async with self._deadline(call, timeout) as progress:
            snapshot = await self._timestamp(progress)
            value = await self._send(call.at(snapshot), progress)
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
    ) -> AsyncIterator[Page[T]]: ...
    @overload
    def pages(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = ...,
    ) -> AsyncIterator[Page[Any]]: ...
    def pages(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> AsyncIterator[Page[Any]]:
        """Every page of a paginated query (one that takes ``paginationOpts`` and returns
        ``{page, isDone, continueCursor}``), asked for ``page_size`` documents at a time.

        Arguments are checked now: bad ones raise here, not at the first page.
        ``result_type`` is each document's type; ``timeout`` bounds each page.
        """
        walk = PageWalk(name, args, page_size, result_type)
        prepare_call("query", name, walk.next_args())  # the args, checked now
        self._seconds(timeout)  # checked now too

        async def fetch(page_args: dict[str, ConvexValue]) -> object:
            call = prepare_call("query", name, page_args)
            async with self._deadline(call, timeout) as progress:
                return await self._send(call, progress)

        return async_pages(walk, fetch)

    @overload
    def paginate(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: type[T],
        timeout: Timeout = ...,
    ) -> AsyncIterator[T]: ...
    @overload
    def paginate(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = ...,
    ) -> AsyncIterator[Any]: ...
    def paginate(
        self,
        name: str,
        args: Args = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = CLIENT_TIMEOUT,
    ) -> AsyncIterator[Any]:
        """Every document of a paginated query, page after page (see ``pages``)."""
        return async_documents(
            self.pages(name, args, page_size=page_size, result_type=result_type, timeout=timeout)
        )

    # -- auth ---------------------------------------------------------------------------

    def set_auth(self, value: str) -> None:
        """Call as the user this JWT names (``Authorization: Bearer``), from the next call on.

        A call made before keeps the identity it was made with. A token the
        deployment rejects raises ``AuthenticationError`` from that call; the
        token is never quoted in an error or a log line.
        """
        self._credentials = user_credentials(value)

    def set_admin_auth(
        self, admin_key: str, acting_as: Mapping[str, JSONValue] | None = None
    ) -> None:
        """Call with a deployment admin key (``Authorization: Convex``), optionally acting
        as a user identity (``acting_as``: its claims), as upstream's ``setAdminAuth``."""
        self._credentials = admin_credentials(admin_key, acting_as)

    def clear_auth(self) -> None:
        """Call signed out from the next call on."""
        self._credentials = None

    def set_debug(self, value: bool) -> None:
        """Whether the functions' log lines are logged (on ``syncwire.function_logs``)."""
        self._debug = bool(value)

    # -- life ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pool; calls still waiting raise ``ClientClosedError``. Idempotent."""
        self._closed = True
        await self._http.aclose()

    async def close(self) -> None:
        """``aclose()``, by the name ``Client`` has."""
        await self.aclose()

    # -- internals ----------------------------------------------------------------------

    async def _function(
        self,
        kind: CallKind,
        name: str,
        args: Args,
        result_type: Any,
        timeout: Timeout,  # noqa: ASYNC109 - the call says whether it was sent
        *,
        queued: bool = False,
    ) -> Any:
        if result_type is not None:
            check_result_type(result_type)
        call = prepare_call(kind, name, args)
        async with self._deadline(call, timeout) as progress:
            if queued:
                async with self._mutations:
                    value = await self._send(call, progress)
            else:
                value = await self._send(call, progress)
        return value if result_type is None else convert_result(value, result_type)

    def _seconds(self, timeout: Timeout) -> float | None:
        self._check_open()
        return self._timeout if timeout is CLIENT_TIMEOUT else checked_timeout(timeout)

    def _deadline(self, call: Call, timeout: Timeout) -> _Deadline:
        return _Deadline(Progress(call, self._seconds(timeout)))

    async def _timestamp(self, progress: Progress) -> JSONValue:
        """The client's snapshot: asked for once (a failure is not kept)."""
        async with self._snapshot_lock:
            if self._snapshot is None:
                call = query_ts_call()
                response = await self._post(call, None, progress)
                self._snapshot = read_query_ts(
                    call,
                    response.status_code,
                    response.headers.get("content-type"),
                    response.content,
                )
            return self._snapshot

    async def _send(self, call: Call, progress: Progress) -> ConvexValue:
        credentials = self._credentials
        response = await self._post(call, credentials, progress)
        return read_answer(
            call,
            response.status_code,
            response.headers.get("content-type"),
            response.content,
            credentials=credentials,
            logger=FUNCTION_LOGGER if self._debug else None,
        )

    async def _post(
        self, call: Call, credentials: Credentials | None, progress: Progress
    ) -> httpx.Response:
        """One request; a query is tried again once on a fresh connection when a kept-alive
        one turns out to be closed by the server (nothing else is ever re-sent)."""
        self._check_open()
        while True:
            progress.next_attempt()
            try:
                return await self._http.post(
                    call.path,
                    content=call.body,
                    headers=request_headers(credentials),
                    extensions={"trace": progress.atrace},
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


class _Deadline:
    """``async with``: a call's time limit; running out raises the call's own
    ``TimeoutError``, which says whether it was sent."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._timeout = asyncio.timeout(progress.seconds)

    async def __aenter__(self) -> Progress:
        await self._timeout.__aenter__()
        return self._progress

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            if not self._timeout.expired():
                raise
            progress = self._progress
            raise progress.call.timed_out(progress.seconds, sent=progress.sent) from None
