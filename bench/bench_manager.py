"""Manager receive path and idle memory: ``WebSocketManager`` against the raw transport.

Run it with ``make bench`` (or ``.venv/bin/python bench/bench_manager.py``); the
figures it prints are recorded in ``docs/benchmarks.md``. ``--quick`` runs tiny
counts, to check that the script still works (its figures mean nothing).

What is measured, against a local ``websockets`` server running in a separate
process (this file, started with ``--serve``) on 127.0.0.1:

* **Receive path.** Frames in → typed message → ``on_message``, in messages per
  second. The *raw ceiling* is the loop an application would write on the
  default transport with the same parser::

      conn = await WebSocketsTransport(...).connect(url)
      while True:
          handler(parse_server_message(await conn.recv()))

  and the candidate is ``WebSocketManager(url, transport=WebSocketsTransport(...),
  on_open=..., on_message=handler)`` receiving the same frames. Both call the same
  ``handler``. For context, the same raw loop on ``websockets``' own connection
  with ``recv(decode=False)`` (bytes, no UTF-8 decode), and on ``aiohttp`` when it
  is installed (the ``bench`` extra). The server sends N pre-framed copies of one
  frame as fast as the socket takes them (batched ``transport.write``), so it is
  not the bottleneck: its own send ceiling is measured first, with a client that
  only counts bytes, and its CPU use is reported next to every candidate.
* **Idle memory.** RSS growth (``VmRSS``) and Python-level bytes (``tracemalloc``,
  in a separate run) of a client process per open connection, for 1,000 raw
  ``WebSocketsTransport`` connections, the same with one reader task each (the
  loop above, waiting), and 1,000 ``WebSocketManager``\\ s; each in its own
  subprocess so none pollutes another. The server sends nothing.

Method (as ``bench_codec.py``): the candidates of one shape run interleaved
(A B C …, then … C B A) for several rounds, each round on a fresh connection
with N sized to about half a second; throughput is the best round and "paired"
is the median over the rounds of the ratio within a round. A round is timed
from the first message handled to the last, so the handshake is not in it. The
garbage collector stays enabled. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import importlib
import importlib.util
import json
import os
import random
import selectors
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Final
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.client import connect as websockets_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve
from websockets.version import version as websockets_version

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _harness, beside us
from _harness import Timing
from _harness import close_or_wait
from _harness import frame_header
from _harness import interleaved
from _harness import load_average
from _harness import machine_text
from _harness import open_raw_websocket
from _harness import print_rows
from _harness import raise_open_file_limit
from _harness import rss_bytes
from _harness import size_text
from _harness import stop_server
from _harness import wait_for_stdin_to_close
from syncwire.errors import ConnectionClosedError
from syncwire.manager import OnMessageResponse
from syncwire.manager import WebSocketManager
from syncwire.protocol import MutationResponse
from syncwire.protocol import ServerMessage
from syncwire.protocol import Transition
from syncwire.protocol import encode_u64
from syncwire.protocol import parse_server_message
from syncwire.transport import TransportConnection
from syncwire.transport import WebSocketsTransport
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE

SEED: Final = 20240521
SMALL_GOAL: Final = 0.85
"""The manager must reach this share of the raw loop's msgs/s on small frames..."""
LARGE_GOAL: Final = 0.95
"""... and this share on the 100 KB frame."""
MEMORY_GOAL: Final = 1.3
"""Idle bytes per manager at most this many times those of a raw connection."""

_SCRIPT: Final = Path(__file__).resolve()
_HOST: Final = "127.0.0.1"
_SERVER_LIFETIME_S: Final = 1800.0
"""The server process exits by itself after this long, whatever happens."""
_SERVER_WAIT_S: Final = 120.0
"""A server connection waits at most this long for the client to close it."""
_MAX_FRAMES: Final = 5_000_000
"""The server sends at most this many frames on one connection."""
_BATCH_BYTES: Final = 256 * 1024
"""The server writes pre-framed copies of the frame in batches of about this size."""
_OPEN_BATCH: Final = 100
"""Memory phases open this many connections at a time."""
_NOFILE_WANTED: Final = 8192

_RESPONSE: Final = OnMessageResponse(has_synced_past_last_reconnect=False)
_ID_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
_WORDS: Final = (
    *("the", "of", "and", "to", "in", "is", "you", "that", "it", "was", "for", "on", "are"),
    *("as", "with", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by"),
    *("word", "but", "not", "what", "all", "were", "we", "when", "your", "can", "said"),
    *("deploy", "query", "schema", "index", "table", "cursor", "mutation", "action"),
    *("server", "client", "socket", "retry"),
)
_NON_ASCII: Final = ("café", "naïve", "über", "日本語", "👍")
_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


# --- frames (built the same way by the server and the client) ------------------


@dataclass(frozen=True)
class Shape:
    key: str
    title: str
    goal: float


SHAPES: Final = (
    Shape("a", "MutationResponse", SMALL_GOAL),
    Shape("a2", "small Transition", SMALL_GOAL),
    Shape("b", "Transition, 1 query", LARGE_GOAL),
)


def _documents(rng: random.Random, target_bytes: int) -> list[dict[str, Any]]:
    """Convex-like documents whose JSON adds up to about ``target_bytes``."""
    docs: list[dict[str, Any]] = []
    size = 0
    created = 1_716_312_345_678.125
    while size < target_bytes:
        created += rng.uniform(0.5, 2_000.0)
        words = rng.choices(_WORDS, k=rng.randint(4, 40))
        if rng.random() < 0.08:  # some messages carry accents or emoji
            words.insert(rng.randrange(len(words) + 1), rng.choice(_NON_ASCII))
        doc = {
            "_creationTime": round(created, 3),
            "_id": "".join(rng.choices(_ID_ALPHABET, k=32)),
            "author": "".join(rng.choices(_ID_ALPHABET, k=32)),
            "body": " ".join(words),
            "likes": rng.randint(0, 500),
            "meta": {"edited": rng.random() < 0.2, "score": rng.random() * 100.0},
            "seq": {"$integer": _int64(rng.getrandbits(62))},
        }
        size += len(_JSON.encode(doc).encode()) + 1
        docs.append(doc)
    return docs


def _int64(value: int) -> str:
    """The ``$integer`` payload of a Convex int64."""
    return base64.b64encode(value.to_bytes(8, "little", signed=True)).decode("ascii")


def build_frame(key: str, now_ns: int) -> str:
    """The JSON text of shape ``key``; Transitions carry ``serverTs`` = ``now_ns``.

    A current ``serverTs`` keeps the manager's transit-time check
    (docs/manager.md#large-transitions) on its normal path, as with a real server.
    """
    rng = random.Random(SEED)
    ts = 1_716_312_345_678_123_456
    if key == "a":
        wire: dict[str, Any] = {
            "type": "MutationResponse",
            "requestId": 1042,
            "success": True,
            "result": {"_id": "".join(rng.choices(_ID_ALPHABET, k=32)), "likes": 3},
            "ts": encode_u64(ts),
            "logLines": [],
        }
        return _JSON.encode(wire)
    value: Any = 42.0 if key == "a2" else _documents(rng, 100_000)
    wire = {
        "type": "Transition",
        "startVersion": {"querySet": 3, "identity": 0, "ts": encode_u64(ts)},
        "endVersion": {"querySet": 3, "identity": 0, "ts": encode_u64(ts + 1_000)},
        "modifications": [
            {"type": "QueryUpdated", "queryId": 7, "value": value, "logLines": [], "journal": None}
        ],
        "clientClockSkew": 0,
        "serverTs": now_ns,
    }
    return _JSON.encode(wire)


def _check_frame(key: str) -> int:
    """The frame parses as the expected type; returns its size in bytes."""
    text = build_frame(key, time.time_ns())
    message = parse_server_message(text)
    expected = MutationResponse if key == "a" else Transition
    if not isinstance(message, expected):
        raise RuntimeError(f"frame {key} parsed as {type(message).__name__}")
    return len(text.encode())


# --- the server process ------------------------------------------------------------


async def _serve_connection(ws: ServerConnection) -> None:
    """``/send?shape=K&count=N&mode=M[&close=1]`` sends N frames; ``/idle`` sends nothing.

    Modes: ``prefab`` writes pre-framed copies of the frame in batches straight
    to the socket (the fastest a server can be); ``send`` awaits ``ws.send`` per
    frame (``websockets``' own send path). With ``close=1`` the socket is closed
    right after the last frame (for the byte-counting client); otherwise the
    server waits for the client to close.
    """
    request = ws.request
    assert request is not None
    url = urlsplit(request.path)
    query = {name: values[-1] for name, values in parse_qs(url.query).items()}
    if url.path == "/send":
        payload = build_frame(query["shape"], time.time_ns()).encode()
        count = min(int(query["count"]), _MAX_FRAMES)
        if query.get("mode", "prefab") == "prefab":
            wire = frame_header(len(payload)) + payload
            per_batch = max(1, _BATCH_BYTES // len(wire))
            batch = wire * per_batch
            full, rest = divmod(count, per_batch)
            for _ in range(full):
                ws.transport.write(batch)
                await ws.drain()
            ws.transport.write(wire * rest)
            await ws.drain()
        else:
            for _ in range(count):
                await ws.send(payload, text=True)
    await close_or_wait(ws, url.path == "/send" and query.get("close") == "1", _SERVER_WAIT_S)


async def _serve(port: int) -> None:
    """Serve until standard input closes (the parent went away) or the lifetime ends."""
    async with serve(
        _serve_connection,
        _HOST,
        port,
        compression=None,
        ping_interval=None,
        max_size=2**20,
        write_limit=2**20,
        backlog=2048,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {bound}", flush=True)
        await wait_for_stdin_to_close(_SERVER_LIFETIME_S)


def serve_main(port: int = 0) -> int:
    raise_open_file_limit(_NOFILE_WANTED)
    asyncio.run(_serve(port))
    return 0


class ServerProcess:
    """The server, in its own process; stopped by closing its standard input."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(  # noqa: S603 - our own script, our own interpreter
            [sys.executable, str(_SCRIPT), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._read_line(self._proc.stdout.fileno(), timeout=30.0)
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self._proc.pid

    @staticmethod
    def _read_line(fd: int, timeout: float) -> str:
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            data = b""
            deadline = time.monotonic() + timeout
            while not data.endswith(b"\n"):
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    return data.decode()
                chunk = os.read(fd, 256)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def url(self, path: str) -> str:
        return f"ws://{_HOST}:{self.port}{path}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        stop_server(self._proc)


# --- the server's send ceiling: a client that only counts bytes --------------------


def server_ceiling(port: int, shape: str, count: int, mode: str, nbytes: int) -> float:
    """Seconds for the server to deliver ``count`` frames to a client that reads bytes only."""
    with socket.create_connection((_HOST, port), timeout=30.0) as sock:
        target = f"/send?shape={shape}&count={count}&mode={mode}&close=1"
        received = open_raw_websocket(sock, _HOST, port, target)
        buffer = bytearray(4 * 2**20)
        start = time.perf_counter()
        while n := sock.recv_into(buffer):  # until the server closes (bounded by the timeout)
            received += n
        elapsed = time.perf_counter() - start
    if received < count * nbytes:
        raise RuntimeError(f"received only {received:,} bytes of {count} frames")
    return elapsed


# --- the receive-path candidates -------------------------------------------------


class Sink:
    """The ``on_message`` handler: counts messages, times the first to the last."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.first = 0.0
        self.last = 0.0
        self.done = asyncio.get_running_loop().create_future()
        self.handler = self._make_handler()

    def _make_handler(self) -> Callable[[ServerMessage], OnMessageResponse]:
        # A closure, so that raw loops and the manager pay for exactly the same call.
        perf_counter, count, done = time.perf_counter, self.count, self.done

        def handler(message: ServerMessage) -> OnMessageResponse:
            self.seen += 1
            if self.seen == 1:
                self.first = perf_counter()
            elif self.seen == count:
                self.last = perf_counter()
                done.set_result(None)
            return _RESPONSE

        return handler

    @property
    def seconds_per_message(self) -> float:
        return (self.last - self.first) / (self.count - 1)


async def _raw_transport(url: str, sink: Sink) -> None:
    """The raw ceiling: the default transport's connection, the same parser and handler."""
    conn = await WebSocketsTransport(max_message_size=DEFAULT_MAX_MESSAGE_SIZE).connect(url)
    handler, done = sink.handler, sink.done
    try:
        while not done.done():
            data = await conn.recv()
            msg = parse_server_message(data)
            handler(msg)
    finally:
        conn.close()
        await conn.wait_closed()


async def _manager(url: str, sink: Sink) -> None:
    """``WebSocketManager`` on the same transport, ``on_message`` = the same handler."""
    opens: list[object] = []
    manager = WebSocketManager(
        url,
        transport=WebSocketsTransport(max_message_size=DEFAULT_MAX_MESSAGE_SIZE),
        on_open=opens.append,
        on_message=sink.handler,
    )
    try:
        await sink.done
    finally:
        await manager.terminate()
    if len(opens) != 1:
        raise RuntimeError(f"the manager opened {len(opens)} sockets; expected 1")


async def _raw_websockets_bytes(url: str, sink: Sink) -> None:
    """Context: ``websockets``' own connection, frames as bytes (no UTF-8 decode)."""
    handler, done = sink.handler, sink.done
    async with websockets_connect(
        url, max_size=DEFAULT_MAX_MESSAGE_SIZE, ping_interval=None, compression=None
    ) as ws:
        while not done.done():
            data = await ws.recv(decode=False)
            msg = parse_server_message(data)
            handler(msg)


def _aiohttp() -> Any:
    """The ``aiohttp`` module, or ``None`` (it is in the optional ``bench`` extra).

    Imported by name, so that type-checking does not need it installed.
    """
    if importlib.util.find_spec("aiohttp") is None:
        return None
    return importlib.import_module("aiohttp")


async def _raw_aiohttp(url: str, sink: Sink) -> None:
    """Context: the same raw loop on ``aiohttp``'s client WebSocket."""
    aiohttp = _aiohttp()
    text_type = aiohttp.WSMsgType.TEXT
    handler, done = sink.handler, sink.done
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, max_msg_size=DEFAULT_MAX_MESSAGE_SIZE, compress=0) as ws,
    ):
        while not done.done():
            frame = await ws.receive()
            if frame.type is not text_type:
                raise RuntimeError(f"aiohttp received {frame.type}")
            msg = parse_server_message(frame.data)
            handler(msg)


Runner = Callable[[str, Sink], Awaitable[None]]


@dataclass(frozen=True)
class Candidate:
    label: str
    run: Runner


@dataclass
class CpuTiming(Timing):
    """A Timing that also records the client's and the server's CPU share per round."""

    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


async def _one_round(
    cand: Candidate, server: ServerProcess, shape: str, count: int, limit_s: float
) -> tuple[float, float, float]:
    """One fresh connection receiving ``count`` frames: seconds/message and CPU shares."""
    gc.collect()
    sink = Sink(count)
    url = server.url(f"/send?shape={shape}&count={count}&mode=prefab")
    server_cpu, client_cpu, wall = server.cpu_seconds(), time.process_time(), time.perf_counter()
    async with asyncio.timeout(limit_s):
        await cand.run(url, sink)
    wall = time.perf_counter() - wall
    client_cpu = (time.process_time() - client_cpu) / wall
    server_cpu = (server.cpu_seconds() - server_cpu) / wall
    if sink.seen != count:
        raise RuntimeError(f"{cand.label}: {sink.seen} messages, expected {count}")
    return sink.seconds_per_message, client_cpu, server_cpu


async def measure_receive(
    candidates: Sequence[Candidate],
    server: ServerProcess,
    shape: str,
    nbytes: int,
    rounds: int,
    target_s: float,
    max_count: int,
) -> list[CpuTiming]:
    """Interleaved rounds of every candidate on one shape."""
    counts = []
    for cand in candidates:  # warm up, and size a round to about target_s
        probe = max(20, min(2_000, max_count // 10))
        per_message, _, _ = await _one_round(cand, server, shape, probe, 60.0)
        counts.append(max(20, min(max_count, int(target_s / per_message))))
    timings = [CpuTiming(cand.label, nbytes) for cand in candidates]
    for i in interleaved(len(candidates), rounds):
        # Generous, yet a stalled round fails in bounded time.
        limit_s = 60.0 + 20 * target_s
        seconds, client_cpu, server_cpu = await _one_round(
            candidates[i], server, shape, counts[i], limit_s
        )
        timings[i].seconds.append(seconds)
        timings[i].client_cpu.append(client_cpu)
        timings[i].server_cpu.append(server_cpu)
    return timings


# --- idle memory: one subprocess per phase -------------------------------------


MEMORY_KINDS: Final = {
    "raw": "WebSocketsTransport connection",
    "raw+reader": "the same + a task in conn.recv()",
    "manager": "WebSocketManager, own transport",
    "aiohttp+reader": "aiohttp ws_connect + a reader task",
}


def _ignore_message(message: ServerMessage) -> OnMessageResponse:
    """``on_message`` of the idle connections: one function shared by all of them."""
    return _RESPONSE


class _Opens:
    """``on_open`` of the idle managers, shared by all of them: counts the opens."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached: asyncio.Future[None] | None = None

    def __call__(self, metadata: object) -> None:
        self.count += 1
        if self.count >= self.target and self.reached is not None and not self.reached.done():
            self.reached.set_result(None)


class _Idle:
    """Opens and closes one kind of idle connection.

    Everything the benchmark itself passes in (callbacks, the raw transport) is
    shared by all connections, so that only the connections' own memory counts.
    """

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.transport = WebSocketsTransport(max_message_size=DEFAULT_MAX_MESSAGE_SIZE)
        self.connections: list[TransportConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.managers: list[WebSocketManager] = []
        self.aiohttp_session: Any = None
        self.aiohttp_sockets: list[Any] = []
        self.opens = _Opens()

    async def open(self, count: int) -> None:
        """Open ``count`` connections, ``_OPEN_BATCH`` at a time."""
        for start in range(0, count, _OPEN_BATCH):
            batch = min(_OPEN_BATCH, count - start)
            if self.kind == "manager":
                await self._open_managers(batch)
            else:
                await asyncio.gather(*(self._open_one() for _ in range(batch)))

    async def _open_managers(self, batch: int) -> None:
        self.opens.target = self.opens.count + batch
        self.opens.reached = asyncio.get_running_loop().create_future()
        for _ in range(batch):
            self.managers.append(
                WebSocketManager(
                    self.url,
                    # One transport per manager, as the default (transport=None) makes.
                    transport=WebSocketsTransport(max_message_size=DEFAULT_MAX_MESSAGE_SIZE),
                    on_open=self.opens,
                    on_message=_ignore_message,
                )
            )
        await self.opens.reached
        self.opens.reached = None

    async def _open_one(self) -> None:
        if self.kind == "aiohttp+reader":
            if self.aiohttp_session is None:
                aiohttp = _aiohttp()
                self.aiohttp_session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0)
                )
            ws = await self.aiohttp_session.ws_connect(
                self.url, max_msg_size=DEFAULT_MAX_MESSAGE_SIZE, compress=0
            )
            self.aiohttp_sockets.append(ws)
            self.readers.append(asyncio.get_running_loop().create_task(_aiohttp_reader(ws)))
        else:
            conn = await self.transport.connect(self.url)
            self.connections.append(conn)
            if self.kind == "raw+reader":
                self.readers.append(asyncio.get_running_loop().create_task(_raw_reader(conn)))

    async def close(self) -> None:
        for manager in self.managers:
            await manager.terminate()
        for conn in self.connections:
            conn.close()
        for ws in self.aiohttp_sockets:
            await ws.close()
        for conn in self.connections:
            await conn.wait_closed()
        if self.readers:
            await asyncio.wait(self.readers)
        if self.aiohttp_session is not None:
            await self.aiohttp_session.close()


async def _raw_reader(conn: TransportConnection) -> None:
    """The raw loop, waiting for a frame that never comes (until the close)."""
    try:
        while True:
            data = await conn.recv()
            msg = parse_server_message(data)
            _ignore_message(msg)
    except ConnectionClosedError:
        return


async def _aiohttp_reader(ws: Any) -> None:
    async for frame in ws:
        msg = parse_server_message(frame.data)
        _ignore_message(msg)


async def _memory_phase(kind: str, url: str, count: int, traced: bool) -> dict[str, Any]:
    """Open ``count`` idle connections of ``kind``; the growth per connection."""
    async with asyncio.timeout(60.0 + count * 0.1):
        warm = _Idle(kind, url)  # lazy imports, caches, the allocator's first arenas
        await warm.open(min(count, 20))
        await warm.close()
        del warm
        idle = _Idle(kind, url)
        gc.collect()
        if traced:
            tracemalloc.start()
        before_rss, before_traced = rss_bytes(), tracemalloc.get_traced_memory()[0]
        await idle.open(count)
        await asyncio.sleep(0.2)  # let the handshakes' last callbacks run
        gc.collect()
        after_rss, after_traced = rss_bytes(), tracemalloc.get_traced_memory()[0]
        if traced:
            tracemalloc.stop()
        await idle.close()
    return {
        "kind": kind,
        "count": count,
        "rss_per_connection": (after_rss - before_rss) / count,
        "traced_per_connection": (after_traced - before_traced) / count if traced else None,
    }


def memory_phase_main(kind: str, url: str, count: int, traced: bool) -> int:
    raise_open_file_limit(_NOFILE_WANTED)
    result = asyncio.run(_memory_phase(kind, url, count, traced))
    print(json.dumps(result), flush=True)
    return 0


def run_memory_phase(server: ServerProcess, kind: str, count: int, traced: bool) -> dict[str, Any]:
    """One phase in a fresh interpreter; its JSON result."""
    args = [sys.executable, str(_SCRIPT), "--memory-phase", kind, "--url", server.url("/idle")]
    args += ["--count", str(count)] + (["--traced"] if traced else [])
    proc = subprocess.run(  # noqa: S603 - our own script, our own interpreter
        args, capture_output=True, text=True, timeout=120.0 + count * 0.2, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory phase {kind} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- report --------------------------------------------------------------------


def _machine() -> str:
    aiohttp = _aiohttp()
    return machine_text(
        f"websockets {websockets_version}, msgspec {msgspec.__version__}, "
        f"aiohttp {aiohttp.__version__ if aiohttp else 'not installed'}",
        load_average(),
    )


@dataclass
class _ShapeResult:
    shape: Shape
    nbytes: int
    timings: list[CpuTiming]
    ceiling: dict[str, float]  # mode -> msgs/s the server delivers to a byte counter

    @property
    def name(self) -> str:
        return f"({self.shape.key}) {size_text(self.nbytes)}"


def _print_receive(results: Sequence[_ShapeResult]) -> None:
    header = ("shape", "candidate", "µs/msg", "msgs/s", "MB/s", "vs raw", "paired", "client CPU")
    lines = [
        (
            r.name,
            t.label,
            f"{t.best * 1e6:,.2f}",
            f"{t.msgs_per_s:,.0f}",
            f"{t.mb_per_s:,.1f}",
            f"{t.ratio_to(r.timings[0]):.2f}x",
            f"{t.paired_ratio_to(r.timings[0]):.2f}x",
            f"{statistics.median(t.client_cpu):.0%}",
            f"{statistics.median(t.server_cpu):.0%}",
        )
        for r in results
        for t in r.timings
    ]
    print_rows((*header, "server CPU"), lines)


def _print_ceiling(results: Sequence[_ShapeResult]) -> None:
    header = ("shape", "server send path", "msgs/s", "MB/s", "vs raw loop")
    lines = [
        (
            r.name,
            "pre-framed batches (used)" if mode == "prefab" else "await ws.send per frame",
            f"{rate:,.0f}",
            f"{rate * r.nbytes / 1e6:,.1f}",
            f"{rate / r.timings[0].msgs_per_s:.1f}x",
        )
        for r in results
        for mode, rate in r.ceiling.items()
    ]
    print_rows(header, lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; the exit status is 0 unless it crashes."""
    parser = argparse.ArgumentParser(description="Manager receive path and idle memory.")
    parser.add_argument(
        "--quick", action="store_true", help="tiny counts, to check the script runs"
    )
    parser.add_argument("--connections", type=int, default=1_000, help="for the memory test")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-phase", choices=tuple(MEMORY_KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve_main()
    if args.memory_phase:
        return memory_phase_main(args.memory_phase, args.url, args.count, args.traced)
    gc_was_enabled = gc.isenabled()
    gc.enable()  # normal operation; restored on the way out
    server = ServerProcess()
    try:
        _run_all(server, args.quick, 20 if args.quick else args.connections)
    finally:
        server.stop()
        if not gc_was_enabled:
            gc.disable()
    return 0


def _run_all(server: ServerProcess, quick: bool, connections: int) -> None:
    started = time.perf_counter()
    quick_note = " (QUICK: the figures mean nothing)" if quick else ""
    print(f"# syncwire manager benchmark{quick_note}")
    print(_machine())
    print(f"server: pid {server.pid}, port {server.port}, compression off, separate process")
    candidates = [
        Candidate("raw WebSocketsTransport", _raw_transport),
        Candidate("WebSocketManager", _manager),
        Candidate("raw websockets, bytes", _raw_websockets_bytes),
    ]
    if _aiohttp() is not None:
        candidates.append(Candidate("raw aiohttp", _raw_aiohttp))
    rounds = 2 if quick else 7
    target_s = 0.02 if quick else 0.5

    results: list[_ShapeResult] = []
    for shape in SHAPES:
        nbytes = _check_frame(shape.key)
        max_count = 200 if quick else (400_000 if nbytes < 10_000 else 20_000)
        ceiling: dict[str, float] = {}
        for mode in ("prefab", "send"):
            frames = max_count * (2 if mode == "prefab" else 1) // (1 if quick else 4)
            runs = [server_ceiling(server.port, shape.key, frames, mode, nbytes) for _ in range(3)]
            ceiling[mode] = frames / min(runs)
        timings = asyncio.run(
            measure_receive(candidates, server, shape.key, nbytes, rounds, target_s, max_count)
        )
        results.append(_ShapeResult(shape, nbytes, timings, ceiling))

    print("\n## Receive path: frames in -> typed message -> on_message (GC enabled)\n")
    print("(best of the rounds; 'paired' is the median of the per-round ratios to the raw")
    print("loop; CPU is the median share of one core during a round, handshake included)\n")
    _print_receive(results)
    print("\n## The server's own send ceiling (a client that only counts bytes)\n")
    _print_ceiling(results)

    print(f"\n## Idle memory per connection, {connections:,} connections, ws:// on loopback\n")
    kinds = [k for k in MEMORY_KINDS if k != "aiohttp+reader" or _aiohttp() is not None]
    memory = {
        kind: (
            run_memory_phase(server, kind, connections, traced=False),
            run_memory_phase(server, kind, connections, traced=True),
        )
        for kind in kinds
    }
    # At least one byte: in --quick mode a few connections may not move RSS at all.
    raw_rss = max(1.0, memory["raw"][0]["rss_per_connection"])
    raw_traced = max(1.0, memory["raw"][1]["traced_per_connection"])
    reader_rss = max(1.0, memory["raw+reader"][0]["rss_per_connection"])
    reader_traced = max(1.0, memory["raw+reader"][1]["traced_per_connection"])
    header = ("candidate", "what", "RSS KB/conn", "vs raw", "tracemalloc KB/conn", "vs raw")
    lines = [
        (
            kind,
            MEMORY_KINDS[kind],
            f"{rss['rss_per_connection'] / 1024:.1f}",
            f"{rss['rss_per_connection'] / raw_rss:.2f}x",
            f"{traced['traced_per_connection'] / 1024:.1f}",
            f"{traced['traced_per_connection'] / raw_traced:.2f}x",
        )
        for kind, (rss, traced) in memory.items()
    ]
    print_rows(header, lines)

    print("\n## Goals\n")
    for r in results:
        raw, manager = r.timings[0], r.timings[1]
        ratio, paired = manager.ratio_to(raw), manager.paired_ratio_to(raw)
        verdict = "PASS" if min(ratio, paired) >= r.shape.goal else "FAIL"
        print(
            f"{verdict} ({r.shape.key}) {r.shape.title} {size_text(r.nbytes)}: manager/raw "
            f"{ratio:.3f}x (paired {paired:.3f}x), goal >= {r.shape.goal:g}x"
        )
    manager_rss = memory["manager"][0]["rss_per_connection"]
    manager_traced = memory["manager"][1]["traced_per_connection"]
    worst = max(manager_rss / raw_rss, manager_traced / raw_traced)
    print(
        f"{'PASS' if worst <= MEMORY_GOAL else 'FAIL'} (mem) idle manager/raw connection: "
        f"RSS {manager_rss / raw_rss:.2f}x, tracemalloc {manager_traced / raw_traced:.2f}x, "
        f"goal <= {MEMORY_GOAL:g}x (against raw + reader task: RSS "
        f"{manager_rss / reader_rss:.2f}x, tracemalloc {manager_traced / reader_traced:.2f}x)"
    )
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
