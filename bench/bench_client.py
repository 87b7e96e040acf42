"""End to end: subscription throughput and update latency, syncwire against the official client.

Run it with ``make bench`` (or ``.venv/bin/python bench/bench_client.py``); the
figures it prints are recorded in ``docs/benchmarks.md``. ``--quick`` runs tiny
counts, to check that the script still works (its figures mean nothing).

Two clients, in the same run, side by side: ``syncwire.Client`` and the
official Python client (PyPI ``convex``, Rust inside). Every client and every
server runs in its own process (this file, started with a hidden role
option), so no two of them share a GIL; the clients run one after the other.

* **Throughput.** A push server (``--serve-push``) speaks just enough of the
  protocol: it accepts the WebSocket on ``/api/sync`` (and ``/api/<v>/sync``),
  reads ``Connect`` and the ``ModifyQuerySet`` that adds ``bench:latest``, and
  answers with the first Transition (value ``{"seq": 0, "body": …}``). Once the
  application has that value, the client subscribes to ``bench:go`` too: that
  second ``ModifyQuerySet`` is the server's signal to send ``N`` more
  Transitions, all encoded and framed before the first one was sent, as fast as
  the socket takes them (batched ``transport.write``). Each is a
  ``QueryUpdated`` of the first query with ``{"seq": i, "body": …}`` (about
  360 bytes); versions chain (each ``startVersion`` is the previous
  ``endVersion``, ``ts`` strictly increasing), with ``clientClockSkew`` and a
  current integer ``serverTs``, as a real server sends. The client reads values
  until it sees ``seq == N``. Both clients conflate: a reader that falls behind
  skips to the newest value. So the measure is the time from the go (just
  before ``subscribe("bench:go")``) to the last value (``seq`` N) reaching the
  application: **Transitions/s processed** = ``N`` / that time. How many
  values the application saw is reported beside it (values/s), and the
  client's CPU time (all its threads) per Transition. The official client is
  read two ways, with its blocking iterator (``for value in subscription``; it
  holds the GIL while it waits, harmless in a process of its own) and with
  ``async for``; the goal is checked against the faster. The server's own
  ceiling is measured the same way by two clients that do not parse: a raw
  ``websockets`` client receiving the frames (``recv(decode=False)``), and a
  plain socket counting bytes (the server then closes after the last frame).
  The server reports its CPU time spent sending to each client.
* **Latency.** The real ``DevServer`` (``--serve-dev``, its own process) with a
  tiny bench app: ``bench:send {channel, body, seq}`` overwrites one document,
  ``bench:latest {channel}`` returns it. One client subscribes to
  ``bench:latest`` and, ``K`` times one after the other, calls ``bench:send``
  with the next ``seq`` and measures the time from calling the mutation to its
  own subscription yielding a value with that ``seq`` (after ``W`` warm-up
  mutations). Each client two ways. syncwire: ``await client.mutation(…)``
  (it returns once a Transition covers the mutation), then ``await
  sub.next()``; and ``client.mutation`` in a task while the caller waits on
  ``sub.next()``. The official client: ``mutation()`` (blocking; it also
  returns once a Transition covers it), then ``next()`` on the subscription;
  and ``async for`` on the subscription with the blocking ``mutation`` in a
  thread (``asyncio.to_thread``, as ``tests/devserver/official_py_client.py``
  does). The goal compares the faster of each. The dev server negotiates
  permessage-deflate with clients that offer it: syncwire's default transport
  does, the official client does not; so syncwire runs a third time with
  ``WebSocketsTransport(compression=False)`` (for information). For
  reference, no client at all: raw ``websockets`` sending the ``Mutation``
  frame and parsing frames until the Transition with the new value. The time
  until the mutation call returned is reported too. Every client run gets a
  fresh channel.

* **Subscriptions.** ``S`` (10,000) subscriptions in one client, each to
  ``bench:item {i}``, against a fan-out server (``--serve-fanout``) that
  answers every ``ModifyQuerySet`` with one Transition carrying a value for
  each query it adds (``{"i": i, "body": …}``). Timed from the first
  ``subscribe`` to the last subscription's first value read by the
  application, subscribing while connected (one ``ModifyQuerySet`` per
  subscription, as an application subscribes) and before the socket opens
  (one ``ModifyQuerySet`` with all of them, as after a reconnect). Memory per
  subscription is the RSS growth (``VmRSS``) of the client process from
  connected and idle to every value read, after ``gc.collect()``, divided by
  ``S``; and, in a separate run, the same by ``tracemalloc`` (live Python
  objects only). Goal: every first value within 1 s.

Candidates run in interleaved rounds (A B C …, then … C B A), each round a
fresh client process. Throughput: the table shows the best round, the
"paired" ratio is the median over the rounds of the ratio within a round.
Latency: the samples of every round pooled (median, p90, p99). syncwire runs
as it comes (``Client()``: the fast transport when ``syncwire[fast]`` is
installed) and on ``WebSocketsTransport``, the transport every install has.
Goals (issue #13): Transitions/s ≥ 1.5x the official client's with the fast
transport and ≥ 1.0x with websockets' (best round and paired median both,
against the faster way of reading it); client CPU per Transition ≤ 0.5x the
official's; median latency no worse than the official client's, with a 10 %
tolerance for noise (≤ 1.10x), on each transport.

Every wait is bounded (a client process that does not finish in time is
killed, and exits by itself before that), and every process is stopped at the
end. ``--profile`` runs one extra syncwire throughput client under cProfile and
prints where its time goes (the timed rounds are never profiled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import faulthandler
import importlib.util
import io
import json
import os
import pstats
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version
from pathlib import Path
from typing import Any
from typing import Final

import msgspec
from websockets.asyncio.client import connect as websockets_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve
from websockets.http11 import Request
from websockets.http11 import Response

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _harness, beside us
from _harness import LineReader
from _harness import bench_app
from _harness import close_or_wait
from _harness import frame_header
from _harness import interleaved
from _harness import load_average
from _harness import machine_text
from _harness import open_raw_websocket
from _harness import percentile
from _harness import print_rows
from _harness import rss_bytes
from _harness import stop_server
from _harness import transport_text
from _harness import wait_for_stdin_to_close
from syncwire.protocol import Connect
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_client_message
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message
from syncwire.transport import fast_transport_installed

_SCRIPT: Final = Path(__file__).resolve()
_HOST: Final = "127.0.0.1"
QUERY: Final = "bench:latest"
GO_QUERY: Final = "bench:go"
"""Subscribed to after the first value: the push server's signal to start."""
MUTATION: Final = "bench:send"
CHANNEL: Final = "bench"
BODY: Final = "the quick brown fox jumps over the lazy dog"

FAST_THROUGHPUT_GOAL: Final = 1.5
"""syncwire's Transitions/s on the fast transport at least this many times the official
client's (the faster of its two reading modes, paired per round)."""
DEFAULT_THROUGHPUT_GOAL: Final = 1.0
"""The same on the default transport (websockets), the one every install has."""
CPU_GOAL: Final = 0.5
"""syncwire's client CPU per Transition at most this share of the official client's."""
LATENCY_TOLERANCE: Final = 1.10
"""syncwire's median latency at most this many times the official client's (10 % noise)."""

_SERVER_LIFETIME_S: Final = 1800.0
"""A server process exits by itself after this long, whatever happens."""
_SERVER_WAIT_S: Final = 120.0
"""A push-server connection waits at most this long for the client to close it."""
_HANDSHAKE_S: Final = 30.0
"""Connect + ModifyQuerySet must arrive within this long."""
_BATCH_BYTES: Final = 256 * 1024
"""The push server writes its pre-framed Transitions in slices of this size."""
_MAX_COUNT: Final = 2_000_000
"""The push server sends at most this many Transitions per connection."""


@dataclass(frozen=True)
class Plan:
    count: int  # N Transitions per throughput round
    rounds: int  # throughput rounds
    samples: int  # K latency samples per client and round
    warmup: int  # W mutations before the samples
    latency_rounds: int
    role_timeout: float  # seconds a client process may take
    subscriptions: int = 10_000  # S subscriptions in one client
    subscription_rounds: int = 3


FULL: Final = Plan(
    count=100_000, rounds=5, samples=200, warmup=20, latency_rounds=6, role_timeout=120.0
)
QUICK: Final = Plan(
    count=300,
    rounds=1,
    samples=5,
    warmup=2,
    latency_rounds=1,
    role_timeout=60.0,
    subscriptions=200,
    subscription_rounds=1,
)

ITEM_QUERY: Final = "bench:item"
"""The subscriptions benchmark's query; each subscription has its own ``{"i": i}``."""
SUBSCRIPTIONS_GOAL_S: Final = 1.0
"""Every first value of ``S`` subscriptions within this many seconds."""


# --- the push server (its own process) -------------------------------------------------

_SYNC_PATH: Final = re.compile(r"/api/(?:[^/]+/)?sync")


def _framed(text: str) -> bytes:
    payload = text.encode()
    return frame_header(len(payload)) + payload


def _value(seq: int) -> dict[str, JSONValue]:
    return {"body": BODY, "seq": seq}


def push_frames(query_id: int, count: int, skew: int | None, query_set: int) -> tuple[bytes, bytes]:
    """The first Transition, and ``count`` more, each framed; versions chain.

    The first ends at query set version ``query_set``, the others at the next
    one (the client's "go" subscription).
    """
    ts = time.time_ns()
    server_ts = ts  # an integer: the official client rejects a float serverTs

    def transition(start: StateVersion, end: StateVersion, seq: int) -> bytes:
        update = QueryUpdated(query_id=query_id, value=_value(seq), log_lines=(), journal=None)
        return _framed(
            encode_server_message(
                Transition(
                    start_version=start,
                    end_version=end,
                    modifications=(update,),
                    client_clock_skew=skew,
                    server_ts=server_ts,
                )
            )
        )

    start = StateVersion(query_set=0, identity=0, ts=0)
    end = StateVersion(query_set=query_set, identity=0, ts=ts)
    first = transition(start, end, 0)
    rest: list[bytes] = []
    for seq in range(1, count + 1):
        start, end = end, StateVersion(query_set=query_set + 1, identity=0, ts=ts + seq)
        rest.append(transition(start, end, seq))
    return first, b"".join(rest)


def _check_sync_path(connection: ServerConnection, request: Request) -> Response | None:
    if _SYNC_PATH.fullmatch(request.path.partition("?")[0]) is None:
        return connection.respond(404, "Not Found\n")
    return None


async def _read_subscription(ws: ServerConnection) -> tuple[int, int | None, int]:
    """Read ``Connect`` and the ``ModifyQuerySet`` adding ``QUERY``.

    Returns its query id, the client's clock skew and the query set version.
    """
    skew: int | None = None
    async with asyncio.timeout(_HANDSHAKE_S):
        async for frame in ws:
            message = parse_client_message(frame)
            if isinstance(message, Connect):
                skew = message.client_ts - time.time_ns() // 1_000_000
            elif isinstance(message, ModifyQuerySet):
                for mod in message.modifications:
                    if isinstance(mod, QueryAdd) and mod.udf_path == QUERY:
                        return mod.query_id, skew, message.new_version
    raise ConnectionError("the client closed before subscribing")


async def _read_go(ws: ServerConnection, query_set: int) -> None:
    """Wait for the client's "go": the ``ModifyQuerySet`` to version ``query_set``."""
    async with asyncio.timeout(_HANDSHAKE_S):
        async for frame in ws:
            message = parse_client_message(frame)
            if isinstance(message, ModifyQuerySet):
                if message.new_version != query_set:
                    raise ConnectionError(f"expected query set {query_set}: {message}")
                return
    raise ConnectionError("the client closed before its go")


async def _discard(ws: ServerConnection) -> None:
    """Read and drop whatever else the client sends (the socket stays readable)."""
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


class _Push:
    def __init__(self, count: int) -> None:
        self.count = count

    async def __call__(self, ws: ServerConnection) -> None:
        """One connection: subscribe, push, report ``DONE <cpu s> <wall s> <ok>`` on stdout."""
        request = ws.request
        assert request is not None
        close_after = "close=1" in request.path.partition("?")[2]
        ok, cpu, wall = False, 0.0, 0.0
        reader: asyncio.Task[None] | None = None
        try:
            query_id, skew, query_set = await _read_subscription(ws)
            first, rest = push_frames(query_id, self.count, skew, query_set)
            ws.transport.write(first)
            await _read_go(ws, query_set + 1)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            reader = asyncio.create_task(_discard(ws))
            view = memoryview(rest)
            for offset in range(0, len(view), _BATCH_BYTES):
                ws.transport.write(view[offset : offset + _BATCH_BYTES])
                await ws.drain()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            ok = True
            await close_or_wait(ws, close_after, _SERVER_WAIT_S)
        except Exception as exc:
            print(f"ERROR {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            if reader is not None:
                reader.cancel()
            print(f"DONE {cpu:.6f} {wall:.6f} {int(ok)}", flush=True)


async def _serve_until_stdin_closes(handler: Any, **options: Any) -> None:
    """Serve until standard input closes (the parent went away) or the lifetime ends."""
    async with serve(handler, _HOST, 0, **options) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {port}", flush=True)
        await wait_for_stdin_to_close(_SERVER_LIFETIME_S)


def serve_push_main(count: int) -> int:
    asyncio.run(
        _serve_until_stdin_closes(
            _Push(min(count, _MAX_COUNT)),
            process_request=_check_sync_path,
            compression=None,
            ping_interval=None,
            max_size=2**20,
            write_limit=2**20,
        )
    )
    return 0


async def _fanout(ws: ServerConnection) -> None:
    """Answer every ``ModifyQuerySet`` with one Transition: a value for each query it adds."""
    version = StateVersion(query_set=0, identity=0, ts=0)
    ts = time.time_ns()
    with contextlib.suppress(Exception):
        async for frame in ws:
            message = parse_client_message(frame)
            if not isinstance(message, ModifyQuerySet):
                continue
            updates = tuple(
                QueryUpdated(
                    query_id=add.query_id,
                    value={"i": _float_or_none(add.args.get("i")), "body": BODY},
                    log_lines=(),
                    journal=None,
                )
                for add in message.modifications
                if isinstance(add, QueryAdd)
            )
            ts += 1
            end = StateVersion(query_set=message.new_version, identity=0, ts=ts)
            transition = Transition(start_version=version, end_version=end, modifications=updates)
            await ws.send(encode_server_message(transition))
            version = end


def _float_or_none(value: object) -> float | None:
    return value if isinstance(value, float) else None


def serve_fanout_main() -> int:
    asyncio.run(
        _serve_until_stdin_closes(
            _fanout,
            process_request=_check_sync_path,
            compression=None,
            ping_interval=None,
            max_size=64 * 2**20,
        )
    )
    return 0


# --- the dev server (its own process) ------------------------------------------------


async def _serve_dev() -> None:
    from syncwire.devserver import DevServer

    server = DevServer(bench_app(), host=_HOST, port=0)
    await server.start()
    try:
        print(f"PORT {server.port}", flush=True)
        await wait_for_stdin_to_close(_SERVER_LIFETIME_S)
    finally:
        async with asyncio.timeout(30.0):
            await server.stop()


def serve_dev_main() -> int:
    asyncio.run(_serve_dev())
    return 0


class ServerProcess:
    """A server role of this script in its own process; stopped by closing its stdin."""

    def __init__(self, role_args: Sequence[str]) -> None:
        self._proc = subprocess.Popen(  # noqa: S603 - our own script, our own interpreter
            [sys.executable, str(_SCRIPT), *role_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        self._lines = LineReader(self._proc.stdout.fileno())
        line = self.read_line(timeout=30.0)
        if line is None or not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self._proc.pid

    def read_line(self, timeout: float) -> str | None:
        """The next line the server printed, or ``None`` after ``timeout`` seconds."""
        return self._lines.read_line(timeout)

    def http_url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    def stop(self) -> None:
        stop_server(self._proc)


# --- the client roles (each in its own process) -------------------------------------------


def _ws_url(http_url: str, query: str = "") -> str:
    return "ws" + http_url.removeprefix("http") + "/api/sync" + (f"?{query}" if query else "")


def _go_frame() -> str:
    """The second ``ModifyQuerySet``, adding ``GO_QUERY``: the push starts."""
    add = QueryAdd(query_id=1, udf_path=GO_QUERY, args={})
    return encode_client_message(
        ModifyQuerySet(base_version=1, new_version=2, modifications=(add,))
    )


def _masked(text: str) -> bytes:
    """A client text frame with a zero masking key (the payload goes as it is)."""
    payload = text.encode()
    if len(payload) < 126:
        length = bytes((0x80 | len(payload),))
    else:
        length = bytes((0x80 | 126,)) + len(payload).to_bytes(2, "big")
    return bytes((0x81,)) + length + b"\0\0\0\0" + payload


def _subscribe_frames(query_id: int = 0, channel: str = CHANNEL) -> list[str]:
    return [
        encode_client_message(
            Connect(
                connection_count=0,
                last_close_reason="InitialConnect",
                client_ts=time.time_ns() // 1_000_000,
                # A fresh one: the dev server answers a known (session, request id) from memory.
                session_id=str(uuid.uuid4()),
            )
        ),
        encode_client_message(
            ModifyQuerySet(
                base_version=0,
                new_version=1,
                modifications=(
                    QueryAdd(query_id=query_id, udf_path=QUERY, args={"channel": channel}),
                ),
            )
        ),
    ]


def _throughput_result(
    count: int, values: int, wall: float, cpu: float, last_seq: float
) -> dict[str, Any]:
    if last_seq != count:
        raise RuntimeError(f"the last value had seq {last_seq}, expected {count}")
    return {"count": count, "values": values, "seconds": wall, "cpu": cpu}


def role_bytes(url: str, count: int, timeout: float) -> dict[str, Any]:
    """A plain socket: handshake, subscribe, count bytes until the server closes."""
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        received = open_raw_websocket(sock, host, int(port), "/api/sync?close=1")
        sock.sendall(b"".join(_masked(text) for text in _subscribe_frames()))
        buffer = bytearray(1 << 20)
        while not received:  # the first Transition (its first bytes, at least)
            n = sock.recv_into(buffer)
            if not n:
                raise RuntimeError("the server closed before the first Transition")
            received += n
        started, cpu0 = time.perf_counter(), time.process_time()
        sock.sendall(_masked(_go_frame()))
        while n := sock.recv_into(buffer):
            received += n
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {"count": count, "values": 0, "seconds": wall, "cpu": cpu, "bytes": received}


async def role_websockets(url: str, count: int, limit_s: float) -> dict[str, Any]:
    """A raw ``websockets`` client: subscribe, receive ``count`` + 1 frames, parse none."""
    async with asyncio.timeout(limit_s):
        async with websockets_connect(
            _ws_url(url), compression=None, max_size=None, ping_interval=None
        ) as ws:
            for text in _subscribe_frames():
                await ws.send(text)
            await ws.recv(decode=False)  # the first Transition
            started, cpu0 = time.perf_counter(), time.process_time()
            await ws.send(_go_frame())
            for _ in range(count):
                last = await ws.recv(decode=False)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    seq = msgspec.json.decode(last)["modifications"][0]["value"]["seq"]
    return _throughput_result(count, 0, wall, cpu, float(seq))


async def _read_to_count(
    count: int,
    value: Any,
    next_value: Callable[[], Awaitable[Any]],
    subscribe: Callable[[str], Any],
) -> tuple[dict[str, Any], Any]:
    """The timed window: subscribe to the go query, read values until ``seq == count``.

    Returns the result and the go subscription (the caller keeps it alive).
    """
    started, cpu0 = time.perf_counter(), time.process_time()
    go = subscribe(GO_QUERY)
    values = 0
    while value["seq"] < count:
        value = await next_value()
        values += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return _throughput_result(count, values, wall, cpu, value["seq"]), go


async def role_syncwire_throughput(
    url: str,
    count: int,
    limit_s: float,
    profiler: cProfile.Profile | None = None,
    *,
    websockets: bool = False,
) -> dict[str, Any]:
    """``syncwire.Client``: subscribe, read values until ``seq == count``.

    ``profiler`` (if any) profiles the timed window only. ``websockets``: on
    ``WebSocketsTransport`` instead of the default (the fast one when installed).
    """
    from syncwire import Client
    from syncwire.transport import WebSocketsTransport

    transport = WebSocketsTransport() if websockets else None
    async with Client(url, transport=transport) as client:
        sub = client.subscribe(QUERY, {"channel": CHANNEL})
        async with asyncio.timeout(limit_s):
            value = await sub.next()
            if profiler is not None:
                profiler.enable()
            result, go = await _read_to_count(count, value, sub.next, client.subscribe)
            if profiler is not None:
                profiler.disable()
        go.unsubscribe()
        sub.unsubscribe()
    return result


def role_official_blocking_throughput(url: str, count: int) -> dict[str, Any]:
    """The official client's blocking iterator (bounded by the process watchdog)."""
    from convex import ConvexClient

    client = ConvexClient(url)
    sub = client.subscribe(QUERY, {"channel": CHANNEL})
    value: Any = next(sub)
    started, cpu0 = time.perf_counter(), time.process_time()
    go = client.subscribe(GO_QUERY)
    values = 0
    while value["seq"] < count:
        value = next(sub)
        values += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    del go  # kept alive until here: dropping it would unsubscribe
    return _throughput_result(count, values, wall, cpu, value["seq"])


async def role_official_async_throughput(url: str, count: int, limit_s: float) -> dict[str, Any]:
    """The official client's ``async for`` on the subscription."""
    from convex import ConvexClient

    client = ConvexClient(url)
    sub = client.subscribe(QUERY, {"channel": CHANNEL})
    async with asyncio.timeout(limit_s):
        value: Any = await sub.__anext__()
        result, go = await _read_to_count(count, value, sub.__anext__, client.subscribe)
    del go  # kept alive until here: dropping it would unsubscribe
    return result


async def role_syncwire_subscriptions(
    url: str, count: int, limit_s: float, *, before_open: bool, traced: bool
) -> dict[str, Any]:
    """``count`` subscriptions to ``bench:item {i}``; time and memory until each first value.

    ``before_open``: subscribe before the socket opens (one ``ModifyQuerySet``);
    else once connected (one each). ``traced``: memory by ``tracemalloc``
    (then the time means nothing).
    """
    import gc
    import tracemalloc

    from syncwire import Client

    async with asyncio.timeout(limit_s), Client(url) as client:
        if not before_open:
            async for state in client.connection_states():
                if state.connection.is_connected:
                    break
        gc.collect()
        if traced:
            tracemalloc.start()
        memory0 = tracemalloc.get_traced_memory()[0] if traced else rss_bytes()
        started, cpu0 = time.perf_counter(), time.process_time()
        subs = [client.subscribe(ITEM_QUERY, {"i": float(i)}) for i in range(count)]
        for i, sub in enumerate(subs):
            value = await sub.next()
            if value["i"] != i:
                raise RuntimeError(f"subscription {i} got the value of {value['i']}")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        gc.collect()
        memory1 = tracemalloc.get_traced_memory()[0] if traced else rss_bytes()
        if traced:
            tracemalloc.stop()
        for sub in subs:
            sub.unsubscribe()
    return {"count": count, "seconds": wall, "cpu": cpu, "bytes": memory1 - memory0}


class _Latencies:
    """A latency role's samples: the ones after ``warmup`` mutations, in seconds."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.sub_s: list[float] = []
        self.call_s: list[float] = []

    def add(self, seq: int, started: float, seen: float, returned: float) -> None:
        if seq > self.warmup:
            self.sub_s.append(seen - started)
            self.call_s.append(returned - started)

    def result(self) -> dict[str, Any]:
        return {
            "latency_ms": [s * 1e3 for s in self.sub_s],
            "call_ms": [s * 1e3 for s in self.call_s],
        }


def _args(channel: str, seq: int) -> dict[str, Any]:
    return {"channel": channel, "body": BODY, "seq": float(seq)}


async def role_websockets_latency(
    url: str, channel: str, warmup: int, samples: int, limit_s: float
) -> dict[str, Any]:
    """No client: raw ``websockets`` and the typed parser, the least an asyncio client does.

    Sends the ``Mutation`` frame and waits for the Transition carrying its ``seq``.
    """
    samples_s = _Latencies(warmup)
    async with asyncio.timeout(limit_s):
        async with websockets_connect(
            _ws_url(url), compression=None, max_size=None, ping_interval=None
        ) as ws:
            for text in _subscribe_frames(channel=channel):
                await ws.send(text)
            seen = -1.0
            while seen < 0:
                seen = _seq_of(parse_server_message(await ws.recv()), seen)
            for seq in range(1, warmup + samples + 1):
                started = time.perf_counter()
                mutation = Mutation(request_id=seq - 1, udf_path=MUTATION, args=_args(channel, seq))
                await ws.send(encode_client_message(mutation))
                while seen < seq:
                    seen = _seq_of(parse_server_message(await ws.recv()), seen)
                now = time.perf_counter()
                samples_s.add(seq, started, now, now)  # no call time of its own: the same
    return samples_s.result()


def _seq_of(message: ServerMessage, seen: float) -> float:
    """The ``seq`` a Transition's value carries (0 for no value), else ``seen``."""
    if not isinstance(message, Transition):
        return seen
    for mod in message.modifications:
        if isinstance(mod, QueryUpdated):
            value = mod.value
            seq = value.get("seq") if isinstance(value, dict) else None
            seen = float(seq) if isinstance(seq, int | float) else 0.0
    return seen


async def role_syncwire_latency(
    url: str,
    channel: str,
    warmup: int,
    samples: int,
    limit_s: float,
    *,
    sequential: bool,
    transport: str | None = None,
) -> dict[str, Any]:
    """Mutation called → the same client's subscription yields the new value.

    ``sequential``: ``await client.mutation(…)``, then ``await sub.next()``;
    otherwise the mutation runs in a task while this one waits on the
    subscription. ``transport``: ``None`` for the default
    (the fast one when installed), ``"websockets"`` for ``WebSocketsTransport``,
    ``"plain"`` for it without permessage-deflate.
    """
    from syncwire import Client
    from syncwire.transport import WebSocketsTransport

    samples_s = _Latencies(warmup)
    chosen = None
    if transport in ("websockets", "plain"):
        chosen = WebSocketsTransport(compression=transport == "websockets")
    async with Client(url, transport=chosen) as client:
        sub = client.subscribe(QUERY, {"channel": channel})

        async def mutate(seq: int) -> float:
            await client.mutation(MUTATION, _args(channel, seq))
            return time.perf_counter()

        async with asyncio.timeout(limit_s):
            value = await sub.next()
            if value is not None:
                raise RuntimeError(f"channel {channel} is not fresh")
            for seq in range(1, warmup + samples + 1):
                started = time.perf_counter()
                if sequential:
                    returned = await mutate(seq)
                    while value is None or value["seq"] < seq:
                        value = await sub.next()
                    seen = time.perf_counter()
                else:
                    call = asyncio.ensure_future(mutate(seq))
                    while value is None or value["seq"] < seq:
                        value = await sub.next()
                    seen = time.perf_counter()
                    returned = await call
                samples_s.add(seq, started, seen, returned)
        sub.unsubscribe()
    return samples_s.result()


async def role_official_thread_latency(
    url: str, channel: str, warmup: int, samples: int, limit_s: float
) -> dict[str, Any]:
    """Official client: ``async for`` subscription, blocking ``mutation`` in a thread."""
    from convex import ConvexClient

    client = ConvexClient(url)
    sub = client.subscribe(QUERY, {"channel": channel})
    samples_s = _Latencies(warmup)

    def mutate(seq: int) -> float:
        client.mutation(MUTATION, _args(channel, seq))
        return time.perf_counter()

    async with asyncio.timeout(limit_s):
        value: Any = await sub.__anext__()
        if value is not None:
            raise RuntimeError(f"channel {channel} is not fresh")
        for seq in range(1, warmup + samples + 1):
            started = time.perf_counter()
            call = asyncio.ensure_future(asyncio.to_thread(mutate, seq))
            while value is None or value["seq"] < seq:
                value = await sub.__anext__()
            seen = time.perf_counter()
            returned = await call
            samples_s.add(seq, started, seen, returned)
    return samples_s.result()


def role_official_blocking_latency(
    url: str, channel: str, warmup: int, samples: int
) -> dict[str, Any]:
    """Official client: blocking ``mutation()``, then blocking ``next()`` on the subscription."""
    from convex import ConvexClient

    client = ConvexClient(url)
    sub = client.subscribe(QUERY, {"channel": channel})
    samples_s = _Latencies(warmup)
    value: Any = next(sub)
    if value is not None:
        raise RuntimeError(f"channel {channel} is not fresh")
    for seq in range(1, warmup + samples + 1):
        started = time.perf_counter()
        client.mutation(MUTATION, _args(channel, seq))
        returned = time.perf_counter()
        while value is None or value["seq"] < seq:
            value = next(sub)
        seen = time.perf_counter()
        samples_s.add(seq, started, seen, returned)
    return samples_s.result()


@dataclass(frozen=True)
class Candidate:
    role: str
    label: str
    what: str
    official: bool = False


THROUGHPUT_CANDIDATES: Final = (
    Candidate("tp-bytes", "server ceiling: socket", "plain socket, counts bytes"),
    Candidate("tp-websockets", "server ceiling: websockets", "recv(decode=False), no parsing"),
    Candidate("tp-syncwire", "syncwire", "Client(), await sub.next()"),
    Candidate("tp-syncwire-websockets", "syncwire, websockets", "WebSocketsTransport()"),
    Candidate("tp-official-blocking", "official", "ConvexClient, blocking iterator", True),
    Candidate("tp-official-async", "official", "ConvexClient, async for", True),
)
SYNCWIRE_LATENCY_ROLES: Final = ("lat-syncwire", "lat-syncwire-task")
"""syncwire as it comes (its default transport, deflate on): the faster of the two is
held to the goal."""
LATENCY_CANDIDATES: Final = (
    Candidate("lat-websockets", "reference: no client", "raw websockets + typed parse"),
    Candidate("lat-syncwire", "syncwire", "await mutation(), then sub.next()"),
    Candidate("lat-syncwire-task", "syncwire", "mutation task + await sub.next()"),
    Candidate("lat-syncwire-websockets", "syncwire, websockets", "await mutation(), then next()"),
    Candidate("lat-syncwire-plain", "syncwire, no deflate", "websockets, compression off"),
    Candidate("lat-official-thread", "official", "to_thread(mutation) + async for", True),
    Candidate("lat-official-blocking", "official", "mutation(), then next()", True),
)


_SYNCWIRE_LATENCY_TRANSPORTS: Final[dict[str, str | None]] = {
    "lat-syncwire": None,
    "lat-syncwire-task": None,
    "lat-syncwire-websockets": "websockets",
    "lat-syncwire-plain": "plain",
}


SUBSCRIPTION_ROLES: Final = {
    "subs-connected": "subscribe while connected (a ModifyQuerySet each)",
    "subs-before-open": "subscribe before the socket opens (one ModifyQuerySet)",
    "subs-connected-traced": "",
    "subs-before-open-traced": "",
}


def role_main(args: argparse.Namespace) -> int:
    """A client process: run ``args.role``, print ``RESULT <json>`` (and a profile, if asked)."""
    timeout: float = args.timeout
    # Exits the process even when a blocking call holds the GIL (the official iterator does).
    faulthandler.dump_traceback_later(timeout + 10.0, exit=True)
    profiler = cProfile.Profile() if args.profile else None
    role, url = args.role, args.url
    if role == "tp-bytes":
        result = role_bytes(url, args.count, timeout)
    elif role == "tp-websockets":
        result = asyncio.run(role_websockets(url, args.count, timeout))
    elif role in ("tp-syncwire", "tp-syncwire-websockets"):
        result = asyncio.run(
            role_syncwire_throughput(
                url, args.count, timeout, profiler, websockets=role == "tp-syncwire-websockets"
            )
        )
    elif role == "tp-official-blocking":
        result = role_official_blocking_throughput(url, args.count)
    elif role == "tp-official-async":
        result = asyncio.run(role_official_async_throughput(url, args.count, timeout))
    elif role == "lat-websockets":
        result = asyncio.run(
            role_websockets_latency(url, args.channel, args.warmup, args.samples, timeout)
        )
    elif role in _SYNCWIRE_LATENCY_TRANSPORTS:
        result = asyncio.run(
            role_syncwire_latency(
                url,
                args.channel,
                args.warmup,
                args.samples,
                timeout,
                sequential=role != "lat-syncwire-task",
                transport=_SYNCWIRE_LATENCY_TRANSPORTS[role],
            )
        )
    elif role == "lat-official-thread":
        result = asyncio.run(
            role_official_thread_latency(url, args.channel, args.warmup, args.samples, timeout)
        )
    elif role == "lat-official-blocking":
        result = role_official_blocking_latency(url, args.channel, args.warmup, args.samples)
    elif role in SUBSCRIPTION_ROLES:
        result = asyncio.run(
            role_syncwire_subscriptions(
                url,
                args.count,
                timeout,
                before_open=role.startswith("subs-before-open"),
                traced=role.endswith("-traced"),
            )
        )
    else:
        raise ValueError(f"unknown role {role!r}")
    if profiler is not None:
        print(profile_report(profiler))
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    # The official client's Rust threads do not stop on their own.
    os._exit(0)


def _area(filename: str, name: str) -> str:
    """Where a profiled function lives: a file under site-packages or src, or a builtin."""
    if filename == "~":
        if "epoll" in name:
            return "(waiting in epoll: no data buffered)"
        if "msgspec" in name:
            return "(msgspec decode/encode, C)"
        return "(other builtins: len, isinstance, bytes.join, ...)"
    for marker in ("/site-packages/", "/src/"):
        if marker in filename:
            return filename.rpartition(marker)[2]
    stdlib = re.search(r"/lib/python3\.\d+/(.+)$", filename)
    return f"stdlib {stdlib.group(1)}" if stdlib else filename


def profile_report(profiler: cProfile.Profile) -> str:
    """Own time by file, then the top functions by own and by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    by_area: dict[str, float] = {}
    for (filename, _line, name), entry in raw.items():
        area = _area(filename, name)
        by_area[area] = by_area.get(area, 0.0) + entry[2]
    out.write(f"own time by file, {total:.3f} s profiled in all (cProfile inflates calls):\n\n")
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1])[:20]:
        out.write(f"  {seconds / total:6.1%}  {seconds:7.3f} s  {area}\n")
    out.write("\n")
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(35)
    return out.getvalue()


def run_role(
    role: str, url: str, plan: Plan, *, channel: str = "", profile: bool = False
) -> tuple[dict[str, Any], str]:
    """One client process; its result and whatever else it printed."""
    command = [sys.executable, str(_SCRIPT), "--role", role, "--url", url]
    command += ["--count", str(plan.count), "--timeout", str(plan.role_timeout)]
    command += ["--samples", str(plan.samples), "--warmup", str(plan.warmup)]
    command += ["--channel", channel] + (["--profile"] if profile else [])
    proc = subprocess.run(  # noqa: S603 - our own script, our own interpreter
        command, capture_output=True, text=True, timeout=plan.role_timeout + 30.0, check=False
    )
    lines = proc.stdout.rstrip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("RESULT "):
        raise RuntimeError(
            f"client {role} failed (status {proc.returncode}):\n{proc.stdout[-2000:]}\n"
            f"{proc.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result, "\n".join(lines[:-1])


# --- the parent: rounds, tables, goals --------------------------------------------------


@dataclass
class ThroughputRuns:
    candidate: Candidate
    results: list[dict[str, Any]] = field(default_factory=list)
    server: list[tuple[float, float]] = field(default_factory=list)  # (cpu s, wall s) sending

    def rate(self, i: int) -> float:
        """Transitions/s of round ``i``."""
        result = self.results[i]
        return float(result["count"]) / max(float(result["seconds"]), 1e-9)

    @property
    def rates(self) -> list[float]:
        return [self.rate(i) for i in range(len(self.results))]

    @property
    def best(self) -> int:
        return max(range(len(self.results)), key=self.rate)


@dataclass
class LatencyRuns:
    candidate: Candidate
    latency_ms: list[float] = field(default_factory=list)
    call_ms: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)


def _official_version() -> str:
    try:
        return version("convex")
    except PackageNotFoundError:
        return "not installed"


def _machine() -> str:
    return machine_text(
        f"syncwire {version('syncwire')}, convex {_official_version()}, "
        f"websockets {version('websockets')}, msgspec {msgspec.__version__}, "
        f"{transport_text()}",
        load_average(),
    )


def measure_throughput(plan: Plan) -> list[ThroughputRuns]:
    runs = [ThroughputRuns(c) for c in THROUGHPUT_CANDIDATES]
    server = ServerProcess(["--serve-push", "--count", str(plan.count)])
    try:
        url = server.http_url()
        print(f"push server: pid {server.pid}, port {server.port}, compression off")
        for round_no, index in enumerate(interleaved(len(runs), plan.rounds)):
            run = runs[index]
            result, _ = run_role(run.candidate.role, url, plan)
            done = server.read_line(timeout=30.0)
            if done is None or not done.startswith("DONE "):
                raise RuntimeError(f"the push server did not report the connection: {done!r}")
            _, cpu, wall, ok = done.split()
            if ok != "1":
                raise RuntimeError("the push server failed to send (see its stderr)")
            run.results.append(result)
            run.server.append((float(cpu), float(wall)))
            print(
                f"round {round_no // len(runs) + 1}: {run.candidate.label} "
                f"({run.candidate.what}): {run.rate(len(run.results) - 1):,.0f} Transitions/s",
                flush=True,
            )
    finally:
        server.stop()
    return runs


def profile_syncwire(plan: Plan) -> str:
    server = ServerProcess(["--serve-push", "--count", str(plan.count)])
    try:
        _, printed = run_role("tp-syncwire", server.http_url(), plan, profile=True)
        server.read_line(timeout=30.0)
    finally:
        server.stop()
    return printed


def measure_latency(plan: Plan) -> list[LatencyRuns]:
    runs = [LatencyRuns(c) for c in LATENCY_CANDIDATES]
    server = ServerProcess(["--serve-dev"])
    try:
        url = server.http_url()
        print(f"dev server: pid {server.pid}, port {server.port}")
        order = interleaved(len(runs), plan.latency_rounds)
        for n, index in enumerate(order):
            run = runs[index]
            channel = f"{run.candidate.role}-{n}"
            result, _ = run_role(run.candidate.role, url, plan, channel=channel)
            run.latency_ms.extend(result["latency_ms"])
            run.call_ms.extend(result["call_ms"])
            run.round_medians.append(statistics.median(result["latency_ms"]))
            print(
                f"round {n // len(runs) + 1}: {run.candidate.label} ({run.candidate.what}): "
                f"median {run.round_medians[-1]:.2f} ms",
                flush=True,
            )
    finally:
        server.stop()
    return runs


def measure_subscriptions(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Each subscription role, interleaved over the rounds; the traced runs once each."""
    timed = [role for role in SUBSCRIPTION_ROLES if not role.endswith("-traced")]
    results: dict[str, list[dict[str, Any]]] = {role: [] for role in SUBSCRIPTION_ROLES}
    role_plan = Plan(**{**plan.__dict__, "count": plan.subscriptions})
    server = ServerProcess(["--serve-fanout"])
    try:
        url = server.http_url()
        print(f"fan-out server: pid {server.pid}, port {server.port}")
        order = [timed[i] for i in interleaved(len(timed), plan.subscription_rounds)]
        for role in order + [f"{role}-traced" for role in timed]:
            result, _ = run_role(role, url, role_plan)
            results[role].append(result)
            if not role.endswith("-traced"):
                print(
                    f"{role}: {plan.subscriptions:,} first values in "
                    f"{result['seconds'] * 1e3:,.0f} ms",
                    flush=True,
                )
    finally:
        server.stop()
    return results


def report_subscriptions(results: dict[str, list[dict[str, Any]]], count: int) -> float:
    """Print the table; returns the slower role's best time to every first value (s)."""
    header = (
        "how it subscribes",
        "all first values, best ms",
        "rounds (min–max) ms",
        "µs per subscription",
        "client CPU µs per subscription",
        "RSS bytes per subscription",
        "tracemalloc bytes per subscription",
    )
    lines = []
    worst = 0.0
    for role, what in SUBSCRIPTION_ROLES.items():
        if role.endswith("-traced"):
            continue
        runs = results[role]
        seconds = [float(r["seconds"]) for r in runs]
        best = min(seconds)
        worst = max(worst, best)
        cpu = statistics.median(float(r["cpu"]) for r in runs)
        rss = statistics.median(float(r["bytes"]) for r in runs)
        traced = statistics.median(float(r["bytes"]) for r in results[f"{role}-traced"])
        lines.append(
            (
                what,
                f"{best * 1e3:,.0f}",
                f"{min(seconds) * 1e3:,.0f}–{max(seconds) * 1e3:,.0f}",
                f"{best / count * 1e6:.1f}",
                f"{cpu / count * 1e6:.1f}",
                f"{rss / count:,.0f}",
                f"{traced / count:,.0f}",
            )
        )
    print_rows(header, lines)
    return worst


def _paired(ours: ThroughputRuns, theirs: ThroughputRuns) -> float:
    return statistics.median(a / b for a, b in zip(ours.rates, theirs.rates, strict=True))


@dataclass(frozen=True)
class VsOfficial:
    """One syncwire row against the faster official row of the same run."""

    best: float
    """Best-round Transitions/s over the official's best."""
    paired: float
    """The median over rounds of the ratio within a round."""
    cpu: float
    """Median client CPU per Transition over the official's."""


def _cpu_per_transition(run: ThroughputRuns) -> float:
    return statistics.median(float(r["cpu"]) for r in run.results)


def report_throughput(runs: Sequence[ThroughputRuns], count: int) -> dict[str, VsOfficial]:
    """Print the table; returns each syncwire row (by role) against the faster official."""
    official = max((r for r in runs if r.candidate.official), key=lambda r: r.rate(r.best))
    ours = {
        run.candidate.role: VsOfficial(
            run.rate(run.best) / official.rate(official.best),
            _paired(run, official),
            _cpu_per_transition(run) / _cpu_per_transition(official),
        )
        for run in runs
        if run.candidate.role.startswith("tp-syncwire")
    }
    header = (
        "candidate",
        "how it reads",
        "Transitions/s",
        "rounds (min–max)",
        "values seen",
        "values/s",
        "client CPU",
        "client CPU µs/Transition",
        "server CPU",
        "vs official",
        "paired",
    )
    lines = []
    for run in runs:
        i = run.best
        result = run.results[i]
        seconds = float(result["seconds"])
        is_client = run.candidate.role not in ("tp-bytes", "tp-websockets")
        values = int(result["values"])
        rates = run.rates
        server_cpu, _ = run.server[i]
        lines.append(
            (
                run.candidate.label,
                run.candidate.what,
                f"{run.rate(i):,.0f}",
                f"{min(rates):,.0f}–{max(rates):,.0f}",
                f"{values:,} ({values / count:.0%})" if is_client else "",
                f"{values / seconds:,.0f}" if is_client else "",
                f"{float(result['cpu']) / seconds:.0%}",
                f"{statistics.median(float(r['cpu']) for r in run.results) / count * 1e6:.1f}",
                f"{server_cpu / seconds:.0%}",
                f"{run.rate(i) / official.rate(official.best):.2f}x",
                f"{_paired(run, official):.2f}x",
            )
        )
    print_rows(header, lines)
    return ours


def report_latency(runs: Sequence[LatencyRuns]) -> tuple[float, LatencyRuns, LatencyRuns]:
    """Print the table; returns the faster syncwire variant's median / the faster official's.

    syncwire's variants here are those on its default transport (deflate on).
    """
    syncwire = min(
        (r for r in runs if r.candidate.role in SYNCWIRE_LATENCY_ROLES),
        key=lambda r: statistics.median(r.latency_ms),
    )
    official = min(
        (r for r in runs if r.candidate.official), key=lambda r: statistics.median(r.latency_ms)
    )
    base = statistics.median(official.latency_ms)
    header = (
        "candidate",
        "how it waits",
        "samples",
        "median ms",
        "p90 ms",
        "p99 ms",
        "round medians ms",
        "mutation returned, median ms",
        "median vs official",
    )
    lines = [
        (
            run.candidate.label,
            run.candidate.what,
            f"{len(run.latency_ms):,}",
            f"{statistics.median(run.latency_ms):.2f}",
            f"{percentile(run.latency_ms, 90):.2f}",
            f"{percentile(run.latency_ms, 99):.2f}",
            " / ".join(f"{m:.2f}" for m in run.round_medians),
            f"{statistics.median(run.call_ms):.2f}",
            f"{statistics.median(run.latency_ms) / base:.2f}x",
        )
        for run in runs
    ]
    print_rows(header, lines)
    return statistics.median(syncwire.latency_ms) / base, syncwire, official


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; the exit status is 0 unless it crashes."""
    parser = argparse.ArgumentParser(
        description="End to end: syncwire against the official client."
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts; figures mean nothing")
    parser.add_argument("--rounds", type=int, default=None, help="rounds, throughput and latency")
    parser.add_argument("--profile", action="store_true", help="also profile syncwire's client")
    parser.add_argument("--serve-push", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-dev", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-fanout", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--subscriptions", type=int, default=None, help="subscriptions in one client (10,000)"
    )
    parser.add_argument(
        "--subscriptions-only",
        action="store_true",
        help="only the subscriptions section (no official client needed)",
    )
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=None, help="Transitions per round")
    parser.add_argument("--samples", type=int, default=None, help="latency samples per round")
    parser.add_argument("--warmup", type=int, default=None, help="latency warm-up mutations")
    parser.add_argument("--timeout", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--channel", default=CHANNEL, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_push:
        return serve_push_main(args.count)
    if args.serve_dev:
        return serve_dev_main()
    if args.serve_fanout:
        return serve_fanout_main()
    if args.role:
        return role_main(args)
    if args.subscriptions_only:
        return subscriptions_main(args)
    if importlib.util.find_spec("convex") is None:
        print("the official client (PyPI `convex`) is not installed: pip install convex")
        return 2

    base = QUICK if args.quick else FULL
    plan = Plan(
        count=args.count or base.count,
        rounds=args.rounds or base.rounds,
        samples=args.samples or base.samples,
        warmup=base.warmup if args.warmup is None else args.warmup,
        latency_rounds=args.rounds or base.latency_rounds,
        role_timeout=base.role_timeout,
        subscriptions=args.subscriptions or base.subscriptions,
        subscription_rounds=args.rounds or base.subscription_rounds,
    )
    started = time.perf_counter()
    quick_note = " (QUICK: the figures mean nothing)" if args.quick else ""
    print(f"# syncwire end-to-end client benchmark{quick_note}")
    print(_machine())
    print(
        f"throughput: {plan.count:,} Transitions per round, {plan.rounds} round(s); latency: "
        f"{plan.samples} samples after {plan.warmup} warm-up, {plan.latency_rounds} round(s); "
        "interleaved, one process per client run"
    )
    throughput = measure_throughput(plan)
    latency = measure_latency(plan)
    subscriptions = measure_subscriptions(plan)

    print(f"\n## Throughput: {plan.count:,} Transitions, push server, best round\n")
    print("(Transitions/s: N over the time from the go to the last value reaching the app;")
    print("'vs official' and 'paired' are against the faster official row; CPU is the share")
    print("of one core during the timed window (all the process's threads); CPU µs per")
    print("Transition is the median over the rounds; server CPU is its time spent sending)\n")
    vs_official = report_throughput(throughput, plan.count)
    print("\n## Latency: mutation called -> own subscription sees the value, dev server\n")
    latency_ratio, syncwire, official = report_latency(latency)
    print(f"\n## Subscriptions: {plan.subscriptions:,} in one client, fan-out server\n")
    subscriptions_s = report_subscriptions(subscriptions, plan.subscriptions)
    if args.profile:
        print("\n## cProfile of the syncwire throughput client\n")
        print("```")
        print(profile_syncwire(plan).rstrip())
        print("```")

    print("\n## Goals\n")
    _print_throughput_verdicts(vs_official)
    verdict = "PASS" if latency_ratio <= LATENCY_TOLERANCE else "FAIL"
    print(
        f"{verdict} (latency) syncwire/official median {latency_ratio:.2f}x "
        f"('{syncwire.candidate.what}' against '{official.candidate.what}', the faster "
        f"of each), goal <= {LATENCY_TOLERANCE:.2f}x "
        f"(not worse, {LATENCY_TOLERANCE - 1:.0%} noise tolerance)"
    )
    websockets = next(r for r in latency if r.candidate.role == "lat-syncwire-websockets")
    ratio = statistics.median(websockets.latency_ms) / statistics.median(official.latency_ms)
    verdict = "PASS" if ratio <= LATENCY_TOLERANCE else "FAIL"
    print(
        f"{verdict} (latency, websockets) syncwire on WebSocketsTransport/official median "
        f"{ratio:.2f}x, goal <= {LATENCY_TOLERANCE:.2f}x"
    )
    _print_subscriptions_verdict(subscriptions_s, plan.subscriptions)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal time {time.perf_counter() - started:.1f} s; load average now {load}")
    return 0


def _print_throughput_verdicts(vs_official: dict[str, VsOfficial]) -> None:
    """The throughput goals: the fast transport, the default one, and CPU per Transition."""
    fast = fast_transport_installed()
    default = vs_official["tp-syncwire"]
    websockets = vs_official["tp-syncwire-websockets"]
    goal = FAST_THROUGHPUT_GOAL if fast else DEFAULT_THROUGHPUT_GOAL
    verdict = "PASS" if min(default.best, default.paired) >= goal else "FAIL"
    which = "fast transport (picows)" if fast else "fast transport NOT installed: websockets"
    print(
        f"{verdict} (throughput) syncwire ({which})/official Transitions/s {default.best:.2f}x "
        f"(paired {default.paired:.2f}x), goal >= {goal:g}x"
    )
    verdict = (
        "PASS" if min(websockets.best, websockets.paired) >= DEFAULT_THROUGHPUT_GOAL else "FAIL"
    )
    print(
        f"{verdict} (throughput, websockets) syncwire on WebSocketsTransport/official "
        f"{websockets.best:.2f}x (paired {websockets.paired:.2f}x), "
        f"goal >= {DEFAULT_THROUGHPUT_GOAL:g}x"
    )
    verdict = "PASS" if default.cpu <= CPU_GOAL else "FAIL"
    print(
        f"{verdict} (cpu) syncwire's client CPU per Transition / the official's "
        f"{default.cpu:.2f}x (websockets {websockets.cpu:.2f}x), goal <= {CPU_GOAL:g}x"
    )


def _print_subscriptions_verdict(seconds: float, count: int) -> None:
    verdict = "PASS" if seconds <= SUBSCRIPTIONS_GOAL_S else "FAIL"
    print(
        f"{verdict} (subscriptions) {count:,} subscriptions, every first value in "
        f"{seconds * 1e3:,.0f} ms (the slower way, best round), goal <= "
        f"{SUBSCRIPTIONS_GOAL_S * 1e3:,.0f} ms"
    )


def subscriptions_main(args: argparse.Namespace) -> int:
    """``--subscriptions-only``: the subscriptions section and its goal, nothing else."""
    base = QUICK if args.quick else FULL
    plan = Plan(
        **{
            **base.__dict__,
            "subscriptions": args.subscriptions or base.subscriptions,
            "subscription_rounds": args.rounds or base.subscription_rounds,
        }
    )
    print(f"# syncwire subscriptions benchmark{' (QUICK)' if args.quick else ''}")
    print(_machine())
    results = measure_subscriptions(plan)
    print(f"\n## Subscriptions: {plan.subscriptions:,} in one client, fan-out server\n")
    seconds = report_subscriptions(results, plan.subscriptions)
    print("\n## Goals\n")
    _print_subscriptions_verdict(seconds, plan.subscriptions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
