"""``ConvexClient``, the blocking facade, on real sockets against the dev server.

The dev server runs in a background thread with its own event loop, as a
deployment would run elsewhere; the blocking client is used from the test's
own (main) thread, as a script would. A blocking call has no timeout of its
own, so every stretch of blocking calls runs under ``deadline``: if it takes
too long, the client is closed, which ends every wait, and the test fails.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import faulthandler
import gc
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from types import FrameType
from typing import Any
from typing import TypeVar

import pytest

import syncwire
from syncwire import BackoffPolicy
from syncwire import Client
from syncwire import ClientClosedError
from syncwire import ConvexClient
from syncwire import ConvexError
from syncwire import FunctionError
from syncwire import SyncwireError
from syncwire.devserver import ActionCtx
from syncwire.devserver import App
from syncwire.devserver import AppError
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver import QueryCtx
from syncwire.devserver import make_hs256_token
from syncwire.devserver.example import chat_app
from syncwire.protocol import ConvexValue

TIMEOUT = 20.0
SECRET = "blocking-test-secret"
FAST_BACKOFF = BackoffPolicy(
    client_initial=0.01,
    unknown_initial=0.02,
    max_backoff=0.2,
    server_errors={"SubscriptionsWorkerFullError": 0.05, "InternalServerError": 0.02},
)

_T = TypeVar("_T")


# -- the app --------------------------------------------------------------------------


def _counter(ctx: QueryCtx | MutationCtx, name: ConvexValue) -> dict[str, ConvexValue] | None:
    return ctx.db.query("counters").filter(lambda doc: doc.get("name") == name).first()


def counter_get(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    doc = _counter(ctx, args["name"])
    return 0.0 if doc is None else doc["value"]


def counter_add(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    by = args.get("by", 1.0)
    assert isinstance(by, float | int)
    doc = _counter(ctx, args["name"])
    if doc is None:
        ctx.db.insert("counters", {"name": args["name"], "value": float(by)})
        return float(by)
    value = doc["value"]
    assert isinstance(value, float)
    ctx.db.patch(str(doc["_id"]), {"value": value + by})
    return value + by


def hello(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    return {"hello": "world", "args": dict(args)}


async def double(ctx: ActionCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    n = args["n"]
    assert isinstance(n, float | int)
    return n * 2


def whoami(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    return None if ctx.auth is None else str(ctx.auth["subject"])


def fails_with_data(ctx: Any, args: Mapping[str, ConvexValue]) -> ConvexValue:
    raise AppError({"code": 42.0, "why": "not today"})


def fails_plainly(ctx: Any, args: Mapping[str, ConvexValue]) -> ConvexValue:
    raise RuntimeError("boom")


def make_app() -> App:
    app = chat_app()
    app.query("counter:get", counter_get)
    app.mutation("counter:add", counter_add)
    app.query("hello:world", hello)
    app.action("math:double", double)
    app.query("auth:whoami", whoami)
    app.query("fail:query", fails_with_data)
    app.mutation("fail:mutation", fails_plainly)
    app.action("fail:action", fails_with_data)
    return app


# -- the server thread ---------------------------------------------------------------------


class ServerThread:
    """A ``DevServer`` on 127.0.0.1 in its own thread and event loop."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.server: DevServer
        self.loop: asyncio.AbstractEventLoop
        self._stop: asyncio.Event

    @property
    def url(self) -> str:
        return self.server.url

    async def _main(self) -> None:
        try:
            async with DevServer(make_app(), **self._options) as server:
                self.server, self.loop, self._stop = (
                    server,
                    asyncio.get_running_loop(),
                    asyncio.Event(),
                )
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, make: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``await make()`` in the server's loop; bounded."""

        async def bounded() -> _T:
            async with asyncio.timeout(TIMEOUT):
                return await make()

        return asyncio.run_coroutine_threadsafe(bounded(), self.loop).result(TIMEOUT + 1)

    def call(self, function: Callable[[], _T]) -> _T:
        """Call ``function()`` in the server's loop (faults must be injected there)."""

        async def run() -> _T:
            return function()

        return self.run(run)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.result(TIMEOUT)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the dev server thread did not stop"


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(auth_secret=SECRET) as running:
        yield running


@contextlib.contextmanager
def deadline(client: ConvexClient, seconds: float = TIMEOUT) -> Iterator[None]:
    """Close ``client`` if the block outlasts ``seconds``: its blocked calls then return."""
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        client.close()

    timer = threading.Timer(seconds, expire)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
        if fired.is_set():
            pytest.fail(f"blocking calls took more than {seconds} s", pytrace=False)


def _normalized(text: str) -> str:
    """A server error's text without its per-request id."""
    return re.sub(r"\[Request ID: [0-9a-f]+\]", "[Request ID: …]", text)


def _outcome(call: Callable[[], object]) -> tuple[object, ...]:
    try:
        return ("ok", call())
    except (SyncwireError, TypeError, ValueError, RuntimeError) as exc:
        return _error(exc)


def _error(exc: BaseException) -> tuple[object, ...]:
    return (
        "error",
        type(exc),
        _normalized(str(exc)),
        _normalized(getattr(exc, "message", "")),
        getattr(exc, "data", None),
    )


# -- 1. the same answers as the asyncio Client ------------------------------------------------


def blocking_transcript(url: str, name: str) -> list[tuple[str, tuple[object, ...]]]:
    out: list[tuple[str, tuple[object, ...]]] = []

    def record(label: str, call: Callable[[], object]) -> None:
        out.append((label, _outcome(call)))

    with ConvexClient(url) as client, deadline(client):
        sub = client.subscribe("counter:get", {"name": name})
        record("subscription id", lambda: type(sub.id).__name__)
        record("first value", lambda: next(sub))
        record("mutation", lambda: client.mutation("counter:add", {"name": name, "by": 2}))
        record("value after the mutation", lambda: next(sub))
        record("query", lambda: client.query("counter:get", {"name": name}))
        record("query without args", lambda: client.query("hello:world"))
        record("action", lambda: client.action("math:double", {"n": 21}))
        record("action without args", lambda: client.action("math:double"))
        record("query error", lambda: client.query("fail:query"))
        record("mutation error", lambda: client.mutation("fail:mutation", {"x": 1}))
        record("action error", lambda: client.action("fail:action"))
        record("no such function", lambda: client.query("no:such"))
        record("bad args", lambda: client.query("hello:world", {"x": object()}))  # type: ignore[dict-item]
        failing = client.subscribe("fail:query")
        record("failing subscription id", lambda: type(failing.id).__name__)
        record("failing subscription", lambda: next(failing))
        sub.unsubscribe()
        record("after unsubscribe", lambda: next(sub, "ended"))
    return out


async def async_transcript(url: str, name: str) -> list[tuple[str, tuple[object, ...]]]:
    out: list[tuple[str, tuple[object, ...]]] = []

    async def record(label: str, call: Callable[[], Awaitable[object]]) -> None:
        try:
            out.append((label, ("ok", await call())))
        except (SyncwireError, TypeError, ValueError, RuntimeError) as exc:
            out.append((label, _error(exc)))

    async def value(x: object) -> object:
        return x

    async def next_or_ended(sub: syncwire.Subscription) -> object:
        try:
            return await sub.next()
        except StopAsyncIteration:
            return "ended"

    async with asyncio.timeout(TIMEOUT), Client(url) as client:
        sub = client.subscribe("counter:get", {"name": name})
        await record("subscription id", lambda: value(type(sub.id).__name__))
        await record("first value", sub.next)
        await record("mutation", lambda: client.mutation("counter:add", {"name": name, "by": 2}))
        await record("value after the mutation", sub.next)
        await record("query", lambda: client.query("counter:get", {"name": name}))
        await record("query without args", lambda: client.query("hello:world"))
        await record("action", lambda: client.action("math:double", {"n": 21}))
        await record("action without args", lambda: client.action("math:double"))
        await record("query error", lambda: client.query("fail:query"))
        await record("mutation error", lambda: client.mutation("fail:mutation", {"x": 1}))
        await record("action error", lambda: client.action("fail:action"))
        await record("no such function", lambda: client.query("no:such"))
        await record("bad args", lambda: client.query("hello:world", {"x": object()}))  # type: ignore[dict-item]
        failing = client.subscribe("fail:query")
        await record("failing subscription id", lambda: value(type(failing.id).__name__))
        await record("failing subscription", failing.next)
        sub.unsubscribe()
        await record("after unsubscribe", lambda: next_or_ended(sub))
    return out


def test_the_blocking_and_async_clients_give_the_same_answers(server: ServerThread) -> None:
    blocking = blocking_transcript(server.url, "same answers, blocking")
    asynchronous = asyncio.run(async_transcript(server.url, "same answers, async"))
    assert blocking == asynchronous
    # And the answers are the ones expected, not the same nonsense twice.
    results = dict(blocking)
    assert results["first value"] == ("ok", 0.0)
    assert results["mutation"] == ("ok", 2.0)
    assert results["value after the mutation"] == ("ok", 2.0)
    assert results["query"] == ("ok", 2.0)
    assert results["query without args"] == ("ok", {"hello": "world", "args": {}})
    assert results["action"] == ("ok", 42.0)
    data = {"code": 42.0, "why": "not today"}
    assert results["query error"][1] is ConvexError
    assert results["query error"][4] == data
    assert results["action error"][1] is ConvexError
    assert results["mutation error"][1] is FunctionError
    assert "Uncaught RuntimeError: boom" in str(results["mutation error"][2])
    assert results["failing subscription"][1] is ConvexError
    assert results["bad args"][1] is TypeError
    assert results["action without args"][1] is FunctionError  # the action's KeyError
    # Reading a subscription after unsubscribe() raises, as the official client does.
    assert results["after unsubscribe"][1] is RuntimeError
    assert results["subscription id"] == ("ok", "int")


# -- 2. waiting holds no GIL, and Ctrl-C gets through ---------------------------------------


@pytest.fixture
def hang_backstop() -> Iterator[None]:
    """A wait that held the GIL would stop every Python thread, timers included:
    only faulthandler's own C thread could still end the run."""
    faulthandler.dump_traceback_later(TIMEOUT * 3, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


COUNT_TO = 2_000_000


def subscription_wait_while_counting(server: ServerThread, name: str) -> tuple[float, float]:
    """The main thread waits for a value that only comes once another thread has counted to
    two million: if the wait held the GIL, the count could not finish (``hang_backstop``
    ends the run). Returns the CPU time of the main thread's wait and of the count."""
    with ConvexClient(server.url) as client, deadline(client, TIMEOUT * 2):
        sub = client.subscribe("counter:get", {"name": name})
        assert next(sub) == 0.0
        counter_cpu: list[float] = []

        def count_then_write() -> None:
            start = time.thread_time()
            count = 0
            while count < COUNT_TO:
                count += 1
            counter_cpu.append(time.thread_time() - start)
            client.mutation("counter:add", {"name": name, "by": 1})

        counter = threading.Thread(target=count_then_write)
        start = time.thread_time()
        counter.start()
        assert next(sub) == 1.0
        main_cpu = time.thread_time() - start
        counter.join(TIMEOUT)
    assert counter_cpu, "the counter did not finish"
    return main_cpu, counter_cpu[0]


def slow_query_while_counting(server: ServerThread) -> tuple[float, float]:
    """The main thread waits 0.5 s for a delayed answer while another thread counts: if
    the wait held the GIL, the client's own loop thread could not read the answer either
    (``hang_backstop`` ends the run). Returns the CPU time of the wait and of the count."""
    with ConvexClient(server.url) as client, deadline(client, TIMEOUT * 2):
        assert client.query("counter:get", {"name": "slow"}) == 0.0  # connected
        stop = threading.Event()
        counts: list[tuple[int, float]] = []

        def count() -> None:
            start = time.thread_time()
            n = 0
            while not stop.is_set():
                for _ in range(10_000):
                    n += 1
            counts.append((n, time.thread_time() - start))

        counter = threading.Thread(target=count)
        server.call(lambda: server.server.faults.delay(0.5, duration=60))
        counter.start()
        start = time.thread_time()
        assert client.query("hello:world", {"slow": True}) == {
            "hello": "world",
            "args": {"slow": True},
        }
        main_cpu = time.thread_time() - start
        stop.set()
        counter.join(TIMEOUT)
        server.call(server.server.faults.lift)
    ((n, counter_cpu),) = counts
    assert n > 0
    return main_cpu, counter_cpu


@pytest.mark.usefixtures("hang_backstop")
def test_a_subscription_wait_leaves_other_threads_running(server: ServerThread) -> None:
    subscription_wait_while_counting(server, "gil")


@pytest.mark.usefixtures("hang_backstop")
def test_a_query_waiting_for_a_slow_server_leaves_other_threads_running(
    server: ServerThread,
) -> None:
    slow_query_while_counting(server)


# A measurement, so the --full tier: CPU-time ratios depend on what else the machine
# runs. A wait that spun (released the GIL but polled) would take about half.
@pytest.mark.full
@pytest.mark.usefixtures("hang_backstop")
def test_a_subscription_wait_uses_a_sliver_of_the_cpu_the_counter_gets(
    server: ServerThread,
) -> None:
    main_cpu, counter_cpu = subscription_wait_while_counting(server, "gil measured")
    assert main_cpu < 0.25 * counter_cpu, (main_cpu, counter_cpu)


# A measurement, so the --full tier (see above).
@pytest.mark.full
@pytest.mark.usefixtures("hang_backstop")
def test_a_slow_query_wait_uses_a_sliver_of_the_cpu_the_counter_gets(
    server: ServerThread,
) -> None:
    main_cpu, counter_cpu = slow_query_while_counting(server)
    assert main_cpu < 0.25 * counter_cpu, (main_cpu, counter_cpu)


class Interrupted(Exception):
    pass


def _waiting_in_result(frame: FrameType | None) -> bool:
    """The thread waits for the client's loop thread (in ``Portal.result``)."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "result" and code.co_filename.endswith("portal.py"):
            return True
        frame = frame.f_back
    return False


@pytest.mark.skipif(sys.platform == "win32", reason="pthread_kill is POSIX")
def test_ctrl_c_interrupts_a_wait_and_the_subscription_goes_on(server: ServerThread) -> None:
    main = threading.main_thread()
    assert threading.current_thread() is main
    raised = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if not raised.is_set():
            raised.set()
            raise Interrupted

    def interrupt_once_waiting() -> None:
        assert main.ident is not None
        for _ in range(int(TIMEOUT / 0.01)):
            if _waiting_in_result(sys._current_frames().get(main.ident)):
                signal.pthread_kill(main.ident, signal.SIGINT)
                return
            if raised.wait(0.01):
                return

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with ConvexClient(server.url) as client, deadline(client):
            sub = client.subscribe("counter:get", {"name": "ctrl-c"})
            assert next(sub) == 0.0
            interrupter = threading.Thread(target=interrupt_once_waiting)
            interrupter.start()
            with pytest.raises(Interrupted) as caught:
                next(sub)  # no new value is coming
            interrupter.join(TIMEOUT)
            assert any(f.name == "result" for f in caught.traceback)
            # The interrupted wait left nothing behind: the subscription still works.
            assert client.mutation("counter:add", {"name": "ctrl-c"}) == 1.0
            assert next(sub) == 1.0
    finally:
        signal.signal(signal.SIGINT, previous)


# -- 3. reconnects, watch_all, auth, close ----------------------------------------------------


def test_a_subscription_keeps_yielding_through_a_reconnect(server: ServerThread) -> None:
    with ConvexClient(server.url, backoff=FAST_BACKOFF) as client, deadline(client):
        sub = client.subscribe("counter:get", {"name": "reconnect"})
        assert next(sub) == 0.0
        assert client.mutation("counter:add", {"name": "reconnect"}) == 1.0
        assert next(sub) == 1.0
        before = client.connection_state().connection.connection_count
        assert (
            server.call(
                lambda: server.server.faults.close_all(1013, "SubscriptionsWorkerFullError")
            )
            == 1
        )
        # A write from elsewhere (the server itself) while the client reconnects.
        server.run(
            lambda: server.server.engine.mutation("counter:add", {"name": "reconnect"}, None)
        )
        values = [next(sub)]
        while values[-1] != 2.0 and len(values) < 5:  # the resync may repeat 1.0 first
            values.append(next(sub))
        assert values[-1] == 2.0
        assert client.mutation("counter:add", {"name": "reconnect"}) == 3.0
        assert next(sub) == 3.0
        assert client.connection_state().connection.connection_count > before


def test_watch_all_yields_every_subscription_s_latest_value(server: ServerThread) -> None:
    with ConvexClient(server.url) as client, deadline(client):
        a = client.subscribe("counter:get", {"name": "watch a"})
        a_again = client.subscribe("counter:get", {"name": "watch a"})
        b = client.subscribe("counter:get", {"name": "watch b"})
        assert len({a.id, a_again.id, b.id}) == 3  # one id per subscriber, as officially
        watch = client.watch_all()

        def read_up_to(expected: dict[int, Any]) -> None:
            seen = [next(watch)]
            while seen[-1] != expected and len(seen) < 10:
                seen.append(next(watch))
            assert seen[-1] == expected, seen

        read_up_to({a.id: 0.0, a_again.id: 0.0, b.id: 0.0})
        client.mutation("counter:add", {"name": "watch a", "by": 5})
        read_up_to({a.id: 5.0, a_again.id: 5.0, b.id: 0.0})
        assert next(a) == 5.0  # the subscriptions' own values are theirs to read
        assert next(a_again) == 5.0
        b.unsubscribe()
        read_up_to({a.id: 5.0, a_again.id: 5.0})
        a.unsubscribe()
        read_up_to({a_again.id: 5.0})
        client.mutation("counter:add", {"name": "watch a", "by": 1})
        read_up_to({a_again.id: 6.0})  # a_again still holds the query
        failing = client.subscribe("fail:query")
        snapshot = next(watch)
        while failing.id not in snapshot:
            snapshot = next(watch)
        assert isinstance(snapshot[failing.id], ConvexError)
        assert snapshot[failing.id].data == {"code": 42.0, "why": "not today"}
        # A second reader starts from the current view.
        assert next(client.watch_all()) == snapshot
        client.close()
        assert list(watch) == []


def test_a_subscription_dropped_by_the_garbage_collector_is_unsubscribed(
    server: ServerThread,
) -> None:
    with ConvexClient(server.url) as client, deadline(client):
        dropped = client.subscribe("counter:get", {"name": "dropped"})
        assert next(dropped) == 0.0
        dropped_id = dropped.id
        del dropped
        gc.collect()
        kept = client.subscribe("counter:get", {"name": "kept"})
        assert next(kept) == 0.0
        assert kept.id != dropped_id
        assert next(client.watch_all()) == {kept.id: 0.0}


def test_auth_with_a_token_a_fetcher_and_none(server: ServerThread) -> None:
    token = make_hs256_token({"sub": "ada", "iss": "test", "exp": time.time() + 600}, SECRET)
    fetched_in: list[str] = []
    reentry: list[BaseException] = []
    states: list[syncwire.ClientConnectionState] = []
    with ConvexClient(server.url) as client, deadline(client):
        assert client.query("auth:whoami") is None
        client.set_auth(token)
        assert client.query("auth:whoami") == "ada"
        client.set_auth(None)
        assert client.query("auth:whoami") is None

        def fetcher(force_refresh: bool) -> str:
            fetched_in.append(threading.current_thread().name)
            # Calls that need not wait work from the loop thread...
            states.append(client.connection_state())
            # ...those that must wait would wait forever: they raise.
            try:
                client.query("auth:whoami")
            except RuntimeError as exc:
                reentry.append(exc)
            return make_hs256_token({"sub": "bob", "iss": "test", "exp": time.time() + 600}, SECRET)

        client.set_auth(fetcher)
        assert client.query("auth:whoami") == "bob"
        client.clear_auth()
        assert client.query("auth:whoami") is None
        with pytest.raises(ValueError, match="empty"):
            client.set_admin_auth("")
    assert fetched_in
    assert all(name.startswith("syncwire-ConvexClient") for name in fetched_in)
    assert len(reentry) == len(states) == len(fetched_in)
    assert "own loop thread" in str(reentry[0])


def test_close_leaves_no_thread_and_ends_everything(server: ServerThread) -> None:
    threads_before = set(threading.enumerate())
    client = ConvexClient(server.url)
    with deadline(client):
        sub = client.subscribe("counter:get", {"name": "close"})
        assert next(sub) == 0.0
        watch = client.watch_all()
        assert next(watch) == {sub.id: 0.0}
        assert set(threading.enumerate()) > threads_before  # the loop thread
        assert server.call(lambda: server.server.session_count) == 1

        # A wait in progress when another thread closes the client ends.
        def close_once_waiting() -> None:
            for _ in range(int(TIMEOUT / 0.01)):
                frame = sys._current_frames().get(threading.main_thread().ident or 0)
                if _waiting_in_result(frame):
                    break
                time.sleep(0.01)
            client.close()

        closer = threading.Thread(target=close_once_waiting)
        closer.start()
        assert next(sub, "ended") == "ended"
        closer.join(TIMEOUT)
    client.close()  # idempotent
    assert set(threading.enumerate()) == threads_before
    server.run(lambda: server.server.wait_for_sessions(0))  # the socket is closed
    # Waits after close end at once; calls raise ClientClosedError.
    assert next(sub, "ended") == "ended"
    assert next(watch, "ended") == "ended"
    with pytest.raises(ClientClosedError):
        client.query("counter:get", {"name": "close"})
    with pytest.raises(ClientClosedError):
        client.mutation("counter:add", {"name": "close"})
    with pytest.raises(ClientClosedError):
        client.subscribe("counter:get", {"name": "close"})
    with pytest.raises(ClientClosedError):
        client.watch_all()
    with pytest.raises(ClientClosedError):
        client.set_auth("token")
    sub.unsubscribe()  # nothing to do, and no error
    assert not client.connection_state().connection.is_connected


def test_with_closes_the_client(server: ServerThread) -> None:
    threads_before = set(threading.enumerate())
    with ConvexClient(server.url) as client, deadline(client):
        assert client.query("counter:get", {"name": "with"}) == 0.0
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(ClientClosedError):
        client.action("math:double", {"n": 1})


def test_a_bad_url_or_option_fails_at_once_and_leaves_no_thread() -> None:
    threads_before = set(threading.enumerate())
    with pytest.raises(ValueError, match="URL"):
        ConvexClient("ftp://example.com")
    with pytest.raises(TypeError, match=r"^ConvexClient got unknown option 'no_such_option';"):
        ConvexClient("http://127.0.0.1:9", no_such_option=True)
    assert set(threading.enumerate()) == threads_before


# -- from inside an event loop, and values given up on ----------------------------------------


def test_blocking_calls_and_async_iteration_from_a_coroutine(server: ServerThread) -> None:
    """A coroutine may use the blocking client (it has its own loop thread) and may
    ``async for`` its subscriptions; a timed-out wait loses nothing, close() ends them."""

    async def main() -> None:
        with ConvexClient(server.url) as client, deadline(client):
            assert client.query("counter:get", {"name": "in a loop"}) == 0.0
            sub = client.subscribe("counter:get", {"name": "in a loop"})
            async with asyncio.timeout(TIMEOUT):
                assert await anext(sub) == 0.0
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(anext(sub), 0.05)  # nothing new yet
                assert client.mutation("counter:add", {"name": "in a loop"}) == 1.0
                assert await anext(sub) == 1.0
                watch = client.watch_all()
                assert await anext(watch) == {sub.id: 1.0}
                waiting = asyncio.ensure_future(anext(sub))
                waiting_for_all = asyncio.ensure_future(anext(watch))
                await asyncio.sleep(0)  # both tasks hand their waits to the client
                await asyncio.to_thread(client.close)
                with pytest.raises(StopAsyncIteration):
                    await waiting
                with pytest.raises(StopAsyncIteration):
                    await waiting_for_all
                assert [value async for value in sub] == []

    asyncio.run(main())


def test_a_value_the_caller_gave_up_on_comes_next(server: ServerThread) -> None:
    """A wait given up on (Ctrl-C, a timeout) just as its value arrived: the value is
    handed back, and the next read returns it."""
    with ConvexClient(server.url) as client, deadline(client):
        sub = client.subscribe("counter:get", {"name": "given up"})
        assert next(sub) == 0.0
        submitted: concurrent.futures.Future[concurrent.futures.Future[str]]
        submitted = concurrent.futures.Future()

        async def give_up_then_answer() -> str:
            (await asyncio.wrap_future(submitted)).cancel()  # the caller stops waiting...
            return "the value"  # ...just as the value comes

        future = client._loop_thread.submit(give_up_then_answer, sub._slot.put_back)
        submitted.set_result(future)
        assert next(sub) == "the value"
        assert future.cancelled()
        assert client.mutation("counter:add", {"name": "given up"}) == 1.0
        assert next(sub) == 1.0
        # The same for watch_all: a view given up on comes again, with no change needed.
        watch = client.watch_all()
        assert next(watch) == {sub.id: 1.0}
        assert client.mutation("counter:add", {"name": "given up"}) == 2.0
        assert next(sub) == 2.0  # read through the hub that watch_all reads too
        watcher = watch._watcher
        view_submitted: concurrent.futures.Future[concurrent.futures.Future[dict[int, Any]]]
        view_submitted = concurrent.futures.Future()

        async def give_up_on_a_view() -> dict[int, Any]:
            view = await watcher.next()
            (await asyncio.wrap_future(view_submitted)).cancel()
            return view

        view_future = client._loop_thread.submit(give_up_on_a_view, watcher.replay)
        view_submitted.set_result(view_future)
        assert next(watch) == {sub.id: 2.0}
        assert view_future.cancelled()
