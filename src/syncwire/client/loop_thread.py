"""``LoopThread``: a ``ConvexClient``'s event-loop thread, with the asyncio ``Client`` in it.

A ``Portal`` (``syncwire.portal``) runs the loop and takes calls from other
threads. This module makes the ``Client`` and the ``Hub`` of blocking
subscriptions there, closes them when the portal stops, and puts the
portal's calls in the client's words: a closed portal is a closed client
(``ClientClosedError``).

The thread holds only the ``LoopThread``, never the ``ConvexClient``: an
unreferenced ``ConvexClient`` is collected like any object, and the portal
stops with it (``stop_with``), ending the thread and the socket.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Iterator
from typing import Any
from typing import TypeVar

from syncwire.client.client import Client
from syncwire.client.client import ClientConnectionState
from syncwire.client.hub import Hub
from syncwire.errors import ClientClosedError
from syncwire.portal import Portal
from syncwire.portal import PortalClosedError

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """A ``ConvexClient``'s loop thread and everything it touches.

    Never a reference back to the ``ConvexClient``: the thread is a GC root,
    and the client must be collectable.
    """

    client: Client
    """Made in the loop thread before ``start()`` returns."""

    def __init__(self, url: str, options: dict[str, Any], *, thread_name: str) -> None:
        self._url = url
        self._options = options
        self.hub = Hub()
        self.final_state: ClientConnectionState | None = None
        """The client's connection state once it closed."""
        self._portal = Portal(self._running, thread_name=thread_name, called="the client")

    @property
    def thread(self) -> threading.Thread:
        """The ``threading.Thread`` running the loop."""
        return self._portal.thread

    @property
    def closed(self) -> bool:
        """The client is closed (or closing): no call is taken any more."""
        return self._portal.closed

    # -- life ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread and make the client there (what ``Client()`` raises, raises here)."""
        with _in_client_words():
            self._portal.start()

    def stop_with(self, owner: object) -> None:
        """Close the client when ``owner`` is garbage-collected."""
        self._portal.stop_with(owner)

    def close(self) -> None:
        """Close the client and stop the thread; returns once it ended. Idempotent."""
        self._portal.close()

    def join(self) -> None:
        """Wait for the thread to end (at once from the thread itself)."""
        self._portal.join()

    # -- calls -----------------------------------------------------------------------------

    def soon(self, function: Callable[..., object], *args: Any) -> None:
        """Run ``function(*args)`` in the loop soon, from any thread; nothing once closed."""
        self._portal.soon(function, *args)

    def submit(
        self,
        make: Callable[[], Coroutine[Any, Any, T]],
        rescue: Callable[[T], None] | None = None,
    ) -> concurrent.futures.Future[T]:
        """``Portal.submit``: run ``make()`` in the loop; ``ClientClosedError`` once closed."""
        with _in_client_words():
            return self._portal.submit(make, rescue)

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function in the loop thread and return what it returns."""
        with _in_client_words():
            return self._portal.call(function)

    def result(
        self,
        future: concurrent.futures.Future[T],
        rescue: Callable[[T], None] | None = None,
        *,
        timeout: float | None = None,
        what: str = "the call",
        after: str = "",
    ) -> T:
        """Wait for ``future`` without holding the GIL; Ctrl-C cancels what it waits for,
        and so does running out of ``timeout`` seconds (``TimeoutError``: ``what`` got
        no answer, and ``after``)."""
        if self._portal.in_loop_thread():
            future.cancel()
            raise RuntimeError(
                "a blocking ConvexClient call from the client's own loop thread "
                "(a token fetcher or callback) would wait forever"
            )
        message = None if timeout is None else f"{what} got no answer within {timeout:g} s{after}"
        with _in_client_words():
            return self._portal.result(future, rescue, timeout=timeout, timeout_message=message)

    async def result_async(
        self, future: concurrent.futures.Future[T], rescue: Callable[[T], None]
    ) -> T:
        """Await ``future`` from another event loop (the caller's own)."""
        with _in_client_words():
            return await self._portal.result_async(future, rescue)

    # -- in the loop thread -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """The portal's lifespan: the client is open while the portal runs."""
        self.client = Client(self._url, **self._options)
        self.hub.client = self.client
        try:
            yield
        finally:
            await self.client.close()
            self.final_state = self.client.connection_state()
            await self.hub.close()


@contextlib.contextmanager
def _in_client_words() -> Iterator[None]:
    """A closed portal is a closed client."""
    try:
        yield
    except PortalClosedError as exc:
        raise ClientClosedError(str(exc)) from None
