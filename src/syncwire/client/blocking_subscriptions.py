"""``QuerySubscription`` and ``QuerySetSubscription``: the blocking client's subscriptions,
on the caller's side.

Each read hands the loop thread a wait for the next value (``Slot.take`` or
``Watcher.next``, in ``syncwire.client.hub``) and waits for its answer,
blocking or from the caller's own event loop. A value the caller gave up
on just as it came is handed back, so the next read returns it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from collections.abc import Coroutine
from typing import Any
from typing import Final
from typing import TypeVar

from syncwire.client.hub import Slot
from syncwire.client.hub import Watcher
from syncwire.client.loop_thread import LoopThread
from syncwire.errors import ClientClosedError
from syncwire.portal import checked_timeout
from syncwire.protocol import ConvexValue
from syncwire.results import convert_result

__all__ = ["QuerySetSubscription", "QuerySubscription"]

T = TypeVar("T")

_UNSUBSCRIBED: Final = "this subscription was unsubscribed: subscribe again for values"


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
        owner: object,
        loop_thread: LoopThread,
        slot: Slot,
        name: str,
        args: dict[str, ConvexValue],
        *,
        result_type: Any = None,
    ) -> None:
        self._owner = owner  # the ConvexClient lives as long as its subscriptions
        self._loop_thread = loop_thread
        self._slot = slot
        self.name = name
        self.args = args
        self.result_type = result_type
        """What each value is converted into (``None``: values as they come)."""
        # unsubscribe() and the garbage collector's: never blocks, any thread.
        self._finalizer = weakref.finalize(
            self, loop_thread.soon, loop_thread.hub.unsubscribe, slot
        )
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
        slot = self._slot
        value = _next(
            self._loop_thread,
            slot.take,
            slot.put_back,
            timeout=checked_timeout(timeout),
            what=f"the subscription to {self.name!r}",
        )
        return self._typed(value)

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
        return self._typed(await _anext(self._loop_thread, self._slot.take, self._slot.put_back))

    def _typed(self, value: Any) -> Any:
        """Converted in the reader's thread; a value that does not fit is consumed."""
        return value if self.result_type is None else convert_result(value, self.result_type)


class QuerySetSubscription:
    """``watch_all()``: ``{subscription id: latest value}`` of every live subscription,
    one dict per change (blocking iteration or ``async for``). Ends at ``close()``."""

    def __init__(self, owner: object, loop_thread: LoopThread, watcher: Watcher) -> None:
        self._owner = owner  # the ConvexClient lives as long as its subscriptions
        self._loop_thread = loop_thread
        self._watcher = watcher

    def __iter__(self) -> QuerySetSubscription:
        return self

    def __next__(self) -> dict[int, Any]:
        return _next(self._loop_thread, self._watcher.next, self._watcher.replay)

    def __aiter__(self) -> QuerySetSubscription:
        return self

    async def __anext__(self) -> dict[int, Any]:
        return await _anext(self._loop_thread, self._watcher.next, self._watcher.replay)


def _next(
    loop_thread: LoopThread,
    take: Callable[[], Coroutine[Any, Any, T]],
    rescue: Callable[[T], None],
    *,
    timeout: float | None = None,
    what: str = "the call",
) -> T:
    """The next value, waited for here; the end of the client ends iteration."""
    try:
        future = loop_thread.submit(take, rescue)
        return loop_thread.result(future, rescue, timeout=timeout, what=what)
    except (StopAsyncIteration, ClientClosedError):
        raise StopIteration from None


async def _anext(
    loop_thread: LoopThread,
    take: Callable[[], Coroutine[Any, Any, T]],
    rescue: Callable[[T], None],
) -> T:
    """The next value, awaited from another event loop; the end of the client ends iteration."""
    try:
        future = loop_thread.submit(take, rescue)
        return await loop_thread.result_async(future, rescue)
    except ClientClosedError:
        raise StopAsyncIteration from None
