"""``DevServerThread``: the dev server for blocking code (scripts, notebooks, pytest).

``DevServer`` lives in an event loop; blocking code has none to give it. This
runs one on its own daemon thread and loop, started and stopped from the
caller's thread::

    with DevServerThread(chat_app()) as server:
        client = ConvexClient(server.url)

Faults are injected in the server's loop, with ``call``:
``server.call(lambda: server.server.faults.close_all(1013, "Overloaded"))``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any
from typing import Final
from typing import TypeVar

from syncwire.devserver.app import App
from syncwire.devserver.server import DevServer

__all__ = ["DevServerThread"]

_T = TypeVar("_T")
START_TIMEOUT: Final = 30.0
"""Seconds ``start`` and ``stop`` wait for the thread, and ``run`` for its coroutine."""


class DevServerThread:
    """A ``DevServer`` on its own thread and event loop; ``DevServer``'s options."""

    def __init__(self, app: App, **options: Any) -> None:
        self._app = app
        self._options = options
        self._ready: concurrent.futures.Future[
            tuple[DevServer, asyncio.AbstractEventLoop, asyncio.Event]
        ] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="syncwire-DevServerThread", daemon=True
        )

    @property
    def server(self) -> DevServer:
        """The running ``DevServer``: use it from its loop only (see ``call``)."""
        return self._running()[0]

    @property
    def url(self) -> str:
        """The deployment URL to give clients (``http://127.0.0.1:PORT``)."""
        return self.server.url

    def start(self) -> None:
        """Start the thread and wait until the server listens; its errors are raised here."""
        if self._thread.ident is not None:
            raise RuntimeError("a DevServerThread starts once")
        self._thread.start()
        self._ready.result(START_TIMEOUT)

    def stop(self) -> None:
        """Stop the server and wait for its thread to end."""
        if self._ready.done() and self._ready.exception() is None:
            _server, loop, stopping = self._ready.result()
            if not loop.is_closed():
                loop.call_soon_threadsafe(stopping.set)
        if self._thread.ident is not None:
            self._thread.join(START_TIMEOUT)
            if self._thread.is_alive():
                raise TimeoutError(f"the dev server thread did not stop in {START_TIMEOUT:g} s")

    def run(self, make: Callable[[], Awaitable[_T]]) -> _T:
        """``await make()`` in the server's loop, from the caller's thread; bounded."""

        async def bounded() -> _T:
            async with asyncio.timeout(START_TIMEOUT):
                return await make()

        loop = self._running()[1]
        return asyncio.run_coroutine_threadsafe(bounded(), loop).result(START_TIMEOUT + 1)

    def call(self, function: Callable[[], _T]) -> _T:
        """``function()`` in the server's loop (faults and data are touched there)."""

        async def called() -> _T:
            return function()

        return self.run(called)

    def __enter__(self) -> DevServerThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _running(self) -> tuple[DevServer, asyncio.AbstractEventLoop, asyncio.Event]:
        if not self._ready.done():
            raise RuntimeError("the DevServerThread is not started")
        return self._ready.result()

    async def _main(self) -> None:
        try:
            async with DevServer(self._app, **self._options) as server:
                stopping = asyncio.Event()
                self._ready.set_result((server, asyncio.get_running_loop(), stopping))
                await stopping.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
                return
            raise
