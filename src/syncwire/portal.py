"""``Portal``: an event loop in a daemon thread of its own, and calls into it from any thread.

Like anyio's ``BlockingPortal`` or trio's ``from_thread``. The thread enters an
async context (the portal's lifespan) when the portal starts and exits it
when the portal stops; in between, any thread hands it coroutines
(``submit``) or plain functions (``call``, ``soon``) and waits for their
outcome (``result``, or ``result_async`` from another event loop).

A blocking wait releases the GIL and, on POSIX, is interrupted by Ctrl-C (a
signal handler's exception); elsewhere it wakes every ``WAIT_SLICE`` seconds
so that Ctrl-C is seen. An interrupted or timed-out wait cancels what it
waited for, and a result that came just as the caller gave up is handed to a
``rescue`` function in the loop rather than lost.

The thread holds the portal, never its owner: ``stop_with(owner)`` stops the
portal when the owner is garbage-collected (``weakref.finalize``), so an
owner nobody refers to any more leaves no thread behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any
from typing import Final
from typing import TypeVar

__all__ = ["WAIT_SLICE", "Portal", "PortalClosedError", "checked_timeout"]

T = TypeVar("T")

WAIT_SLICE: Final = None if os.name == "posix" else 0.1
"""Seconds one blocking wait lasts before Python can run a signal handler.

A POSIX lock wait is interrupted by signals, so it can wait whole; on Windows
it is not, and Ctrl-C is only seen when the wait returns.
"""


class PortalClosedError(RuntimeError):
    """The portal stopped (or is stopping): it takes no more work, and what it ran is cancelled."""


class Portal:
    """A daemon thread running an event loop, and the way in from other threads.

    ``lifespan()`` returns the async context the loop thread runs in: entered
    by ``start()``, exited after ``stop()``. ``thread_name`` names the thread;
    ``called`` is how error messages name what runs there (``"the client"``).
    """

    def __init__(
        self,
        lifespan: Callable[[], AbstractAsyncContextManager[object]],
        *,
        thread_name: str,
        called: str = "the portal",
    ) -> None:
        self._lifespan = lifespan
        self._called = called
        # Reentrant: a finalizer may run (gc) while this thread holds it.
        self._lock = threading.RLock()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()  # binds to the loop on first use, in the loop thread
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._finalizer: weakref.finalize[[], object] | None = None
        self.thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        """The loop thread."""

    @property
    def closed(self) -> bool:
        """``stop()`` was called, or the loop thread ended."""
        return self._closed

    def in_loop_thread(self) -> bool:
        """Called from the portal's own loop thread (where a blocking wait never ends)."""
        return threading.current_thread() is self.thread

    # -- life ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; returns once the lifespan was entered.

        Raises what entering it raised (``PortalClosedError`` if the thread
        died first); the portal is closed then, with no thread left.
        """
        self.thread.start()
        try:
            self.result(self._ready)
        except BaseException:
            self.close()
            raise

    def stop_with(self, owner: object) -> None:
        """Stop when ``owner`` is garbage-collected (not at exit: the daemon thread ends
        with the process anyway). Nothing the portal holds may refer to ``owner``."""
        self._finalizer = weakref.finalize(owner, self.stop)
        self._finalizer.atexit = False

    def stop(self) -> None:
        """Start stopping, from any thread or a finalizer, without waiting: the lifespan
        exits, then the thread ends by itself. Idempotent."""
        if self._finalizer is not None:
            self._finalizer.detach()
        with self._lock:
            first, self._closed = not self._closed, True
        if first:
            # Every call submitted so far reaches the loop before this does.
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)

    def join(self) -> None:
        """Wait for the thread to end; at once from the loop thread itself (it ends once
        the callback that called this returns)."""
        if self.in_loop_thread():
            return
        while self.thread.is_alive():
            self.thread.join(WAIT_SLICE)

    def close(self) -> None:
        """``stop()``, then ``join()``."""
        self.stop()
        self.join()

    # -- calls -----------------------------------------------------------------------------

    def soon(self, function: Callable[..., object], *args: Any) -> None:
        """Run ``function(*args)`` in the loop soon, from any thread; nothing once closed."""
        with self._lock:
            if not self._closed:
                self._loop.call_soon_threadsafe(function, *args)

    def submit(
        self,
        make: Callable[[], Coroutine[Any, Any, T]],
        rescue: Callable[[T], None] | None = None,
    ) -> concurrent.futures.Future[T]:
        """Run ``make()`` in the loop; its outcome arrives in the returned future.

        Like ``asyncio.run_coroutine_threadsafe``, and cancelling the future
        cancels the task; but a result the caller gave up on just as it came
        is handed to ``rescue`` (in the loop) rather than lost.
        Raises ``PortalClosedError`` once closed.
        """
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def settle(task: asyncio.Task[T]) -> None:
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

            def cancel_task(done: concurrent.futures.Future[T]) -> None:
                if done.cancelled():
                    self.soon(task.cancel)

            future.add_done_callback(cancel_task)

        with self._lock:
            if self._closed:
                raise PortalClosedError(f"{self._called} is closed")
            self._loop.call_soon_threadsafe(start)
        return future

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function in the loop thread and return what it returns (from the
        loop thread itself: at once)."""
        if self.in_loop_thread():
            with self._lock:
                if self._closed:
                    raise PortalClosedError(f"{self._called} is closed")
            return function()

        async def run() -> T:
            return function()

        return self.result(self.submit(run))

    def result(
        self,
        future: concurrent.futures.Future[T],
        rescue: Callable[[T], None] | None = None,
        *,
        timeout: float | None = None,
        timeout_message: str | None = None,
    ) -> T:
        """Wait for ``future`` without holding the GIL.

        Anything that interrupts the wait (Ctrl-C) cancels what it waits for,
        and so does running out of ``timeout`` seconds (``TimeoutError``,
        saying ``timeout_message``); a result that came meanwhile goes to
        ``rescue``. Cancelled by the portal's closing: ``PortalClosedError``.
        """
        if self.in_loop_thread():
            future.cancel()
            raise RuntimeError(
                f"a blocking call into {self._called} from its own loop thread would wait forever"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                wait = WAIT_SLICE
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
                            timeout_message or f"no answer within {timeout:g} s"
                        ) from None
        except concurrent.futures.CancelledError:
            if self._closed:
                raise PortalClosedError(
                    f"{self._called} was closed while the call waited"
                ) from None
            raise
        except BaseException:
            # Interrupted (or the call failed: then cancel() is a no-op). A result
            # that came as the wait was given up must not be lost.
            if not future.cancel() and rescue is not None:
                self._rescue(future, rescue)
            raise

    async def result_async(
        self,
        future: concurrent.futures.Future[T],
        rescue: Callable[[T], None] | None = None,
    ) -> T:
        """Await ``future`` from another event loop (a coroutine's own).

        Cancelled by the caller, it cancels what it waits for (a result that
        came meanwhile goes to ``rescue``); by the portal's closing, it raises
        ``PortalClosedError``.
        """
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and future.cancelled() and (task is None or not task.cancelling()):
                raise PortalClosedError(
                    f"{self._called} was closed while the call waited"
                ) from None
            if rescue is not None:
                self._rescue(future, rescue)
            raise

    # -- internals ------------------------------------------------------------------------

    def _rescue(self, future: concurrent.futures.Future[T], rescue: Callable[[T], None]) -> None:
        """Hand back (in the loop) a value that arrived after its caller stopped waiting."""
        if future.done() and not future.cancelled() and future.exception() is None:
            self.soon(rescue, future.result())

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: self._loop) as runner:
                runner.run(self._main())
        finally:
            with self._lock:
                self._closed = True  # even if the loop died: no call may wait on it
            if not self._ready.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    self._ready.set_exception(
                        PortalClosedError(f"{self._called}'s loop thread ended")
                    )

    async def _main(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self._lifespan())
            except Exception as exc:
                with contextlib.suppress(concurrent.futures.InvalidStateError):  # Ctrl-C'd
                    self._ready.set_exception(exc)
                return
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                self._ready.set_result(None)
            await self._stop.wait()


def checked_timeout(timeout: object) -> float | None:
    """A wait's ``timeout`` argument as seconds: a positive number, or ``None`` (also for
    infinity) to wait as long as it takes."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds, or None to wait")
    return None if math.isinf(timeout) else float(timeout)
