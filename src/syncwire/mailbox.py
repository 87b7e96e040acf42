"""``Mailbox``: the newest values a producer put, for one reader at a time.

Everything runs on one event loop: the producer calls ``put`` (never
blocking, from a callback), the reader awaits ``get``. A mailbox holds at
most ``capacity`` unread values and drops the oldest when a new one comes,
so a reader that falls behind skips ahead and never reads a stale value
after a newer one. The default capacity is 1: the latest value.

Closing ends the reader's iteration (``StopAsyncIteration``) once it has read
what is left; failing makes every later read raise a copy of the error.
"""

from __future__ import annotations

import asyncio
import collections
import copy
from collections.abc import Callable
from typing import Generic
from typing import TypeVar

__all__ = ["Mailbox"]

T = TypeVar("T")


class Mailbox(Generic[T]):
    """The newest ``capacity`` values put, read oldest first by one reader at a time.

    ``skip_repeats`` ignores a value equal to the newest unread one. ``busy``
    is the ``RuntimeError`` message a second reader gets while one waits.
    """

    __slots__ = ("_busy", "_closed", "_error", "_skip_repeats", "_unread", "_waiter")

    def __init__(
        self,
        *,
        capacity: int = 1,
        skip_repeats: bool = False,
        busy: str = "another task is already waiting for this mailbox",
    ) -> None:
        if capacity < 1:
            raise ValueError("a mailbox holds at least one value")
        self._unread: collections.deque[T] = collections.deque(maxlen=capacity)
        self._skip_repeats = skip_repeats
        self._busy = busy
        self._closed = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        """``close()`` or ``fail()`` was called: no value is put from now on."""
        return self._closed

    @property
    def unread(self) -> int:
        """How many values wait to be read."""
        return len(self._unread)

    def put(self, value: T) -> None:
        """Keep ``value`` as the newest (a full mailbox drops its oldest); nothing once closed."""
        if self._closed:
            return
        if self._skip_repeats and self._unread and self._unread[-1] == value:
            return
        self._unread.append(value)
        self.wake()

    def put_back(self, value: T) -> None:
        """Give back a value taken but never delivered (its reader gave up just as it
        came), unless a newer one came meanwhile: the reader never loses the latest."""
        if not self._closed and not self._unread:
            self._unread.append(value)
            self.wake()

    def discard(self) -> None:
        """Drop the unread values (they are stale now); a waiting reader looks again."""
        self._unread.clear()
        self.wake()

    def close(self, *, discard: bool = False) -> None:
        """End: the reader gets the unread values (none with ``discard``), then
        ``StopAsyncIteration``. A mailbox already closed (or failed) stays as it is."""
        if self._closed:
            return
        self._closed = True
        if discard:
            self._unread.clear()
        self.wake()

    def fail(self, error: BaseException) -> None:
        """End with ``error``: the unread values go, and every read raises a copy of it
        (each its own traceback). A mailbox already closed stays as it is."""
        if self._closed:
            return
        self._closed, self._error = True, error
        self._unread.clear()
        self.wake()

    async def get(self, check: Callable[[], None] | None = None) -> T:
        """The oldest unread value, waiting for one.

        Raises ``StopAsyncIteration`` once closed and read to the end, and a
        copy of the error once failed. ``check`` runs before each wait and
        may raise instead: for a condition outside the mailbox that the
        reader must hear of rather than wait through (call ``wake()`` when it
        changes).
        """
        while not self._unread:
            if self._closed:
                if self._error is not None:
                    raise copy.copy(self._error)
                raise StopAsyncIteration
            if check is not None:
                check()
            await self.wait()
        return self._unread.popleft()

    async def wait(self) -> None:
        """Until the next change: ``put``, ``put_back``, ``discard``, ``close``, ``fail``
        or ``wake``. One reader at a time: a second raises ``RuntimeError``."""
        if self._waiter is not None:
            raise RuntimeError(self._busy)
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def wake(self) -> None:
        """Let a waiting reader look again (something its ``check`` reads changed)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
