"""``ConvexClient``: a blocking client with the official ``convex`` package's verbs.

Scripts and notebooks switch from the official client by changing an import.
Each ``ConvexClient`` owns one daemon thread running an event loop, and the
asyncio ``Client`` lives there; a call hands a coroutine to that loop and waits
for its ``concurrent.futures.Future``. That wait releases the GIL (the official
client's Rust waits hold it, stalling every other thread) and, on POSIX, is
interrupted by Ctrl-C; elsewhere it wakes every 0.1 s so that Ctrl-C is seen.
A call from a coroutine works too: the loop is not the caller's.

The thread holds only an ``_Engine`` (the loop, the ``Client``, the shared
state), never the ``ConvexClient``: an unreferenced ``ConvexClient`` is
collected like any object, and its finalizer ends the thread and the socket.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import enum
import inspect
import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Final, TypeVar

from syncwire.client.auth import TokenFetcher
from syncwire.client.client import Client, ClientConnectionState, Subscription, sync_url
from syncwire.client.remote_query_set import QueryResult
from syncwire.errors import (
    AuthenticationError,
    ClientClosedError,
    FunctionError,
    SyncwireError,
)
from syncwire.protocol import ConvexValue, JSONValue
from syncwire.transport import redact_url

__all__ = ["ConvexClient", "QuerySetSubscription", "QuerySubscription"]

_T = TypeVar("_T")

_WAIT_SLICE: Final = None if os.name == "posix" else 0.1
"""Seconds one blocking wait lasts before Python can run a signal handler.

A POSIX lock wait is interrupted by signals, so it can wait whole; on Windows
it is not, and Ctrl-C is only seen when the wait returns.
"""

_log = logging.getLogger("syncwire.client")
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
_UNSUBSCRIBED: Final = "this subscription was unsubscribed: subscribe again for values"


class ConvexClient:
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
        self._timeout = _checked_timeout(timeout)
        unknown = sorted(set(client_options) - _CLIENT_OPTIONS)
        if unknown:  # and so does an option Client does not take
            raise TypeError(
                f"ConvexClient got unknown option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; "
                f"the options are timeout and Client's: {', '.join(sorted(_CLIENT_OPTIONS))}"
            )
        self._url = deployment_url
        engine = self._engine = _Engine(deployment_url)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        engine.thread = threading.Thread(
            target=engine.run,
            args=(ready, client_options),
            name=f"syncwire-ConvexClient-{next(_names)}",
            daemon=True,
        )
        # Not at exit: the daemon thread ends with the process anyway.
        self._finalizer = weakref.finalize(self, engine.shut_down)
        self._finalizer.atexit = False
        engine.thread.start()
        try:
            self._result(ready)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        status = "closed" if self._closed else "open"
        return f"<ConvexClient {redact_url(self._url)} {status}>"

    # The loop thread's state lives in the engine (see the module's docstring).
    @property
    def _client(self) -> Client:
        return self._engine.client

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return self._engine.loop

    @property
    def _lock(self) -> threading.RLock:
        return self._engine.lock

    @property
    def _closed(self) -> bool:
        return self._engine.closed

    @property
    def _thread(self) -> threading.Thread:
        return self._engine.thread

    @property
    def _hub(self) -> _Hub:
        return self._engine.hub

    # -- functions --------------------------------------------------------------------

    def query(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
    ) -> Any:
        """Run a query once and return its result.

        ``timeout`` (seconds; ``None`` waits as long as it takes) overrides
        the client's; running out raises ``TimeoutError`` and unsubscribes.
        """
        return self._result(
            self._submit(lambda: self._client.query(name, args)),
            timeout=self._timeout_for(timeout),
            what=f"the query {name!r}",
        )

    def mutation(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
    ) -> Any:
        """Run a mutation; returns once its effects are visible to this client's queries.

        Interrupted (Ctrl-C) or out of time (``timeout``: ``TimeoutError``)
        after it was sent, it may still commit, exactly once while the client
        lives; before it was sent (the server unreachable, or an auth token
        being fetched) it is withdrawn and never runs.
        """
        return self._result(
            self._submit(lambda: self._client.mutation(name, args)),
            timeout=self._timeout_for(timeout),
            what=f"the mutation {name!r}",
            after="; if it was sent, it may still commit, exactly once",
        )

    def action(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        timeout: Timeout = _CLIENT_DEFAULT,
    ) -> Any:
        """Run an action, at most once (cut off by a reconnect: ``ConnectionLostError``).

        Out of time (``timeout``: ``TimeoutError``) after it was sent, it may still run.
        """
        return self._result(
            self._submit(lambda: self._client.action(name, args)),
            timeout=self._timeout_for(timeout),
            what=f"the action {name!r}",
            after="; if it was sent, it may still run",
        )

    def subscribe(
        self, name: str, args: Mapping[str, ConvexValue] | None = None
    ) -> QuerySubscription:
        """Subscribe to a query: iterate the result for its value each time it changes.

        The subscription lasts until ``unsubscribe()``, the client closes, or
        the returned object is garbage-collected (as with the official client).
        """
        slot = self._call(lambda: self._hub.subscribe(self._client, name, args))
        return QuerySubscription(self, slot, name, dict(args or {}))

    def watch_all(self) -> QuerySetSubscription:
        """Every live subscription's latest value, as one dict per change.

        Yields ``{subscription.id: value}`` (a failed query's value is its
        ``FunctionError``): first the current view once any subscription has a
        value, then again each time a value changes or a subscription ends.
        """
        return QuerySetSubscription(self, self._call(self._hub.watch))

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
            self._call(lambda: self._client.set_auth(token, on_change=on_change))

    def clear_auth(self) -> None:
        """Sign out: later function calls run without an identity."""
        self._call(lambda: self._client.clear_auth())

    def set_admin_auth(
        self, admin_key: str, acting_as: Mapping[str, JSONValue] | None = None
    ) -> None:
        """Authenticate with a deployment admin key (optionally acting as a user identity)."""
        self._call(lambda: self._client.set_admin_auth(admin_key, acting_as))

    # -- connection ----------------------------------------------------------------------

    def connection_state(self) -> ClientConnectionState:
        """The connection and the requests in flight, now; after ``close()``, the last state.

        ``last_error`` says, while the server cannot be reached, why.
        """
        try:
            return self._call(lambda: self._client.connection_state())
        except ClientClosedError:
            self._join()
            final = self._engine.final_state
            if final is None:
                raise
            return final

    def close(self) -> None:
        """Close the client and stop its thread; returns once nothing is left. Idempotent.

        Calls waiting in other threads raise ``ClientClosedError``; waiting
        subscription iterators end.
        """
        self._finalizer()  # what the garbage collector would do, once
        self._join()

    def __enter__(self) -> ConvexClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- handing work to the loop ---------------------------------------------------------

    def _timeout_for(self, timeout: Timeout) -> float | None:
        return self._timeout if timeout is _CLIENT_DEFAULT else _checked_timeout(timeout)

    def _submit(
        self,
        make: Callable[[], Coroutine[Any, Any, _T]],
        rescue: Callable[[_T], None] | None = None,
    ) -> concurrent.futures.Future[_T]:
        """Run ``make()`` in the loop; its outcome arrives in the returned future.

        Like ``asyncio.run_coroutine_threadsafe``, and cancelling the future
        cancels the task; but a result the caller gave up on just as it came
        is handed to ``rescue`` (in the loop) rather than lost.
        """
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def settle(task: asyncio.Task[_T]) -> None:
            if task.cancelled():
                future.cancel()
                return
            error = task.exception()
            try:
                if error is None:
                    future.set_result(task.result())
                else:
                    future.set_exception(error)
            except concurrent.futures.InvalidStateError:  # the caller gave up
                if error is None and rescue is not None:
                    rescue(task.result())

        def start() -> None:
            if future.cancelled():
                return
            try:
                task = asyncio.ensure_future(make())
            except Exception as exc:  # the caller gets it
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_exception(exc)
                return
            task.add_done_callback(settle)

            def cancel_task(done: concurrent.futures.Future[_T]) -> None:
                if done.cancelled():
                    self._soon(task.cancel)

            future.add_done_callback(cancel_task)

        with self._lock:
            if self._closed:
                raise ClientClosedError("the client is closed")
            self._loop.call_soon_threadsafe(start)
        return future

    def _call(self, function: Callable[[], _T]) -> _T:
        """Run a plain function in the loop thread and return what it returns."""
        if threading.current_thread() is self._thread:  # a callback: no need to wait
            with self._lock:
                if self._closed:
                    raise ClientClosedError("the client is closed")
            return function()

        async def run() -> _T:
            return function()

        return self._result(self._submit(run))

    def _result(
        self,
        future: concurrent.futures.Future[_T],
        rescue: Callable[[_T], None] | None = None,
        *,
        timeout: float | None = None,
        what: str = "the call",
        after: str = "",
    ) -> _T:
        """Wait for ``future`` without holding the GIL; Ctrl-C cancels what it waits for,
        and so does running out of ``timeout`` seconds (``TimeoutError``)."""
        if threading.current_thread() is self._thread:
            future.cancel()
            raise RuntimeError(
                "a blocking ConvexClient call from the client's own loop thread "
                "(a token fetcher or callback) would wait forever"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                wait = _WAIT_SLICE
                if deadline is not None:
                    left = max(deadline - time.monotonic(), 0.0)
                    wait = left if wait is None else min(wait, left)
                try:
                    return future.result(timeout=wait)
                except TimeoutError:
                    if future.done():  # it ended as the wait ran out, or raised TimeoutError
                        return future.result()
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TimeoutError(
                            f"{what} got no answer within {timeout:g} s{after}"
                        ) from None
        except concurrent.futures.CancelledError:
            if self._closed:
                raise ClientClosedError("the client was closed while the call waited") from None
            raise
        except BaseException:
            # Interrupted (or the call failed: then cancel() is a no-op). A result
            # that came as the wait was given up must not be lost.
            if not future.cancel() and rescue is not None:
                _rescue_from(future, rescue, self._soon)
            raise

    def _soon(self, function: Callable[..., object], *args: Any) -> None:
        """Run ``function(*args)`` in the loop soon, from any thread; nothing once closed."""
        self._engine.soon(function, *args)

    def _join(self) -> None:
        if threading.current_thread() is self._thread:
            return  # a callback: the thread ends once it returns
        while self._thread.is_alive():
            self._thread.join(_WAIT_SLICE)


class _Engine:
    """A ``ConvexClient``'s loop thread and everything it touches.

    Never a reference back to the ``ConvexClient``: the thread is a GC root,
    and the client must be collectable. ``shut_down`` is the client's
    finalizer (and the first half of ``close()``).
    """

    client: Client  # set in the loop thread before the constructor returns
    thread: threading.Thread

    def __init__(self, url: str) -> None:
        self.url = url
        # Reentrant: a subscription's finalizer may run (gc) while this thread holds it.
        self.lock = threading.RLock()
        self.closed = False
        self.final_state: ClientConnectionState | None = None
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()  # binds to the loop on first use, in the loop thread
        self.hub = _Hub()

    def run(self, ready: concurrent.futures.Future[None], options: dict[str, Any]) -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: self.loop) as runner:
                runner.run(self._main(ready, options))
        finally:
            with self.lock:
                self.closed = True  # even if the loop died: no call may wait on it
            if not ready.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    ready.set_exception(ClientClosedError("the client's loop thread ended"))

    async def _main(self, ready: concurrent.futures.Future[None], options: dict[str, Any]) -> None:
        try:
            self.client = Client(self.url, **options)
        except Exception as exc:
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # Ctrl-C'd
                ready.set_exception(exc)
            return
        self.hub.client = self.client
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            ready.set_result(None)
        await self.stop.wait()
        await self.client.close()
        self.final_state = self.client.connection_state()
        await self.hub.close()

    def shut_down(self) -> None:
        """Start closing, from any thread, without waiting: the thread ends by itself."""
        with self.lock:
            first, self.closed = not self.closed, True
        if first:
            # Every call submitted so far reaches the loop before this does.
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self.loop.call_soon_threadsafe(self.stop.set)

    def soon(self, function: Callable[..., object], *args: Any) -> None:
        """Run ``function(*args)`` in the loop soon, from any thread; nothing once closed."""
        with self.lock:
            if not self.closed:
                self.loop.call_soon_threadsafe(function, *args)


def _checked_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds, or None to wait")
    return None if math.isinf(timeout) else float(timeout)


class QuerySubscription:
    """One query's values: iterate for each new value, blocking (or ``async for``).

    A reader that falls behind skips to the latest value; a failed query
    raises its ``FunctionError`` from the iteration (the next value may succeed).
    Iteration ends when the client closes. Reading after ``unsubscribe()``
    raises ``RuntimeError``, as the official client raises for a dropped
    subscription (a wait in progress when another thread unsubscribes ends
    the iteration instead). Iterating waits for each change however long it
    takes, whatever the client's ``timeout``: ``next(timeout=…)`` bounds one wait.
    """

    def __init__(
        self,
        owner: ConvexClient,
        slot: _Slot,
        name: str,
        args: dict[str, ConvexValue],
    ) -> None:
        self._owner = owner
        self._slot = slot
        self.name = name
        self.args = args
        self._finalizer = weakref.finalize(self, _unsubscribe, owner._engine, slot)
        self._finalizer.atexit = False

    def __repr__(self) -> str:
        return f"<QuerySubscription {self.name} id {self.id}>"

    @property
    def id(self) -> int:
        """This subscriber, unique within its client: its key in ``watch_all()``'s dicts.

        As in the official client, two subscriptions to the same query and
        args have different ids (they share one query on the server).
        """
        return self._slot.id

    def unsubscribe(self) -> None:
        """Stop receiving; other subscriptions to the same query are unaffected."""
        self._finalizer()

    def next(self, timeout: float | None = None) -> Any:
        """The next value, waiting at most ``timeout`` seconds (``None``: as long as it takes).

        Raises ``TimeoutError`` when the time runs out (the value, when it
        comes, is still the next one read), ``StopIteration`` once the client
        closed, ``RuntimeError`` after ``unsubscribe()``.
        """
        if not self._finalizer.alive:
            raise RuntimeError(_UNSUBSCRIBED)
        owner, slot = self._owner, self._slot
        try:
            return owner._result(
                owner._submit(slot.take, slot.put_back),
                slot.put_back,
                timeout=_checked_timeout(timeout),
                what=f"the subscription to {self.name!r}",
            )
        except (StopAsyncIteration, ClientClosedError):
            raise StopIteration from None

    def __iter__(self) -> QuerySubscription:
        return self

    def __next__(self) -> Any:
        return self.next()

    def __aiter__(self) -> QuerySubscription:
        return self

    async def __anext__(self) -> Any:
        """The next value, awaited from any event loop (including the caller's own)."""
        if not self._finalizer.alive:
            raise RuntimeError(_UNSUBSCRIBED)
        try:
            future = self._owner._submit(self._slot.take, self._slot.put_back)
        except ClientClosedError:
            raise StopAsyncIteration from None
        return await _await_from_loop(future, self._owner, self._slot.put_back)


class QuerySetSubscription:
    """``watch_all()``: ``{subscription id: latest value}`` of every live subscription,
    one dict per change (blocking iteration or ``async for``). Ends at ``close()``."""

    def __init__(self, owner: ConvexClient, watcher: _Watcher) -> None:
        self._owner = owner
        self._watcher = watcher

    def __iter__(self) -> QuerySetSubscription:
        return self

    def __next__(self) -> dict[int, Any]:
        owner, watcher = self._owner, self._watcher
        try:
            return owner._result(owner._submit(watcher.next, watcher.replay), watcher.replay)
        except (StopAsyncIteration, ClientClosedError):
            raise StopIteration from None

    def __aiter__(self) -> QuerySetSubscription:
        return self

    async def __anext__(self) -> dict[int, Any]:
        owner, watcher = self._owner, self._watcher
        try:
            future = owner._submit(watcher.next, watcher.replay)
        except ClientClosedError:
            raise StopAsyncIteration from None
        return await _await_from_loop(future, owner, watcher.replay)


async def _await_from_loop(
    future: concurrent.futures.Future[_T],
    owner: ConvexClient,
    rescue: Callable[[_T], None],
) -> _T:
    """Await the loop thread's answer from another loop; the end of the client ends iteration."""
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if owner._closed and future.cancelled() and (task is None or not task.cancelling()):
            raise StopAsyncIteration from None  # cancelled by close(), not by our caller
        _rescue_from(future, rescue, owner._soon)
        raise
    except ClientClosedError:
        raise StopAsyncIteration from None


def _rescue_from(
    future: concurrent.futures.Future[_T],
    rescue: Callable[[_T], None],
    soon: Callable[..., None],
) -> None:
    """Hand back (in the loop) a value that arrived after its caller stopped waiting."""
    if future.done() and not future.cancelled() and future.exception() is None:
        soon(rescue, future.result())


def _unsubscribe(engine: _Engine, slot: _Slot) -> None:
    """``QuerySubscription.unsubscribe()`` and its finalizer: never blocks, any thread."""
    engine.soon(engine.hub.unsubscribe, slot)


class _Slot:
    """A ``QuerySubscription``'s unread value, filled by its query's pump (loop thread only).

    A value the caller gave up on as it arrived is put back, unless a newer
    one came meanwhile: the reader never loses the latest value.
    """

    __slots__ = ("_ended", "_error", "_hub", "_pending", "_waiter", "id", "query_id")

    def __init__(self, hub: _Hub, query_id: int, slot_id: int) -> None:
        self._hub = hub
        self.query_id = query_id
        self.id = slot_id
        self._pending: QueryResult | None = None
        self._ended = False
        self._error: SyncwireError | None = None
        self._waiter: asyncio.Future[None] | None = None

    async def take(self) -> Any:
        while True:
            while self._pending is None:
                if self._ended:
                    if self._error is not None:
                        raise copy.copy(self._error)  # a fresh traceback for each read
                    raise StopAsyncIteration
                failure = self._hub.auth_failure()
                if failure is not None:  # reported once by the pump; and again while it lasts
                    raise copy.copy(failure)
                if self._waiter is not None:
                    raise RuntimeError("another thread is already waiting for this subscription")
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            result, self._pending = self._pending, None
            if result.error is None:
                return result.value
            if isinstance(result.error, AuthenticationError) and self._hub.auth_failure() is None:
                continue  # unread, and over since: the next value comes under the new identity
            raise copy.copy(result.error)  # shared by the query's readers: fresh tracebacks

    def put(self, result: QueryResult) -> None:
        if not self._ended:
            self._pending = result
            self._wake()

    def put_back(self, value: Any) -> None:
        if self._pending is None:
            self.put(QueryResult(value=value))

    def end(self, error: SyncwireError | None) -> None:
        self._ended, self._error, self._pending = True, error, None
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Hub:
    """Every live query's latest result, shared by its ``QuerySubscription``s and
    ``watch_all`` (loop thread only).

    Each query has one ``Subscription`` of the async client, read by a pump
    task that hands each result to the query's slots and to the watchers.
    """

    client: Client | None = None

    def __init__(self) -> None:
        self._subscriptions: dict[int, Subscription] = {}
        self._slots: dict[int, list[_Slot]] = {}
        self._slot_ids = itertools.count()
        self._latest: dict[int, QueryResult] = {}
        self._pumps: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Event | None = None
        self.version = 0
        self.ended = False
        self.error: SyncwireError | None = None

    def subscribe(self, client: Client, name: str, args: Mapping[str, ConvexValue] | None) -> _Slot:
        subscription = client.subscribe(name, args)
        query_id = subscription.query_id
        if query_id in self._subscriptions:
            subscription.unsubscribe()  # the query's pump already reads it
        else:
            self._subscriptions[query_id] = subscription
            pump = asyncio.ensure_future(self._pump(query_id, subscription))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)
        slot = _Slot(self, query_id, next(self._slot_ids))
        self._slots.setdefault(query_id, []).append(slot)
        latest = self._latest.get(query_id)
        if latest is not None:
            slot.put(latest)  # a shared query's current value
            self._bump()  # a new key in watch_all's view
        return slot

    def auth_failure(self) -> AuthenticationError | None:
        """The client's, while the server rejects the identity the user gave."""
        return None if self.client is None else self.client._auth_failure

    def unsubscribe(self, slot: _Slot) -> None:
        query_id = slot.query_id
        slots = self._slots.get(query_id, [])
        if slot not in slots:
            return
        slots.remove(slot)
        slot.end(None)
        if slots:
            if query_id in self._latest:
                self._bump()  # one key fewer in watch_all's view
            return
        del self._slots[query_id]
        self._subscriptions.pop(query_id).unsubscribe()  # its pump ends
        if self._latest.pop(query_id, None) is not None:
            self._bump()

    def snapshot(self) -> dict[int, Any]:
        """``{subscriber id: value}``, as the official client keys it; a failed
        query's value is its error."""
        return {
            slot.id: result.value if result.error is None else result.error
            for query_id, result in self._latest.items()
            for slot in self._slots.get(query_id, ())
        }

    def watch(self) -> _Watcher:
        return _Watcher(self)

    async def wait(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    async def close(self) -> None:
        """The client closed: the pumps end the slots, then the watchers end."""
        results = await asyncio.gather(*self._pumps, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                _log.error("a ConvexClient subscription pump failed", exc_info=result)
        self.ended = True
        self._bump()

    async def _pump(self, query_id: int, subscription: Subscription) -> None:
        error: SyncwireError | None = None
        while True:
            try:
                result = QueryResult(value=await subscription.next())
            except StopAsyncIteration:
                break
            except (FunctionError, AuthenticationError) as failure:
                result = QueryResult(error=failure)
            except SyncwireError as fatal:  # the server ended the session
                error = fatal
                break
            if self._subscriptions.get(query_id) is not subscription:
                return  # unsubscribed meanwhile
            self._latest[query_id] = result
            for slot in self._slots.get(query_id, ()):
                slot.put(result)
            self._bump()
            if isinstance(result.error, AuthenticationError):
                # next() raises it until set_auth/clear_auth: wait for that, not spin.
                await subscription._settled()
                if self._subscriptions.get(query_id) is not subscription:
                    return
        if self._subscriptions.get(query_id) is subscription:  # the client ended
            for slot in self._slots.pop(query_id, ()):
                slot.end(error)
            if error is not None:
                self.error = error
                self._bump()

    def _bump(self) -> None:
        self.version += 1
        self.wake()

    def wake(self) -> None:
        """Let every waiting watcher look again."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class _Watcher:
    """One ``watch_all()`` reader's place in the hub's history (loop thread only)."""

    def __init__(self, hub: _Hub) -> None:
        self._hub = hub
        self._seen = -1  # nothing read yet: the current view comes first
        self._previous = -1

    async def next(self) -> dict[int, Any]:
        hub = self._hub
        while True:
            if hub.error is not None:
                raise copy.copy(hub.error)
            if hub.ended:
                raise StopAsyncIteration
            if hub.version > self._seen and (self._seen >= 0 or hub.snapshot()):
                self._previous, self._seen = self._seen, hub.version
                return hub.snapshot()
            await hub.wait()

    def replay(self, _snapshot: dict[int, Any]) -> None:
        """The last view was not received: the next read gives the current one at once."""
        self._seen = self._previous
        self._hub.wake()
