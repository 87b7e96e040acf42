"""Dev server fan-out: Transitions per second delivered to 1, 100 and 1,000 subscribers.

Run it with ``.venv/bin/python bench/bench_devserver.py``; the figures it
prints are recorded in ``docs/benchmarks.md``. ``--quick`` runs tiny counts, to
check that the script still works (its figures mean nothing).

Setup: the ``DevServer`` runs in a child process (``multiprocessing``, spawn),
so the clients' decoding does not compete for the server's GIL; every client
runs in this process, on plain ``websockets`` connections (permessage-deflate
negotiated, as syncwire's own transport does by default) speaking the protocol
with syncwire's codec. Each subscriber sends ``Connect`` then a
``ModifyQuerySet`` adding ``bench:latest {channel: "bench"}``; one more session,
the writer, subscribes to nothing and sends ``bench:send {channel, body, seq}``
mutations. The app is a tiny one registered in the child, not the example chat
app: its ``messages:list`` scans and copies the whole table on every run, so
results and run time would grow with the number of mutations. ``bench:send``
patches one document (``{channel, body, seq}``) and ``bench:latest`` returns
it: every result is the same size (about 100 bytes), every mutation changes it.

Per configuration (number of subscribers) and round, a fresh server:

* **load**: the writer sends ``M`` mutations keeping at most ``--window``
  unanswered (answered = its MutationResponse arrived). Measured: mutations/s
  committed (``M`` over first send to last MutationResponse); Transitions/s
  delivered (Transition frames with at least one modification received by all
  subscribers, over first send to the last subscriber seeing mutation ``M``);
  and for each mutation, the latency from its send to the *last* subscriber
  receiving a Transition whose result covers it (``seq`` at least its own: the
  server coalesces commits that land while a session's sync pass is busy, so a
  subscriber may get fewer Transitions than mutations).
* **one at a time**: ``K`` more mutations, each sent once the previous one has
  reached every subscriber: the latency with no queue in front of it.

Rounds run the configurations interleaved (1, 100, 1000, then 1000, 100, 1);
the table shows the round with the higher Transitions/s, and every round is
printed below it. Every wait is bounded (``PHASE_TIMEOUT``) and every socket
and the child are closed at the end. ``--profile`` runs one extra load phase
with 100 subscribers under ``cProfile`` in the child and prints the top
functions (the timed rounds are never profiled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import multiprocessing
import os
import pstats
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from importlib.metadata import version
from multiprocessing.connection import Connection
from typing import Any
from typing import Final

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _harness, beside us
from _harness import bench_app
from _harness import machine_text
from _harness import percentile
from _harness import raise_open_file_limit
from syncwire.devserver import DevServer
from syncwire.protocol import Connect
from syncwire.protocol import ConvexValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryUpdated
from syncwire.protocol import Transition
from syncwire.protocol import encode_client_message
from syncwire.protocol import parse_server_message

HOST: Final = "127.0.0.1"
CHANNEL: Final = "bench"
PHASE_TIMEOUT: Final = 120.0
"""Seconds any one phase (connect, load, one at a time, close) may take."""
CONNECT_CONCURRENCY: Final = 50
"""Handshakes in flight at once (the listen backlog is 100)."""
BODY: Final = "the quick brown fox jumps over the lazy dog"


@dataclass(frozen=True)
class Plan:
    sessions: int
    mutations: int  # load phase
    paced: int  # one-at-a-time phase


FULL_PLANS: Final = (Plan(1, 3000, 200), Plan(100, 300, 30), Plan(1000, 50, 10))
QUICK_PLANS: Final = (Plan(1, 50, 5), Plan(10, 30, 5), Plan(50, 20, 3))


# --- the server, in a child process -----------------------------------------


def _server_child(conn: Connection, fd_limit: int) -> None:
    """Child process: serve ``bench_app()`` until told to stop (commands on ``conn``)."""
    raise_open_file_limit(fd_limit)
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    server = DevServer(bench_app(), host=HOST, port=0)
    await server.start()
    conn.send(server.ws_url)
    profiler: cProfile.Profile | None = None
    try:
        while True:
            # Wait in a thread, act in the loop's thread (cProfile profiles its caller's thread).
            command = await asyncio.to_thread(conn.recv)
            if command == "cpu":
                conn.send(time.process_time())
            elif command == "profile-on":
                profiler = cProfile.Profile()
                profiler.enable()
                conn.send("ok")
            elif command == "profile-off" and profiler is not None:
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(25)
                profiler = None
                conn.send(out.getvalue())
            else:  # "stop"
                break
    finally:
        async with asyncio.timeout(PHASE_TIMEOUT):
            await server.stop()
        conn.send("stopped")


class ServerProcess:
    """A ``DevServer`` in a child process; ``ws_url`` once started."""

    def __init__(self, fd_limit: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_server_child, args=(child_conn, fd_limit), daemon=True
        )
        self._process.start()
        child_conn.close()
        self.ws_url = str(self._call(None))

    def _call(self, command: str | None, timeout: float = 30.0) -> object:
        if command is not None:
            self._conn.send(command)
        if not self._conn.poll(timeout):
            raise TimeoutError(f"the server process did not answer {command!r}")
        return self._conn.recv()

    def cpu(self) -> float:
        """The server process's CPU seconds so far."""
        answer = self._call("cpu")
        return answer if isinstance(answer, float) else 0.0

    def profile_on(self) -> None:
        self._call("profile-on")

    def profile_off(self) -> str:
        return str(self._call("profile-off"))

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError):
            self._call("stop", timeout=PHASE_TIMEOUT)
        self._process.join(timeout=10.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5.0)
        self._conn.close()


# --- the clients, in this process ---------------------------------------------


@dataclass
class Tracker:
    """When each mutation (``seq`` 1..n) reached every subscriber."""

    subscribers: int
    capacity: int
    covered: list[int] = field(init=False)
    done_at: list[float] = field(init=False)
    all_done: int = 0  # highest seq every subscriber has seen
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.covered = [0] * (self.capacity + 1)
        self.done_at = [0.0] * (self.capacity + 1)

    def saw(self, before: int, after: int, now: float) -> None:
        covered = self.covered
        for seq in range(before + 1, min(after, self.capacity) + 1):
            covered[seq] += 1
            if covered[seq] == self.subscribers:
                self.done_at[seq] = now
                self.all_done = max(self.all_done, seq)
                self.changed.set()


@dataclass
class Subscriber:
    ws: ClientConnection
    tracker: Tracker
    seen: int = -1  # -1: no result yet; 0: the initial (empty) result
    transitions: int = 0  # with modifications, after the initial result
    initial: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self.ws:
                message = parse_server_message(frame)
                if not isinstance(message, Transition) or not message.modifications:
                    continue
                now = time.perf_counter()
                seq = self.seen
                for mod in message.modifications:
                    if isinstance(mod, QueryUpdated):
                        value = mod.value
                        number = value.get("seq") if isinstance(value, dict) else None
                        seq = int(number) if isinstance(number, (int, float)) else 0
                if self.seen < 0:
                    self.seen = seq
                    self.initial.set()
                    continue
                self.transitions += 1
                if seq > self.seen:
                    self.tracker.saw(self.seen, seq, now)
                    self.seen = seq


@dataclass
class Writer:
    ws: ClientConnection
    sent_at: dict[int, float] = field(default_factory=dict)
    answered: int = 0
    last_answer_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    next_request: int = 0

    async def read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self.ws:
                message = parse_server_message(frame)
                if isinstance(message, MutationResponse):
                    if not message.success:
                        raise RuntimeError(f"mutation failed: {message.result!r}")
                    self.answered += 1
                    self.last_answer_at = time.perf_counter()
                    self.changed.set()

    async def send(self, seq: int) -> None:
        args: dict[str, ConvexValue] = {"channel": CHANNEL, "body": BODY, "seq": float(seq)}
        frame = encode_client_message(
            Mutation(request_id=self.next_request, udf_path="bench:send", args=args)
        )
        self.next_request += 1
        self.sent_at[seq] = time.perf_counter()
        await self.ws.send(frame)


async def _open(url: str, query: bool) -> ClientConnection:
    ws = await connect(url, max_size=None, ping_interval=None, open_timeout=PHASE_TIMEOUT)
    await ws.send(
        encode_client_message(
            Connect(
                connection_count=0,
                last_close_reason=None,
                client_ts=time.time_ns() // 1_000_000,
                session_id=os.urandom(16).hex(),
            )
        )
    )
    if query:
        add = QueryAdd(query_id=0, udf_path="bench:latest", args={"channel": CHANNEL})
        await ws.send(
            encode_client_message(
                ModifyQuerySet(base_version=0, new_version=1, modifications=(add,))
            )
        )
    return ws


@dataclass
class Result:
    sessions: int
    mutations: int
    mutations_per_s: float
    transitions: int
    transitions_per_s: float
    latency_ms: list[float]
    paced_ms: list[float]
    server_cpu_s: float  # load phase
    client_cpu_s: float  # load phase
    load_s: float  # load phase, first send to last subscriber seeing mutation M

    @property
    def coalescing(self) -> float:
        """Transitions each subscriber got per mutation (1.0: none coalesced)."""
        return self.transitions / (self.sessions * self.mutations)


async def _wait(event_owner: Tracker | Writer, done: Any, deadline: float, what: str) -> None:
    """Wait until ``done()`` or the deadline (``time.monotonic``), then raise."""
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out: {what}")
        event_owner.changed.clear()
        if done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event_owner.changed.wait(), timeout=remaining)


async def run_phase(
    url: str, plan: Plan, window: int, server: ServerProcess, profile: bool
) -> Result:
    """Connect ``plan.sessions`` subscribers and a writer, run both phases, close.

    ``profile``: profile the load phase in ``server`` (the profile is printed).
    """
    total = plan.mutations + plan.paced
    tracker = Tracker(subscribers=plan.sessions, capacity=total)
    tasks: list[asyncio.Task[None]] = []
    sockets: list[ClientConnection] = []
    try:
        # Connect (bounded concurrency, bounded time).
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one(query: bool) -> ClientConnection:
            async with limit:
                ws = await _open(url, query)
                sockets.append(ws)
                return ws

        async with asyncio.timeout(PHASE_TIMEOUT):
            opened = await asyncio.gather(*(open_one(True) for _ in range(plan.sessions)))
            subscribers = [Subscriber(ws, tracker) for ws in opened]
            tasks.extend(asyncio.create_task(s.read()) for s in subscribers)
            writer = Writer(await open_one(False))
            tasks.append(asyncio.create_task(writer.read()))
            for s in subscribers:
                await s.initial.wait()
        if any(s.seen != 0 for s in subscribers):
            raise RuntimeError("the server was not fresh: a subscriber saw an earlier mutation")

        # Load: M mutations, at most `window` unanswered.
        if profile:
            server.profile_on()
        server_cpu = server.cpu()
        client_cpu = time.process_time()
        deadline = time.monotonic() + PHASE_TIMEOUT
        started = time.perf_counter()
        for seq in range(1, plan.mutations + 1):
            await _wait(
                writer, lambda: writer.next_request - writer.answered < window, deadline, "window"
            )
            await writer.send(seq)
        m = plan.mutations
        await _wait(writer, lambda: writer.answered >= m, deadline, "MutationResponses")
        await _wait(tracker, lambda: tracker.all_done >= m, deadline, "load Transitions")
        client_cpu = time.process_time() - client_cpu
        server_cpu = server.cpu() - server_cpu
        committed_s = writer.last_answer_at - started
        delivered_s = tracker.done_at[m] - started
        transitions = sum(s.transitions for s in subscribers)
        if profile:
            print(f"\n## cProfile of the server, load phase, {plan.sessions} subscribers\n")
            print("```")
            print(server.profile_off().rstrip())
            print("```")
        latency = [(tracker.done_at[i] - writer.sent_at[i]) * 1e3 for i in range(1, m + 1)]

        # One at a time: each mutation once the previous one reached everyone.
        deadline = time.monotonic() + PHASE_TIMEOUT
        for seq in range(m + 1, total + 1):
            await writer.send(seq)
            await _wait(tracker, lambda s=seq: tracker.all_done >= s, deadline, "paced")
        paced = [(tracker.done_at[i] - writer.sent_at[i]) * 1e3 for i in range(m + 1, total + 1)]
        return Result(
            sessions=plan.sessions,
            mutations=m,
            mutations_per_s=m / committed_s,
            transitions=transitions,
            transitions_per_s=transitions / delivered_s,
            latency_ms=latency,
            paced_ms=paced,
            server_cpu_s=server_cpu,
            client_cpu_s=client_cpu,
            load_s=delivered_s,
        )
    finally:
        async with asyncio.timeout(PHASE_TIMEOUT):
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def run_one(plan: Plan, window: int, fd_limit: int, profile: bool = False) -> Result:
    """One configuration on a fresh server process."""
    server = ServerProcess(fd_limit)
    try:
        return asyncio.run(run_phase(server.ws_url, plan, window, server, profile))
    finally:
        server.stop()


# --- output ---------------------------------------------------------------------


def _machine() -> str:
    return machine_text(f"websockets {version('websockets')}, msgspec {msgspec.__version__}")


def _print_rows(header: Sequence[str], lines: Sequence[Sequence[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" if i == 0 else "---:" for i in range(len(header))) + " |")
    for line in lines:
        print("| " + " | ".join(line) + " |")


def _row(r: Result, round_no: int | None = None) -> list[str]:
    cells = [f"{r.sessions:,}"]
    if round_no is not None:
        cells.append(str(round_no))
    return [
        *cells,
        f"{r.mutations:,}",
        f"{r.mutations_per_s:,.1f}" if r.mutations_per_s < 100 else f"{r.mutations_per_s:,.0f}",
        f"{r.transitions_per_s:,.0f}",
        f"{r.coalescing:.2f}",
        f"{percentile(r.latency_ms, 50):.1f} / {percentile(r.latency_ms, 99):.1f}",
        f"{percentile(r.paced_ms, 50):.2f} / {percentile(r.paced_ms, 99):.2f}",
        f"{r.server_cpu_s / r.load_s:.0%} / {r.client_cpu_s / r.load_s:.0%}",
        f"{r.server_cpu_s / max(1, r.transitions) * 1e6:,.0f}",
    ]


_HEADER: Final = (
    "mutations",
    "mutations/s",
    "Transitions/s delivered",
    "Transitions per subscriber per mutation",
    "latency p50 / p99 (ms), load",
    "latency p50 / p99 (ms), one at a time",
    "CPU busy, server / clients",
    "server CPU µs per Transition",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dev server Transitions/s to many subscribers.")
    parser.add_argument("--quick", action="store_true", help="tiny counts; figures mean nothing")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 2; quick 1)")
    parser.add_argument("--window", type=int, default=8, help="unanswered mutations at most")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the server (100 subscribers)"
    )
    args = parser.parse_args(argv)
    plans = QUICK_PLANS if args.quick else FULL_PLANS
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 2)
    fd_limit = 2 * max(p.sessions for p in plans) + 256
    raise_open_file_limit(fd_limit)

    started = time.perf_counter()
    quick_note = " (QUICK: the figures mean nothing)" if args.quick else ""
    print(f"# syncwire dev server benchmark{quick_note}")
    print(_machine())
    print(f"window {args.window} unanswered mutations; {rounds} round(s), interleaved")
    by_plan: dict[int, list[Result]] = {p.sessions: [] for p in plans}
    for round_no in range(rounds):
        order = plans if round_no % 2 == 0 else tuple(reversed(plans))
        for plan in order:
            result = run_one(plan, args.window, fd_limit)
            by_plan[plan.sessions].append(result)
            print(
                f"round {round_no + 1}: {plan.sessions:,} subscribers: "
                f"{result.transitions_per_s:,.0f} Transitions/s",
                flush=True,
            )

    print("\n## Best round per configuration (higher Transitions/s)\n")
    best = [max(results, key=lambda r: r.transitions_per_s) for results in by_plan.values()]
    _print_rows(("subscribers", *_HEADER), [_row(r) for r in best])
    print("\n## Every round\n")
    lines = [_row(r, i + 1) for results in by_plan.values() for i, r in enumerate(results)]
    _print_rows(("subscribers", "round", *_HEADER), lines)
    spread = {s: statistics.pstdev([r.transitions_per_s for r in rs]) for s, rs in by_plan.items()}
    print(
        "\nTransitions/s spread (pstdev) across rounds: "
        + ", ".join(f"{s:,}: {v:,.0f}" for s, v in spread.items())
    )

    if args.profile:
        plan = next(p for p in plans if p.sessions == (10 if args.quick else 100))
        run_one(plan, args.window, fd_limit, profile=True)
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
