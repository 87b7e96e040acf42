"""FakeTransport: its scripting API does what its docstrings promise."""

from __future__ import annotations

import asyncio
import gc
import inspect
import selectors
import time
from collections.abc import Callable
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

import pytest

import syncwire.testing
from syncwire.errors import ConnectionClosedError
from syncwire.errors import SendError
from syncwire.errors import TransportError
from syncwire.errors import UnexpectedBinaryFrameError
from syncwire.testing import CloseFrame
from syncwire.testing import FakeConnection
from syncwire.testing import FakeServerConnection
from syncwire.testing import FakeTransport
from syncwire.transport.base import Transport
from syncwire.transport.base import TransportConnection

URL = "wss://example.convex.cloud/api/1.27.3/sync"
TIMEOUT = 5.0
T = TypeVar("T")


async def open_connection(fake: FakeTransport) -> tuple[FakeConnection, FakeServerConnection]:
    connecting = asyncio.create_task(fake.connect(URL))
    async with asyncio.timeout(TIMEOUT):
        server = await fake.next_connection()
        server.accept()
        return await connecting, server


async def recv_closed(conn: TransportConnection) -> ConnectionClosedError:
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(ConnectionClosedError) as info:
            await conn.recv()
    return info.value


async def cancel_after(
    fake: FakeTransport, answer: Callable[[FakeServerConnection], object]
) -> tuple[asyncio.Task[FakeConnection], FakeServerConnection]:
    """Start a connect, ``answer`` it on the server's end (accept, refuse), then cancel
    the connecting task before it could resume with the result; the task and the end."""
    connecting = asyncio.create_task(fake.connect(URL))
    server = await fake.next_connection()
    answer(server)
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting
    return connecting, server


async def settle() -> None:
    """Run every ready callback a few times over: nothing here needs real time."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_matches_the_transport_interface() -> None:
    transport: Transport = FakeTransport()  # and mypy checks the types
    pairs = [(Transport, type(transport)), (TransportConnection, FakeConnection)]
    for protocol, impl in pairs:
        names = ("connect",) if protocol is Transport else ("send", "recv", "close", "wait_closed")
        for name in names:
            expected, actual = getattr(protocol, name), getattr(impl, name)
            assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected)
            assert list(inspect.signature(actual).parameters.values()) == list(
                inspect.signature(expected).parameters.values()
            ), name


def test_public_names() -> None:
    assert syncwire.testing.__all__ == [
        "ChaosProxy",
        "CloseFrame",
        "FakeConnection",
        "FakeServerConnection",
        "FakeTransport",
    ]


@pytest.mark.asyncio
async def test_module_docstring_example() -> None:
    fake = FakeTransport()
    connecting = asyncio.create_task(fake.connect("wss://example.convex.cloud/api/sync"))
    async with asyncio.timeout(TIMEOUT):
        server = await fake.next_connection()
        server.accept()
        conn = await connecting
        conn.send('{"type":"Connect"}')
        assert await server.receive() == '{"type":"Connect"}'
        assert server.sent == ['{"type":"Connect"}']
        server.push('{"type":"Ping"}')
        assert await conn.recv() == '{"type":"Ping"}'
        server.close(1013, "SubscriptionsWorkerFullError")
    closed = await recv_closed(conn)
    assert (closed.code, closed.reason) == (1013, "SubscriptionsWorkerFullError")


# --------------------------------------------------------------------------- attempts


@pytest.mark.asyncio
async def test_attempts_are_counted_and_handed_out_in_order() -> None:
    fake = FakeTransport()
    first = asyncio.create_task(fake.connect(URL))
    second = asyncio.create_task(fake.connect(URL + "?second"))
    await settle()
    assert (fake.attempts, fake.accepted) == (2, 0)
    async with asyncio.timeout(TIMEOUT):
        server_a = await fake.next_connection()
        server_b = await fake.next_connection()
    assert (server_a.index, server_b.index) == (0, 1)
    assert server_b.url.endswith("?second")
    assert fake.connections == [server_a, server_b]
    server_b.refuse()
    server_a.accept()
    assert fake.accepted == 1
    assert isinstance(await first, FakeConnection)
    with pytest.raises(TransportError, match="refused"):
        await second
    assert (server_a.state, server_b.state) == ("open", "refused")


@pytest.mark.asyncio
async def test_next_connection_waits_for_an_attempt() -> None:
    fake = FakeTransport()
    waiting = asyncio.create_task(fake.next_connection())
    await settle()
    assert not waiting.done()
    connecting = asyncio.create_task(fake.connect(URL))
    async with asyncio.timeout(TIMEOUT):
        server = await waiting
    server.accept()
    assert (await connecting).server is server


@pytest.mark.asyncio
async def test_refuse_raises_the_given_transport_error() -> None:
    fake = FakeTransport()
    connecting = asyncio.create_task(fake.connect(URL))
    server = await fake.next_connection()
    with pytest.raises(TypeError):
        server.refuse(OSError("not a TransportError"))  # type: ignore[arg-type]
    error = TransportError("HTTP 503 (scripted)")
    server.refuse(error)
    with pytest.raises(TransportError) as info:
        await connecting
    assert info.value is error
    with pytest.raises(RuntimeError, match="refused"):
        server.accept()


@pytest.mark.asyncio
async def test_hung_handshake_until_cancelled() -> None:
    fake = FakeTransport()
    connecting = asyncio.create_task(fake.connect(URL))
    server = await fake.next_connection()
    await settle()
    assert not connecting.done()
    states = [server.state]
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting
    states.append(server.state)
    assert states == ["pending", "abandoned"]
    assert server.is_closed
    with pytest.raises(RuntimeError, match="abandoned"):
        server.accept()
    async with asyncio.timeout(TIMEOUT):
        await server.wait_closed()


@pytest.mark.asyncio
async def test_cancel_racing_accept_closes_the_connection() -> None:
    _, server = await cancel_after(FakeTransport(), FakeServerConnection.accept)
    assert server.state == "abandoned"
    assert server.close_frame == CloseFrame(1006, "")
    assert server.closed_by_client is None


@pytest.mark.asyncio
async def test_refusal_behind_a_cancel_is_not_reported_as_never_retrieved() -> None:
    fake = FakeTransport()
    connecting, server = await cancel_after(fake, FakeServerConnection.refuse)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        del fake, connecting, server
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert reported == []


@pytest.mark.asyncio
async def test_auto_accept() -> None:
    fake = FakeTransport(auto_accept=True)
    async with asyncio.timeout(TIMEOUT):
        conn = await fake.connect(URL)
    assert conn.server.is_open
    assert (fake.attempts, fake.accepted) == (1, 1)
    fake.auto_accept = False
    connecting = asyncio.create_task(fake.connect(URL))
    await settle()
    assert not connecting.done()
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting


@pytest.mark.asyncio
@pytest.mark.parametrize("url", ["http://example.com", "https://x/", "example.com", "ws:x"])
async def test_bad_scheme_is_a_value_error(url: str) -> None:
    fake = FakeTransport()
    with pytest.raises(ValueError, match="ws://"):
        await fake.connect(url)
    assert fake.attempts == 0


# --------------------------------------------------------------------------- frames


@pytest.mark.asyncio
async def test_frames_both_ways_in_order() -> None:
    conn, server = await open_connection(FakeTransport())
    for text in ("a", "b", "c"):
        conn.send(text)
    assert server.sent == ["a", "b", "c"]
    async with asyncio.timeout(TIMEOUT):
        assert [await server.receive() for _ in range(3)] == ["a", "b", "c"]
    for text in ("x", "y"):
        server.push(text)
    async with asyncio.timeout(TIMEOUT):
        assert [await conn.recv(), await conn.recv()] == ["x", "y"]
    with pytest.raises(TypeError):
        conn.send(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="surrogate"):
        conn.send("lone \udc00")
    assert server.sent == ["a", "b", "c"]
    with pytest.raises(TypeError):
        server.push(b"bytes")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_recv_waits_for_a_push() -> None:
    conn, server = await open_connection(FakeTransport())
    receiving = asyncio.create_task(conn.recv())
    await settle()
    assert not receiving.done()
    server.push("late")
    async with asyncio.timeout(TIMEOUT):
        assert await receiving == "late"


@pytest.mark.asyncio
async def test_binary_frame_then_still_usable() -> None:
    conn, server = await open_connection(FakeTransport())
    server.push_binary(b"\x00\x01")
    server.push("text")
    with pytest.raises(UnexpectedBinaryFrameError) as info:
        await conn.recv()
    assert info.value.size == 2
    assert await conn.recv() == "text"
    conn.send("still open")
    assert server.sent == ["still open"]


@pytest.mark.asyncio
async def test_push_before_accept_is_a_mistake_and_after_close_is_dropped() -> None:
    fake = FakeTransport()
    connecting = asyncio.create_task(fake.connect(URL))
    server = await fake.next_connection()
    with pytest.raises(RuntimeError, match="before accept"):
        server.push("too early")
    server.accept()
    conn = await connecting
    server.close()
    server.push("into the void")  # a network would drop it too
    assert (await recv_closed(conn)).code == 1000


# --------------------------------------------------------------------------- endings


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "reason"),
    [(1013, "SubscriptionsWorkerFullError"), (1005, ""), (1000, ""), (4040, "custom")],
)
async def test_server_close(code: int, reason: str) -> None:
    conn, server = await open_connection(FakeTransport())
    server.push("before the close")
    server.close(code, reason)
    assert await conn.recv() == "before the close"
    for _ in range(2):  # sticky
        closed = await recv_closed(conn)
        assert (closed.code, closed.reason) == (code, reason)
    conn.send("after")  # dropped without an error, as a browser does
    assert "after" not in server.sent
    assert server.closed_by_client is None
    assert server.close_frame == CloseFrame(code, reason)
    async with asyncio.timeout(TIMEOUT):
        await conn.wait_closed()


@pytest.mark.asyncio
async def test_drop_is_1006() -> None:
    conn, server = await open_connection(FakeTransport())
    server.drop()
    closed = await recv_closed(conn)
    assert (closed.code, closed.reason) == (1006, "")
    assert server.state == "closed"


@pytest.mark.asyncio
async def test_client_close_is_recorded() -> None:
    conn, server = await open_connection(FakeTransport())
    with pytest.raises(ValueError, match="1006"):
        conn.close(1006)
    with pytest.raises(ValueError, match="123"):
        conn.close(1000, "r" * 124)
    assert not server.is_closed  # the rejected calls changed nothing
    conn.close(4000, "bye")
    conn.close(1000)  # idempotent: the first close stands
    assert server.closed_by_client == CloseFrame(4000, "bye")
    assert server.closed_by_client.code == 4000
    with pytest.raises(SendError):
        conn.send("after close")
    async with asyncio.timeout(TIMEOUT):
        await conn.wait_closed()
        await server.wait_closed()
    closed = await recv_closed(conn)
    assert (closed.code, closed.reason) == (4000, "bye")
    with pytest.raises(ConnectionClosedError):
        await server.receive()


@pytest.mark.asyncio
async def test_server_receive_returns_pending_frames_before_the_close() -> None:
    conn, server = await open_connection(FakeTransport())
    conn.send("one")
    conn.close()
    async with asyncio.timeout(TIMEOUT):
        assert await server.receive() == "one"
        with pytest.raises(ConnectionClosedError) as info:
            await server.receive()
    assert info.value.code == 1000


# --------------------------------------------------------------------------- send failures


@pytest.mark.asyncio
async def test_fail_sends_now() -> None:
    conn, server = await open_connection(FakeTransport())
    conn.send("ok")
    server.fail_sends()
    with pytest.raises(SendError):
        conn.send("fails")
    with pytest.raises(SendError):
        conn.send("fails again")
    assert server.sent == ["ok"]
    server.push("reading still works")
    assert await conn.recv() == "reading still works"


@pytest.mark.asyncio
async def test_fail_sends_later() -> None:
    conn, server = await open_connection(FakeTransport())
    server.push("already on its way")
    server.fail_sends(later=True)
    conn.send("lost in the background")  # no error yet
    assert server.sent == []
    assert await conn.recv() == "already on its way"
    with pytest.raises(SendError):
        await conn.recv()
    assert (await recv_closed(conn)).code == 1006
    conn.send("dead connection")  # dropped: recv has reported the close
    assert server.sent == []
    assert server.close_frame == CloseFrame(1006)
    assert server.closed_by_client is None


# --------------------------------------------------------------------------- virtual time


class _VirtualClockSelector(selectors.DefaultSelector):
    """Never sleeps: when the loop would wait for a timer, jump the clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:  # no timer at all: a real deadlock; fail instead of hanging
            raise RuntimeError("deadlock: nothing to run and no timer pending")
        self.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._clock = _VirtualClockSelector()
        super().__init__(self._clock)

    def time(self) -> float:
        return self._clock.now


def run_virtual(coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> tuple[T, float]:
    """Run ``coro`` on a virtual-clock ``loop``; its result and the virtual seconds spent."""
    try:
        start = loop.time()
        result = loop.run_until_complete(coro)
        return result, loop.time() - start
    finally:
        loop.close()


async def _hour_long_scenario() -> tuple[CloseFrame | None, bool]:
    fake = FakeTransport(close_timeout=3600)
    # A hung handshake, abandoned by the caller's own timeout.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(30):
            await fake.connect(URL)
    abandoned = fake.connections[0].state == "abandoned"
    # A connection nobody closes: wait_closed gives up after close_timeout.
    fake.auto_accept = True
    conn = await fake.connect(URL)
    await conn.wait_closed()
    return conn.server.close_frame, abandoned


def check_hour_long_scenario(loop: asyncio.AbstractEventLoop) -> None:
    """An hour of close_timeout and a 30 s connect timeout pass in no real time."""
    started = time.monotonic()
    (close_frame, abandoned), virtual_seconds = run_virtual(_hour_long_scenario(), loop)
    assert time.monotonic() - started < 2.0
    assert virtual_seconds >= 3630
    assert close_frame == CloseFrame(1006)
    assert abandoned


def test_runs_on_a_virtual_clock() -> None:
    check_hour_long_scenario(VirtualTimeLoop())


def test_runs_on_async_solipsism() -> None:
    """The virtual-time loop the manager's tests use, when it is installed."""
    solipsism = pytest.importorskip("async_solipsism")
    check_hour_long_scenario(solipsism.EventLoop())
