"""``Portal``: an event loop in its own thread, calls into it, and a clean end."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import math
import threading
from collections.abc import AsyncIterator
from collections.abc import Iterator

import pytest

from syncwire.portal import Portal
from syncwire.portal import PortalClosedError
from syncwire.portal import checked_timeout

TIMEOUT = 10.0


def _portal(events: list[str] | None = None) -> Portal:
    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        if events is not None:
            events.append("entered")
        yield
        if events is not None:
            events.append("exited")

    return Portal(lifespan, thread_name="test-portal", called="the thing")


@pytest.fixture
def portal() -> Iterator[Portal]:
    """A started ``_portal()``, closed after the test (closing twice is fine)."""
    portal = _portal()
    portal.start()
    try:
        yield portal
    finally:
        portal.close()


def test_calls_run_in_the_loop_thread_and_stop_exits_the_lifespan() -> None:
    events: list[str] = []
    portal = _portal(events)
    portal.start()
    assert events == ["entered"]

    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert portal.result(portal.submit(where)) == "test-portal"
    assert portal.call(lambda: threading.current_thread().name) == "test-portal"
    portal.close()
    assert events == ["entered", "exited"]
    assert not portal.thread.is_alive()
    with pytest.raises(PortalClosedError, match="the thing is closed"):
        portal.submit(where)
    portal.close()  # idempotent


def test_a_lifespan_that_fails_to_enter_fails_start_and_leaves_no_thread() -> None:
    def failing() -> contextlib.AbstractAsyncContextManager[None]:
        raise ValueError("no")

    portal = Portal(failing, thread_name="test-portal")
    with pytest.raises(ValueError, match="no"):
        portal.start()
    assert portal.closed
    assert not portal.thread.is_alive()


def test_a_timeout_cancels_the_call_and_a_value_given_up_on_is_rescued(portal: Portal) -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(math.inf)
        finally:
            cancelled.set()

    with pytest.raises(TimeoutError, match="too slow"):
        portal.result(portal.submit(forever), timeout=0.05, timeout_message="too slow")
    assert cancelled.wait(TIMEOUT)

    rescued: concurrent.futures.Future[str] = concurrent.futures.Future()
    submitted: concurrent.futures.Future[concurrent.futures.Future[str]]
    submitted = concurrent.futures.Future()

    async def give_up_then_answer() -> str:
        (await asyncio.wrap_future(submitted)).cancel()
        return "the value"

    future = portal.submit(give_up_then_answer, rescued.set_result)
    submitted.set_result(future)
    assert rescued.result(TIMEOUT) == "the value"


def test_closing_ends_a_wait_in_another_thread(portal: Portal) -> None:
    async def forever() -> None:
        await asyncio.sleep(math.inf)

    future = portal.submit(forever)
    closer = threading.Timer(0.05, portal.close)
    closer.start()
    with pytest.raises(PortalClosedError, match="was closed while the call waited"):
        portal.result(future)
    closer.join(TIMEOUT)


def test_a_wait_from_the_loop_thread_raises_instead_of_hanging(portal: Portal) -> None:
    def wait_inside() -> str:
        try:
            portal.result(concurrent.futures.Future())
        except RuntimeError as exc:
            return str(exc)
        return "waited"

    assert "own loop thread" in portal.call(wait_inside)


def test_result_async_waits_from_another_loop(portal: Portal) -> None:
    async def answer() -> int:
        return 42

    async def main() -> int:
        return await portal.result_async(portal.submit(answer))

    assert asyncio.run(main()) == 42


def test_the_owner_collected_stops_the_portal() -> None:
    class Owner:
        pass

    portal = _portal()
    owner = Owner()
    portal.stop_with(owner)
    portal.start()
    del owner
    gc.collect()
    portal.join()
    assert portal.closed


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, None), (math.inf, None), (2, 2.0), (0.5, 0.5)],
)
def test_checked_timeout(given: object, expected: float | None) -> None:
    assert checked_timeout(given) == expected


@pytest.mark.parametrize(
    ("given", "error"),
    [(True, TypeError), ("1", TypeError), (0, ValueError), (-1.0, ValueError)],
)
def test_checked_timeout_refuses(given: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        checked_timeout(given)
