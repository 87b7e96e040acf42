"""The network failing under the client: a ``ChaosProxy`` between it and the dev server.

The dev server's own faults act above TCP. Here the proxy breaks the link
itself, on real loopback sockets, and each test records the figure issue #6
asks for (thresholds scaled down: pings every 50 ms, inactivity threshold
200-300 ms):

1. a half-open connection (blackhole) is noticed within the inactivity
   threshold + 50 ms of the last frame, and the session carries on after;
2. a TCP RST or FIN is noticed in < 10 ms (median);
3. every reconnect starts within the backoff policy's bounds for its close
   reason, including escalating retries;
4. with the old socket blackholed (its close frame is never answered) the next
   attempt starts on the backoff, not after the close timeout; and once the
   link heals, a socket let go of closes at once even with many frames unread
   (a regression this proxy found: websockets stops reading at 16 unread);
5. through latency, 1-byte slices and a bandwidth limit every value arrives,
   every mutation is exact, and no false inactivity reconnect happens.

The proxy's own promises (bounded buffers, accurate latency and bandwidth,
RST and FIN on the wire) are checked first, with raw TCP.

Times are loop times (``loop.time()``), taken in callbacks of the manager or
of a recording transport wrapped around the default one, so they are what the
manager saw.

The goals above are tight bounds on real time: every test records its figure,
but only the ``--full`` tier (``make reliability``) asserts a goal's upper bound
(the ``full`` fixture). The fast tier asserts the behaviour: lower bounds, the
right reasons, and upper bounds only a real failure misses on a loaded, shared
machine (``LOADED``: shorter than the close timeout or threshold a failure would
wait for, longer than any stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import statistics
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

import pytest

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire.devserver.example import chat_app
from syncwire.devserver.server import DevServer
from syncwire.manager import ConnectionState
from syncwire.manager import OnMessageResponse
from syncwire.manager import ReconnectMetadata
from syncwire.manager import WebSocketManager
from syncwire.protocol import Connect
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import QueryAdd
from syncwire.protocol import ServerMessage
from syncwire.protocol import Transition
from syncwire.testing import ChaosProxy
from syncwire.transport import TransportConnection
from syncwire.transport import WebSocketsTransport
from tests.helpers import ms
from tests.helpers import now
from tests.helpers import until
from tests.reliability.conftest import Figure

pytestmark = pytest.mark.asyncio

TIMEOUT = 10.0
"""Bound on every wait: a hang fails in seconds, a loaded machine still passes."""
PING = 0.05
"""The dev server's ping interval here (15 s in production)."""
THRESHOLD = 0.3
"""The client's inactivity threshold here (60 s in production)."""
HALF_OPEN_GOAL = 0.05
"""Issue #6: a half-open connection is noticed within the threshold + 50 ms."""
RST_FIN_GOAL = 0.010
"""Issue #6: a reset or FIN is noticed in < 10 ms (median)."""
LATE = 0.05
"""The goal (``--full``): how much later than scheduled a reconnect may start."""
LOADED = 2.0
"""The fast tier's bound on how late a measured event may come: a loaded machine's
stall is no failure; never, or only after ``CLOSE_TIMEOUT``, is one."""
CLOSE_TIMEOUT = 5.0
"""The default transport's closing-handshake bound: what a stall would cost."""
CHANNEL = {"channel": "chaos"}


# --------------------------------------------------------------------------- recording


@dataclass(eq=False)
class RecordedSocket:
    """One socket the manager opened, with the loop times the tests measure."""

    inner: TransportConnection
    opened_at: float
    frames: int = 0
    last_frame_at: float | None = None
    longest_gap: float = 0.0
    """The longest wait for a frame, from the open on."""
    close_called_at: float | None = None
    """When the manager let go of the socket (it calls ``close`` in the same step)."""
    closed_at: float | None = None
    """When the closing handshake ended (``wait_closed`` returned)."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_data_at(self) -> float | None:
        """Passed on: the manager may count bytes of a frame still arriving as activity."""
        return self.inner.last_data_at

    def send(self, text: str) -> None:
        self.inner.send(text)

    async def recv(self) -> str | bytes:
        data = await self.inner.recv()
        at = now()
        self.longest_gap = max(self.longest_gap, at - (self.last_frame_at or self.opened_at))
        self.frames += 1
        self.last_frame_at = at
        self.changed.set()
        return data

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.close_called_at is None:
            self.close_called_at = now()
            self.changed.set()
        self.inner.close(code, reason)

    async def wait_closed(self) -> None:
        await self.inner.wait_closed()
        if self.closed_at is None:
            self.closed_at = now()
            self.changed.set()

    async def next_change(self) -> None:
        self.changed.clear()
        await self.changed.wait()

    async def next_frame(self) -> float:
        """Wait for the next frame; returns when it arrived."""
        frames = self.frames
        await until(lambda: self.frames > frames, "a frame", changed=self.next_change)
        assert self.last_frame_at is not None
        return self.last_frame_at

    async def let_go(self) -> float:
        """Wait until the manager lets go of this socket; returns when it did."""
        await until(lambda: self.close_called_at is not None, "a let-go", changed=self.next_change)
        assert self.close_called_at is not None
        return self.close_called_at

    async def closed(self) -> float:
        """Wait until its close has finished; returns when it did."""
        await until(lambda: self.closed_at is not None, "a close", changed=self.next_change)
        assert self.closed_at is not None
        return self.closed_at


class RecordingTransport:
    """The default transport, recording each connection attempt and socket."""

    def __init__(self, *, compression: bool = True, close_timeout: float = CLOSE_TIMEOUT) -> None:
        self._inner = WebSocketsTransport(compression=compression, close_timeout=close_timeout)
        self.attempts: list[float] = []
        """Loop time of every ``connect`` call: when a connection attempt starts."""
        self.sockets: list[RecordedSocket] = []
        self.changed = asyncio.Event()

    async def next_change(self) -> None:
        self.changed.clear()
        await self.changed.wait()

    async def attempt(self, index: int) -> float:
        """Wait for attempt number ``index`` (from 0); returns when it started."""
        await until(
            lambda: len(self.attempts) > index, "a connection attempt", changed=self.next_change
        )
        return self.attempts[index]

    async def connect(self, url: str) -> RecordedSocket:
        self.attempts.append(now())
        self.changed.set()
        inner = await self._inner.connect(url)
        recorded = RecordedSocket(inner, opened_at=now())
        self.sockets.append(recorded)
        self.changed.set()
        return recorded


class Probe:
    """A ``WebSocketManager`` through the proxy that records every state with its loop time.

    ``on_open`` sends ``Connect`` and subscribes to one query, so each socket
    gets a Transition and the session counts as caught up (the backoff resets),
    as with the sync client. ``rand`` returns ``jitters`` in turn.
    """

    def __init__(
        self,
        url: str,
        *,
        policy: BackoffPolicy,
        threshold: float,
        jitters: Iterator[float],
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self.transport = RecordingTransport(close_timeout=close_timeout)
        self.states: list[tuple[float, ConnectionState]] = []
        self.transitions = 0
        self._synced_socket: RecordedSocket | None = None
        self._changed = asyncio.Event()
        self._jitters = jitters
        self._session_id = str(uuid.uuid4())
        self.manager = WebSocketManager(
            url,
            on_open=self._on_open,
            on_message=self._on_message,
            on_state_change=self._on_state,
            transport=self.transport,
            inactivity_threshold=threshold,
            backoff=policy,
            rand=lambda: next(self._jitters),
        )

    def _on_open(self, metadata: ReconnectMetadata) -> None:
        self.manager.send_message(
            Connect(
                connection_count=metadata.connection_count,
                last_close_reason=metadata.last_close_reason,
                client_ts=metadata.client_ts,
                session_id=self._session_id,
            )
        )
        query = QueryAdd(query_id=0, udf_path="messages:count", args={})
        self.manager.send_message(
            ModifyQuerySet(base_version=0, new_version=1, modifications=(query,))
        )

    def _on_message(self, message: ServerMessage) -> OnMessageResponse:
        if isinstance(message, Transition):
            self.transitions += 1
            self._synced_socket = self.transport.sockets[-1]  # the one live socket
            self._changed.set()
        return OnMessageResponse(has_synced_past_last_reconnect=True)

    def _on_state(self, state: ConnectionState) -> None:
        self.states.append((now(), state))
        self._changed.set()

    async def _next_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    async def wait(self, predicate: Callable[[], bool], what: str) -> None:
        await until(predicate, what, changed=self._next_change)

    def synced(self) -> bool:
        state = self.manager.connection_state()
        return (
            state.state == "ready"
            and state.connection_retries == 0
            and self._synced_socket is self.transport.sockets[-1]
        )

    async def wait_synced(self) -> None:
        """Ready, caught up on this socket: the next fault starts from zero retries, and
        nothing the socket's opening sent is left in flight."""
        await self.wait(self.synced, "a caught-up session")

    async def left_ready_after(self, mark: int) -> tuple[float, ConnectionState]:
        """The first state recorded from index ``mark`` on that is not ``ready``."""

        def found() -> tuple[float, ConnectionState] | None:
            return next(((t, s) for t, s in self.states[mark:] if s.state != "ready"), None)

        await self.wait(lambda: found() is not None, "the manager to leave ready")
        result = found()
        assert result is not None
        return result


# --------------------------------------------------------------------------- the proxy itself


async def _sink_server() -> tuple[asyncio.Server, asyncio.Queue[bytes]]:
    """A TCP server on 127.0.0.1 that puts every chunk it reads (b"" at EOF) in a queue."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                received.put_nowait(data)
            received.put_nowait(b"")
        except ConnectionError:
            received.put_nowait(b"")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, received


async def test_a_blackhole_holds_a_bounded_amount_and_heal_delivers_it_all(figure: Figure) -> None:
    limit = 64 * 1024
    server, received = await _sink_server()
    async with server, ChaosProxy(server.sockets[0].getsockname()[1], buffer_limit=limit) as proxy:
        _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        try:
            async with asyncio.timeout(TIMEOUT):
                await proxy.wait_for_connections(1)
            proxy.blackhole()
            sent = hashlib.sha256()
            total = 0
            block = bytes(range(256)) * 256  # 64 KiB
            # Write until the sender is pushed back (drain stalls), or far past any bound.
            while total < 64 * 2**20:
                writer.write(block)
                sent.update(block)
                total += len(block)
                try:
                    async with asyncio.timeout(0.2):
                        await writer.drain()
                except TimeoutError:
                    break
            connection = proxy.connections[0]
            held = connection.held
            figure(
                "blackholed: held by the proxy while the sender was pushed back",
                f"{held / 1024:.0f} KiB of {total / 2**20:.1f} MiB written "
                f"(limit {limit // 1024} KiB + one 256 KiB read)",
                goal="bounded",
                held=held <= limit + 256 * 1024 and total < 64 * 2**20,
            )
            assert total < 64 * 2**20, "the sender was never pushed back"
            assert held <= limit + 256 * 1024
            assert connection.bytes_to_server == 0, "a blackhole forwards nothing"

            proxy.heal()
            async with asyncio.timeout(TIMEOUT):
                await writer.drain()
                writer.write_eof()
                got = hashlib.sha256()
                count = 0
                while data := await received.get():
                    got.update(data)
                    count += len(data)
            assert (count, got.hexdigest()) == (total, sent.hexdigest())
        finally:
            writer.close()
            await writer.wait_closed()


async def test_latency_bandwidth_and_slices_are_what_was_asked(figure: Figure, full: bool) -> None:
    """The floors (at least the latency, at most the bandwidth) always; how close to
    them the proxy gets is a measurement, asserted in the ``--full`` tier."""
    server, received = await _sink_server()
    async with server, ChaosProxy(server.sockets[0].getsockname()[1]) as proxy:
        # Latency: one byte, from write to arrival at the server.
        proxy.latency(0.05)
        _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        try:
            delays = []
            async with asyncio.timeout(TIMEOUT):
                for _ in range(5):
                    start = now()
                    writer.write(b"x")
                    assert await received.get() == b"x"
                    delays.append(now() - start)
            figure(
                "latency 50 ms: one-way delay (min/max of 5)",
                f"{ms(min(delays))} / {ms(max(delays))}",
                goal="≥ 50 ms, < 100 ms",
                held=min(delays) >= 0.05 and max(delays) < 0.1,
            )
            assert min(delays) >= 0.05, delays
            if full:
                assert max(delays) < 0.1, delays

            # Bandwidth: 40 kB at 200 kB/s take ~0.2 s.
            rate, size = 200_000.0, 40_000
            proxy.heal()
            proxy.bandwidth(rate)
            start = now()
            writer.write(b"y" * size)
            count = 0
            async with asyncio.timeout(TIMEOUT):
                while count < size:
                    count += len(await received.get())
            achieved = size / (now() - start)
            figure(
                "bandwidth limit 200 kB/s: achieved",
                f"{achieved / 1000:.0f} kB/s",
                goal="≤ 110 % of the limit, ≥ 50 %",
                held=0.5 * rate <= achieved <= 1.1 * rate,
            )
            assert achieved <= 1.1 * rate, achieved
            if full:
                assert 0.5 * rate <= achieved, achieved
            connection = proxy.connections[0]

            # Slicing: every byte its own write.
            proxy.heal()
            proxy.slice(1)
            before_bytes, before_writes = connection.bytes_to_server, connection.writes_to_server
            writer.write(b"z" * 500)
            count = 0
            async with asyncio.timeout(TIMEOUT):
                while count < 500:
                    count += len(await received.get())
            assert connection.bytes_to_server - before_bytes == 500
            assert connection.writes_to_server - before_writes == 500
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.mark.parametrize("fault", ["reset", "fin"])
async def test_reset_and_fin_reach_the_client_socket(fault: str) -> None:
    server, received = await _sink_server()
    async with server, ChaosProxy(server.sockets[0].getsockname()[1]) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        try:
            async with asyncio.timeout(TIMEOUT):
                await proxy.wait_for_connections(1)
                writer.write(b"hello")
                assert await received.get() == b"hello"
                if fault == "reset":
                    proxy.reset()
                    with pytest.raises(ConnectionResetError):
                        await reader.read(1)
                    assert await received.get() == b"", "the server's side was reset too"
                else:
                    proxy.fin()
                    assert await reader.read(1) == b""  # FIN: end of stream
                    writer.write(b" world")  # half-closed: the other way still works
                    assert await received.get() == b" world"
                    writer.write_eof()
                    assert await received.get() == b""
                await proxy.wait_for_connections(0)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionResetError):  # the reset is reported again
                await writer.wait_closed()


# --------------------------------------------------------------------------- the client


POLICY = BackoffPolicy(client_initial=0.02, unknown_initial=0.02, max_backoff=0.2)


@pytest.mark.parametrize("rounds", [3, pytest.param(30, marks=pytest.mark.full)])
async def test_a_half_open_connection_is_noticed_within_the_threshold(
    figure: Figure, rounds: int, full: bool
) -> None:
    transport = RecordingTransport()
    async with (
        DevServer(chat_app(), ping_interval=PING) as server,
        ChaosProxy(server.port) as proxy,
        Client(
            proxy.url, transport=transport, inactivity_threshold=THRESHOLD, backoff=POLICY
        ) as client,
    ):
        sub = client.subscribe("messages:list", CHANNEL)
        async with asyncio.timeout(TIMEOUT):
            assert await sub.next() == []
        silences: list[float] = []
        for i in range(rounds):
            socket = transport.sockets[-1]
            # Blackhole (this and later connections) just after a frame arrived.
            await socket.next_frame()
            proxy.blackhole()
            let_go = await socket.let_go()
            assert socket.last_frame_at is not None
            silences.append(let_go - socket.last_frame_at)
            state = client.connection_state().connection
            assert not state.is_connected
            assert state.last_close_reason == "InactiveServer"

            # The link heals: the client reconnects and the subscription carries on.
            proxy.heal()
            async with asyncio.timeout(TIMEOUT):
                await client.mutation("messages:send", {**CHANNEL, "body": f"after {i}"})
                value = await sub.next()  # the mutation returned: the value holds it
            assert [m["body"] for m in value] == [f"after {j}" for j in range(i + 1)]
            assert client.connection_state().connection.connection_count == i + 2

    worst = max(silences)
    held = worst <= THRESHOLD + HALF_OPEN_GOAL
    figure(
        f"half-open (blackhole) noticed after the last frame, median / max of {rounds}",
        f"{ms(statistics.median(silences))} / {ms(worst)} "
        f"(threshold {ms(THRESHOLD)}, pings every {ms(PING)})",
        goal="≤ threshold + 50 ms",
        held=held,
    )
    assert min(silences) >= THRESHOLD - 0.001, f"gave up before the threshold: {silences}"
    assert held if full else worst <= THRESHOLD + LOADED, silences


FAST = BackoffPolicy(client_initial=0.01, unknown_initial=0.01, max_backoff=0.05)


@pytest.mark.parametrize("repeats", [15, pytest.param(200, marks=pytest.mark.full)])
@pytest.mark.parametrize("fault", ["reset", "fin"])
async def test_a_reset_or_fin_is_noticed_at_once(
    figure: Figure, fault: str, repeats: int, full: bool
) -> None:
    """Noticed from the socket (a 1006, not inactivity), in the fast tier sooner than
    the threshold; the < 10 ms median is a measurement, asserted with ``--full``."""
    async with (
        DevServer(chat_app(), ping_interval=PING) as server,
        ChaosProxy(server.port) as proxy,
    ):
        probe = Probe(proxy.ws_url, policy=FAST, threshold=THRESHOLD, jitters=itertools.repeat(0.5))
        async with probe.manager:
            delays: list[float] = []
            for _ in range(repeats):
                await probe.wait_synced()
                async with asyncio.timeout(TIMEOUT):
                    await proxy.wait_for_connections(1)
                mark = len(probe.states)
                start = now()
                if fault == "reset":
                    proxy.reset()
                else:
                    proxy.fin()
                at, state = await probe.left_ready_after(mark)
                assert (state.state, state.last_close_reason) == (
                    "disconnected",
                    "closed with code 1006",
                )
                delays.append(at - start)
            await probe.wait_synced()

    median = statistics.median(delays)
    name = "RST" if fault == "reset" else "FIN"
    figure(
        f"TCP {name} noticed (state leaves ready), median / max of {repeats}",
        f"{ms(median)} / {ms(max(delays))}",
        goal="median < 10 ms",
        held=median < RST_FIN_GOAL,
    )
    assert median < (RST_FIN_GOAL if full else THRESHOLD), delays


BOUNDS_POLICY = BackoffPolicy(client_initial=0.015, unknown_initial=0.05, max_backoff=0.2)
"""Classes with disjoint delay ranges (client [7.5, 22.5) ms, Unknown [25, 75) ms at
first), so a reconnect put in the wrong class falls outside its bounds."""
BOUNDS_THRESHOLD = 0.2


@dataclass
class Reconnect:
    scheduled: float
    """The delay the manager chose (``next_reconnect_at`` − the time of the fault)."""
    started: float
    """From the fault to the next connection attempt."""
    low: float
    high: float

    def within(self, late: float = LATE) -> bool:
        """The chosen delay lies in the policy's bounds, and the attempt started on time
        (at most ``late`` after the upper bound)."""
        return (
            self.low - 0.001 <= self.scheduled < self.high
            and self.low - 0.001 <= self.started <= self.high + late
        )


async def test_every_reconnect_starts_within_the_backoff_bounds(figure: Figure, full: bool) -> None:
    # The jitter alternates between its extremes, so each class hits both ends.
    jitters = itertools.cycle([0.0, 0.9999])
    seen: dict[str, list[Reconnect]] = {}
    async with (
        DevServer(chat_app(), ping_interval=PING) as server,
        ChaosProxy(server.port) as proxy,
    ):
        probe = Probe(
            proxy.ws_url, policy=BOUNDS_POLICY, threshold=BOUNDS_THRESHOLD, jitters=jitters
        )
        transport = probe.transport

        async def next_reconnect(label: str, initial: float, retries: int, mark: int) -> int:
            """Record the first disconnect from state ``mark`` on; returns the next mark."""

            def disconnect() -> int | None:
                return next(
                    (
                        i
                        for i, (_, s) in enumerate(probe.states[mark:], mark)
                        if s.state == "disconnected"
                    ),
                    None,
                )

            await probe.wait(lambda: disconnect() is not None, f"the disconnect after {label}")
            index = disconnect()
            assert index is not None
            at, state = probe.states[index]
            assert state.connection_retries == retries + 1
            assert state.next_reconnect_at is not None
            # The first attempt after the disconnect (attempts are in time order).
            attempt = await transport.attempt(sum(t < at for t in transport.attempts))
            # The documented rule, computed here rather than by the code under test:
            # min(initial · 2^retries, cap), jittered into [0.5, 1.5) of that.
            capped = min(initial * 2**retries, BOUNDS_POLICY.max_backoff)
            seen.setdefault(label, []).append(
                Reconnect(state.next_reconnect_at - at, attempt - at, capped / 2, capped * 1.5)
            )
            return index + 1

        async with probe.manager:
            # A close without a reason is of the Unknown class; giving up on a silent
            # server is the client's own doing.
            unknown, client = BOUNDS_POLICY.unknown_initial, BOUNDS_POLICY.client_initial
            faults: list[tuple[str, float, Callable[[], None]]] = [
                ("RST", unknown, proxy.reset),
                ("FIN", unknown, proxy.fin),
                ("half-open", client, lambda: proxy.blackhole(future=False)),
            ]
            for _ in range(2):
                for label, initial, fault in faults:
                    await probe.wait_synced()
                    mark = len(probe.states)
                    fault()
                    await next_reconnect(label, initial, 0, mark)
                    proxy.heal()  # a half-open socket's close handshake may finish now

            # Every new connection reset as soon as it is accepted: the retries escalate
            # to the cap, and the session is not caught up until the link heals.
            await probe.wait_synced()
            mark = len(probe.states)
            proxy.reset(future=True)
            for retries in range(4):
                mark = await next_reconnect("refused", unknown, retries, mark)
            proxy.heal()
            await probe.wait_synced()

    for label, reconnects in seen.items():
        held = all(r.within() for r in reconnects)
        figure(
            f"reconnect after {label}: next attempt started after [policy bounds]",
            ", ".join(f"{ms(r.started)} [{r.low * 1000:g}, {r.high * 1000:g})" for r in reconnects),
            goal=f"chosen delay within the bounds, attempt ≤ {ms(LATE)} after it",
            held=held,
        )
        assert held or (not full and all(r.within(LOADED) for r in reconnects)), (
            label,
            reconnects,
        )


@pytest.mark.parametrize("rounds", [3, pytest.param(20, marks=pytest.mark.full)])
async def test_the_reconnect_does_not_wait_for_a_close_handshake(
    figure: Figure, rounds: int, full: bool
) -> None:
    async with (
        DevServer(chat_app(), ping_interval=PING) as server,
        ChaosProxy(server.port) as proxy,
    ):
        probe = Probe(
            proxy.ws_url, policy=POLICY, threshold=THRESHOLD, jitters=itertools.repeat(0.5)
        )
        transport = probe.transport
        gaps: list[float] = []
        async with probe.manager:
            for _ in range(rounds):
                await probe.wait_synced()
                old = transport.sockets[-1]
                attempts = len(transport.attempts)
                # Only this socket: the close frame the manager sends is never answered.
                proxy.blackhole(future=False)
                let_go = await old.let_go()
                gaps.append(await transport.attempt(attempts) - let_go)
                await probe.wait_synced()
                assert old.closed_at is None, "the old socket's close should still be hanging"

                # Healed, the held close frame gets through and the old close finishes.
                proxy.heal()
                assert await old.closed() - let_go < CLOSE_TIMEOUT, "it timed out"

    delay = POLICY.client_initial  # no jitter (rand 0.5), no retries
    worst = max(gaps)
    held = worst <= delay + LATE
    figure(
        f"old socket half-open, its close hanging: next attempt started after, max of {rounds}",
        f"{ms(worst)} (backoff {ms(delay)}; close timeout {CLOSE_TIMEOUT:g} s)",
        goal=f"≤ backoff + {ms(LATE)}",
        held=held,
    )
    assert held if full else worst <= delay + LOADED, gaps  # LOADED < CLOSE_TIMEOUT


async def test_a_let_go_socket_closes_promptly_even_after_many_unread_frames(
    figure: Figure, full: bool
) -> None:
    """Regression: websockets stops reading after 16 unread messages (``max_queue``).

    A socket the manager let go of is read by nobody; frames that reach it
    afterwards (here: the pings a blackhole held, released by the heal) used
    to fill that queue, so the peer's close frame was never read and the
    close — and ``stop()``/``terminate()`` waiting for it — took the whole
    close timeout.
    """
    # Prompt: 0.5 s is the goal (--full); LOADED is what a loaded machine may take. Either
    # way a stalled close, which takes the whole close timeout, is told apart.
    ping, close_timeout, prompt = 0.02, CLOSE_TIMEOUT, 0.5 if full else LOADED
    async with (
        DevServer(chat_app(), ping_interval=ping) as server,
        ChaosProxy(server.port) as proxy,
    ):
        probe = Probe(
            proxy.ws_url,
            policy=POLICY,
            threshold=THRESHOLD,
            jitters=itertools.repeat(0.5),
            close_timeout=close_timeout,
        )
        transport = probe.transport
        async with probe.manager:
            await probe.wait_synced()
            old = transport.sockets[-1]
            proxy.blackhole(future=False)
            let_go = await old.let_go()
            await probe.wait_synced()
            new = transport.sockets[-1]
            # Pings pile up for the old socket as fast as they reach the new one.
            while new.frames < 25:
                await new.next_frame()
            proxy.heal()
            healed = now()
            assert healed + prompt < let_go + close_timeout, "too late to tell a stall"
            closed: float | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(prompt):
                    closed = await old.closed()

    took = "never" if closed is None else ms(closed - healed)
    figure(
        "socket let go of, 25 frames unread: its close finished after the link healed",
        f"{took} (close timeout {close_timeout:g} s)",
        goal=f"< {ms(prompt)}",
        held=closed is not None,
    )
    assert closed is not None, f"not closed {ms(prompt)} after the link healed"


@dataclass(frozen=True)
class Link:
    """A slow link, and what makes the test of it meaningful."""

    id: str
    name: str
    apply: Callable[[ChaosProxy], None]
    body: int = 20
    """Characters of padding per message: the values grow by about this much each."""
    compression: bool = True
    min_round_trip: float = 0.0
    """Every mutation crosses the link twice: it takes at least this long."""
    every_byte_apart: bool = False
    """Every byte forwarded in a write of its own."""
    min_longest_gap: float = 0.0
    """Frames trickle: the client waits at least this long for one (but < threshold)."""


def all_three(proxy: ChaosProxy, *, latency: float, piece: int, rate: float) -> None:
    proxy.latency(latency)
    proxy.slice(piece)
    proxy.bandwidth(rate)


LINKS = [
    Link(
        "latency",
        "latency 100 ms each way (round trip 2/3 of the threshold)",
        lambda p: p.latency(0.1),
        min_round_trip=0.2,
    ),
    Link("slices", "1-byte slices", lambda p: p.slice(1), every_byte_apart=True),
    Link(
        "bandwidth",
        "bandwidth 25 kB/s, uncompressed frames of up to 3.7 kB",
        lambda p: p.bandwidth(25_000),
        body=300,
        compression=False,
        min_longest_gap=THRESHOLD / 3,
    ),
    Link(
        "all",
        "latency 50 ms + 1-byte slices + 10 kB/s",
        lambda p: all_three(p, latency=0.05, piece=1, rate=10_000),
        min_round_trip=0.1,
        every_byte_apart=True,
    ),
]


@pytest.mark.parametrize("link", LINKS, ids=lambda link: link.id)
async def test_a_slow_link_loses_nothing_and_is_not_taken_for_a_dead_server(
    figure: Figure, link: Link
) -> None:
    count = 8
    transport = RecordingTransport(compression=link.compression)
    async with (
        DevServer(chat_app(), ping_interval=PING) as server,
        ChaosProxy(server.port) as proxy,
    ):
        link.apply(proxy)  # before the client connects: the handshake crosses it too
        async with Client(
            proxy.url, transport=transport, inactivity_threshold=THRESHOLD, backoff=POLICY
        ) as client:
            start = now()
            sub = client.subscribe("messages:list", CHANNEL)
            values: list[list[dict[str, object]]] = []
            ids: list[object] = []
            round_trips: list[float] = []
            async with asyncio.timeout(TIMEOUT * 2):
                values.append(await sub.next())
                for i in range(count):
                    sent = now()
                    body = f"{i:02d} " + "x" * link.body
                    ids.append(await client.mutation("messages:send", {**CHANNEL, "body": body}))
                    round_trips.append(now() - sent)
                    values.append(await sub.next())  # read-your-writes: it holds message i
            # Keep the link busy with nothing but pings for three thresholds more.
            socket = transport.sockets[0]
            quiet_from = now()
            await until(
                lambda: now() - quiet_from >= 3 * THRESHOLD,
                "three thresholds of pings",
                changed=socket.next_change,
            )
            elapsed = now() - start
            state = client.connection_state().connection
            let_go = socket.close_called_at
            connection = proxy.connections[0]

    final = values[-1]
    bodies = [f"{i:02d} " + "x" * link.body for i in range(count)]
    # Each mutation committed exactly once, and after mutation i the subscription
    # held exactly messages 0..i: every value arrived.
    exact = [m["body"] for m in final] == bodies and [m["_id"] for m in final] == ids
    every_value = values == [final[:i] for i in range(count + 1)]
    # Never taken for a dead server: one socket from start to end.
    one_socket = (len(transport.attempts), state.connection_count, state.state, let_go) == (
        1,
        1,
        "ready",
        None,
    )
    figure(
        f"slow link: {link.name}",
        f"{count} mutations {'exactly once' if exact else 'NOT exact'}, "
        f"{'every value' if every_value else 'values MISSING'}, "
        f"{len(transport.attempts) - 1} reconnects; "
        f"longest wait for a frame {ms(socket.longest_gap)} (threshold {ms(THRESHOLD)}); "
        f"slowest mutation {ms(max(round_trips))}; {elapsed:.1f} s, "
        f"{connection.bytes_to_client / 1000:.1f} kB to the client",
        goal="nothing lost, no reconnect",
        held=exact and every_value and one_socket,
    )
    assert [m["body"] for m in final] == bodies
    assert [m["_id"] for m in final] == ids
    assert every_value, values
    assert one_socket, (transport.attempts, state, let_go)
    assert socket.longest_gap < THRESHOLD
    # The link really was slow in the way named.
    assert min(round_trips) >= link.min_round_trip, round_trips
    assert socket.longest_gap >= link.min_longest_gap, socket.longest_gap
    if link.every_byte_apart:
        assert connection.writes_to_client == connection.bytes_to_client
        assert connection.writes_to_server == connection.bytes_to_server
