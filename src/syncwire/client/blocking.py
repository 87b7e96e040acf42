"""``ConvexClient``: a blocking client with the official ``convex`` package's verbs.

Scripts and notebooks switch from the official client by changing an import.
Each ``ConvexClient`` owns one daemon thread running an event loop, and the
asyncio ``Client`` lives there; a call hands a coroutine to that loop and waits
for its ``concurrent.futures.Future``. That wait releases the GIL (the official
client's Rust waits hold it, stalling every other thread) and, on POSIX, is
interrupted by Ctrl-C; elsewhere it wakes every 0.1 s so that Ctrl-C is seen.
A call from a coroutine works too: the loop is not the caller's.

The thread is a ``LoopThread`` (``syncwire.client.loop_thread``: the loop,
the ``Client``, the shared state), which never refers to the ``ConvexClient``:
an unreferenced ``ConvexClient`` is collected like any object, and its
finalizer ends the thread and the socket. Subscriptions are in
``syncwire.client.blocking_subscriptions`` (the caller's side) and
``syncwire.client.hub`` (the loop thread's).
"""

from __future__ import annotations

import enum
import inspect
import itertools
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Final
from typing import TypeVar
from typing import overload

from syncwire.client.auth import TokenFetcher
from syncwire.client.blocking_subscriptions import QuerySetSubscription
from syncwire.client.blocking_subscriptions import QuerySubscription
from syncwire.client.client import Client
from syncwire.client.client import ClientConnectionState
from syncwire.client.loop_thread import LoopThread
from syncwire.errors import ClientClosedError
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
from syncwire.urls import sync_url

__all__ = ["ConvexClient", "QuerySetSubscription", "QuerySubscription"]

T = TypeVar("T")

_names = itertools.count(1)
_CLIENT_OPTIONS: Final = frozenset(
    name
    for name, parameter in inspect.signature(Client).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)
"""The keyword arguments of ``Client``: what ``ConvexClient`` passes through."""


class _Default(enum.Enum):
    """A per-call ``timeout`` not given: the client's applies."""

    CLIENT = "the client's timeout"


_CLIENT_DEFAULT: Final = _Default.CLIENT
Timeout = float | None | _Default


class ConvexClient(Resource):
    """A blocking Convex client, the official ``convex.ConvexClient``'s drop-in.

    ::

        with ConvexClient("https://happy-otter-123.convex.cloud") as client:
            client.mutation("messages:send", {"body": "hi"})
            for messages in client.subscribe("messages:list"):
                print(messages)

    ``timeout`` bounds each ``query``, ``mutation`` and ``action`` in seconds
    (``None``, the default: wait as long as it takes, as the official client
    does); a call's own ``timeout=`` overrides it, and a call that runs out
    raises the built-in ``TimeoutError``. ``client_options`` go to ``Client``
    (``backoff``, ``inactivity_threshold``, ``transport``, …). Errors are
    ``Client``'s: ``ConvexError``, ``FunctionError``, ``AuthenticationError``,
    ``ClientClosedError``… Calls may come from any thread.
    ``close()`` (or ``with``) stops the loop thread and leaves no task, thread or
    socket behind; so does dropping the last reference to a client (as with the
    official client): re-running ``client = ConvexClient(url)`` in a notebook
    leaves one thread and one socket. A token fetcher or ``on_change`` runs in
    the loop thread: there, a query, mutation, action or iteration raises
    ``RuntimeError`` (it would wait forever); the other calls work.
    """

    def __init__(
        self, deployment_url: str, *, timeout: float | None = None, **client_options: Any
    ) -> None:
        sync_url(deployment_url)  # a bad URL fails here, before a thread starts
        self._timeout = checked_timeout(timeout)
        unknown = sorted(set(client_options) - _CLIENT_OPTIONS)
        if unknown:  # and so does an option Client does not take
            raise TypeError(
                f"ConvexClient got unknown option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; "
                f"the options are timeout and Client's: {', '.join(sorted(_CLIENT_OPTIONS))}"
            )
        self._url = deployment_url
        self._loop_thread = LoopThread(
            deployment_url, client_options, thread_name=f"syncwire-ConvexClient-{next(_names)}"
        )
        self._loop_thread.stop_with(self)  # collected, it closes as close() does
        self._loop_thread.start()

    def __repr__(self) -> str:
        status = "closed" if self._loop_thread.closed else "open"
        return f"<ConvexClient {redact_url(self._url)} {status}>"

    @property
    def _client(self) -> Client:
        """The asyncio client, to use in the loop thread only."""
        return self._loop_thread.client

    # -- functions --------------------------------------------------------------------

    @overload
    def query(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: type[T],
    ) -> T: ...
    @overload
    def query(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: Any = None,
    ) -> Any: ...
    def query(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: Any = None,
    ) -> Any:
        """Run a query once and return its result.

        ``timeout`` (seconds; ``None`` waits as long as it takes) overrides
        the client's; running out raises ``TimeoutError`` and unsubscribes.
        ``result_type`` converts the value (see ``syncwire.results``).
        """
        result_type = _checked_type(result_type)
        return _typed(
            self._run(lambda: self._client.query(name, args), timeout, what=f"the query {name!r}"),
            result_type,
        )

    @overload
    def mutation(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: type[T],
    ) -> T: ...
    @overload
    def mutation(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: Any = None,
    ) -> Any: ...
    def mutation(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: Any = None,
    ) -> Any:
        """Run a mutation; returns once its effects are visible to this client's queries.

        Interrupted (Ctrl-C) or out of time (``timeout``: ``TimeoutError``)
        after it was sent, it may still commit, exactly once while the client
        lives; before it was sent (the server unreachable, or an auth token
        being fetched) it is withdrawn and never runs. A ``result_type`` that
        can never fit fails before the mutation is sent.
        """
        result_type = _checked_type(result_type)
        return _typed(
            self._run(
                lambda: self._client.mutation(name, args),
                timeout,
                what=f"the mutation {name!r}",
                after="; if it was sent, it may still commit, exactly once",
            ),
            result_type,
        )

    @overload
    def action(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: type[T],
    ) -> T: ...
    @overload
    def action(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: Any = None,
    ) -> Any: ...
    def action(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
        result_type: Any = None,
    ) -> Any:
        """Run an action, at most once (cut off by a reconnect: ``ConnectionLostError``).

        Out of time (``timeout``: ``TimeoutError``) after it was sent, it may still run.
        """
        result_type = _checked_type(result_type)
        return _typed(
            self._run(
                lambda: self._client.action(name, args),
                timeout,
                what=f"the action {name!r}",
                after="; if it was sent, it may still run",
            ),
            result_type,
        )

    def subscribe(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        result_type: Any = None,
    ) -> QuerySubscription:
        """Subscribe to a query: iterate the result for its value each time it changes.

        The subscription lasts until ``unsubscribe()``, the client closes, or
        the returned object is garbage-collected (as with the official client).
        With ``result_type``, each value is converted as it is read; one that
        does not fit raises ``ResultTypeError`` from that read.
        """
        result_type = _checked_type(result_type)
        loop_thread = self._loop_thread
        slot = loop_thread.call(lambda: loop_thread.hub.subscribe(self._client, name, args))
        return QuerySubscription(
            self, loop_thread, slot, name, dict(args or {}), result_type=result_type
        )

    @overload
    def paginate(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: type[T],
        timeout: Timeout = _CLIENT_DEFAULT,
    ) -> Iterator[T]: ...
    @overload
    def paginate(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = _CLIENT_DEFAULT,
    ) -> Iterator[Any]: ...
    def paginate(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = _CLIENT_DEFAULT,
    ) -> Iterator[Any]:
        """Every document of a paginated query, page after page (see ``Client.paginate``).

        ``timeout`` bounds each page's query. Bad arguments raise here.
        """
        pages = self.pages(
            name, args, page_size=page_size, result_type=result_type, timeout=timeout
        )
        return blocking_documents(pages)

    def pages(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
        timeout: Timeout = _CLIENT_DEFAULT,
    ) -> Iterator[Page[Any]]:
        """``paginate``, a whole ``Page`` at a time."""
        walk = PageWalk(name, args, page_size, result_type)
        return blocking_pages(walk, lambda page_args: self.query(name, page_args, timeout=timeout))

    def watch_all(self) -> QuerySetSubscription:
        """Every live subscription's latest value, as one dict per change.

        Yields ``{subscription.id: value}`` (a failed query's value is its
        ``FunctionError``): first the current view once any subscription has a
        value, then again each time a value changes or a subscription ends.
        """
        loop_thread = self._loop_thread
        return QuerySetSubscription(self, loop_thread, loop_thread.call(loop_thread.hub.watch))

    # -- auth ---------------------------------------------------------------------------

    def set_auth(
        self,
        token: str | TokenFetcher | None,
        *,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        """Authenticate with a JWT or a token fetcher; ``None`` signs out.

        A fetcher (``fetcher(force_refresh) -> str | None``, plain or async)
        and ``on_change`` are called in the client's loop thread, not the caller's.
        """
        if token is None:
            self.clear_auth()
        else:
            self._loop_thread.call(lambda: self._client.set_auth(token, on_change=on_change))

    def clear_auth(self) -> None:
        """Sign out: later function calls run without an identity."""
        self._loop_thread.call(lambda: self._client.clear_auth())

    def set_admin_auth(
        self, admin_key: str, acting_as: Mapping[str, JSONValue] | None = None
    ) -> None:
        """Authenticate with a deployment admin key (optionally acting as a user identity)."""
        self._loop_thread.call(lambda: self._client.set_admin_auth(admin_key, acting_as))

    # -- connection ----------------------------------------------------------------------

    def connection_state(self) -> ClientConnectionState:
        """The connection and the requests in flight, now; after ``close()``, the last state.

        ``last_error`` says, while the server cannot be reached, why.
        """
        try:
            return self._loop_thread.call(lambda: self._client.connection_state())
        except ClientClosedError:
            self._loop_thread.join()
            final = self._loop_thread.final_state
            if final is None:
                raise
            return final

    def close(self) -> None:
        """Close the client and stop its thread; returns once nothing is left. Idempotent.

        Calls waiting in other threads raise ``ClientClosedError``; waiting
        subscription iterators end.
        """
        self._loop_thread.close()

    # -- handing work to the loop ---------------------------------------------------------

    def _run(
        self,
        make: Callable[[], Coroutine[Any, Any, Any]],
        timeout: Timeout,
        *,
        what: str,
        after: str = "",
    ) -> Any:
        """Run ``make()`` in the loop and wait for its outcome, at most ``timeout``."""
        timeout = self._timeout if timeout is _CLIENT_DEFAULT else checked_timeout(timeout)
        loop_thread = self._loop_thread
        return loop_thread.result(loop_thread.submit(make), timeout=timeout, what=what, after=after)


def _checked_type(result_type: Any) -> Any:
    """``result_type``, checked before anything is sent."""
    if result_type is not None:
        check_result_type(result_type)
    return result_type


def _typed(value: Any, result_type: Any) -> Any:
    """Converted in the caller's thread: the loop thread never waits on a conversion."""
    return value if result_type is None else convert_result(value, result_type)
