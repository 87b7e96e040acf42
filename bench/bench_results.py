"""Large results and many subscriptions: syncwire against both official clients.

Run it with ``make bench`` (or ``.venv/bin/python bench/bench_results.py``).
``--quick`` runs tiny sizes and counts, to check that the script still works
(its figures mean nothing).

Three clients, side by side in the same run: ``syncwire.Client``, the official
Python client (PyPI ``convex``, Rust inside; it holds the GIL while it blocks)
and the official JS client (npm ``convex``, ``ConvexClient`` from
``convex/browser``, on Node: ``bench/official_js.mjs``). Every client run is a
fresh process of its own (this file with a hidden role option, or Node), so
each one's peak memory is its own and no two share a GIL.

**The server** is a push server (``--serve``, its own process) that speaks just
enough of the protocol, so that no query runs in the figures: it reads
``Connect`` and answers every ``ModifyQuerySet`` at once with one Transition
(versions chained, integer ``serverTs``, ``clientClockSkew``) carrying a value
for each query the message adds (and a ``QueryRemoved`` for each it removes):

* ``bench:warm {}``: ``null``. Every client subscribes to it first and waits
  for its value, so the connection is open and warm before anything is timed.
* ``bench:big {bytes: B, n}``: ``{"bytes": B, "docs": [...]}``, seeded
  chat-like documents whose JSON adds up to about ``B`` bytes, encoded once when
  the server starts. The frame is sent as it is, in one WebSocket frame
  (uncompressed: the server refuses permessage-deflate), written as
  header + prefix + the prebuilt value + suffix, so the server's cost per send
  is the same small copy for every client.
* ``bench:item {i}``: ``{"i": i, "body": …}``, about 60 bytes.

The server matches paths as the backend does (``canonicalize_udf_path``): the
official Python client re-subscribes as ``bench.js:big`` after a reconnect.

**What is timed**, the same way for all three, on the client's own clock:
from the application's subscribe call (``client.subscribe(…)`` for syncwire and
the official Python client, ``client.onUpdate(…)`` for JS) to the value in the
application's hands (``await sub.next()`` returned; ``next(subscription)``
returned; the ``onUpdate`` callback ran). That is: the client encodes and sends
the ``ModifyQuerySet``, the server answers with the prebuilt frame, the client
receives, decodes and delivers it. Timing from the client's side needs no
clock shared with the server; the server's part is the same for every client.

* **Large results** (100 KB, 5 MB, 20 MB): one client process per size and
  round; it subscribes to ``bench:big`` and waits for the value (a 100 KB
  process does it ``Plan.repeats_small`` times with fresh args, unsubscribing
  after each; the larger ones once). **Peak memory** is the process's VmHWM from
  ``/proc/self/status`` once the value is in hand (the whole process's high
  water mark, interpreter or Node included: the "at rest" row gives each
  client's VmRSS once connected, before the work).
* **Subscriptions at scale** (1,000 and 10,000): one client subscribes to
  ``bench:item`` with ``i`` = 0 … N-1, one call after the other, and waits
  until it has every first value (syncwire: ``await sub.next()`` on each in
  turn; official Python: ``next()`` on each in turn; JS: the N-th distinct
  first callback). **Memory per subscription** is (VmRSS with every first value
  in hand − VmRSS before the first subscribe) / N, garbage not yet collected
  included; the peak is VmHWM.

Each client process prints ``START`` when its warm-up value is in hand; from
then on the parent gives it a **cap** (``Plan.large_cap`` /
``Plan.subs_cap``) and kills it if the work is not done by then. A client
that does not finish is not run again on that row: its cell says what happened
("fails: …", with how often the server sent the frame and how the client closed
the connection, or "> 60 s" with how many first values it had). The official
Python client cannot receive a frame over 16 MiB (its WebSocket refuses it and
reconnects, again and again): the 20 MB row shows that. The official clients
get one run (not ``rounds``) at 10,000 subscriptions, and none if 1,000 already
went over the cap.

Rounds are interleaved: in each round every row runs each client, in the order
syncwire, Python, JS, then JS, Python, syncwire in the next round. A cell is
the median over the rounds (the 100 KB row: over every sample), then min–max.
Goals: the 20 MB result no slower than the official JS client and with a peak
no higher; the 5 MB result at least 2x faster than the official Python client;
10,000 subscriptions within 1 s (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import os
import re
import resource
import selectors
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version
from pathlib import Path
from typing import Any
from typing import Final

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.http11 import Response
from websockets.protocol import State

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _harness, beside us
from _harness import LineReader
from _harness import chat_documents
from _harness import frame_header
from _harness import interleaved
from _harness import load_average
from _harness import machine_text
from _harness import print_rows
from _harness import stop_server
from _harness import transport_text
from _harness import wait_for_stdin_to_close
from syncwire.protocol import Connect
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import canonicalize_udf_path
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message

_SCRIPT: Final = Path(__file__).resolve()
ROOT: Final = _SCRIPT.parents[1]
JS_ROLE: Final = _SCRIPT.with_name("official_js.mjs")
_HOST: Final = "127.0.0.1"
WARM: Final = "bench:warm"
BIG: Final = "bench:big"
ITEM: Final = "bench:item"
BODY: Final = "the quick brown fox jumps over the lazy dog"

SPEEDUP_GOAL: Final = 2.0
"""The 5 MB result: syncwire at least this many times faster than the official Python client."""
SUBSCRIPTIONS_GOAL_S: Final = 1.0
"""10,000 subscriptions: every first value in hand within this long."""

_SERVER_LIFETIME_S: Final = 3600.0
"""The server process exits by itself after this long, whatever happens."""
_CONNECTION_S: Final = 900.0
"""One connection to the server lasts at most this long."""
_SERVER_START_S: Final = 120.0
"""The server encodes every large value before it listens: it has this long."""
_CLIENT_START_S: Final = 60.0
"""A client process has this long to start, connect and get its warm-up value."""
_DRAIN_S: Final = 15.0
"""After a client process ends, the server reports its connections closed within this."""
_QUIET_S: Final = 0.3
"""Once every connection it opened closed, the server is quiet this long: that was all."""
_STDERR_KEEP: Final = 16_384
"""The last this many bytes of a client's stderr are kept (for a failure's reason)."""
_FLUSH_BYTES: Final = 4 * 2**20
"""The server waits for the socket to drain past this many buffered bytes."""


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]  # bytes of each large result, smallest first
    counts: tuple[int, ...]  # subscriptions, fewest first
    rounds: int
    repeats_small: int  # samples per process for a result under 1 MB
    large_cap: float  # seconds from START for a large-result run
    subs_cap: float  # seconds from START for a subscriptions run


FULL: Final = Plan(
    sizes=(100_000, 5_000_000, 20_000_000),
    counts=(1_000, 10_000),
    rounds=3,
    repeats_small=10,
    large_cap=30.0,
    subs_cap=60.0,
)
QUICK: Final = Plan(
    sizes=(5_000, 20_000, 80_000),
    counts=(20, 200),
    rounds=1,
    repeats_small=2,
    large_cap=30.0,
    subs_cap=30.0,
)
_SMALL: Final = 1_000_000
"""A result under this many bytes is timed ``repeats_small`` times per process."""


def big_value(size: int) -> bytes:
    """``bench:big``'s value for ``size``, as JSON."""
    return msgspec.json.encode({"bytes": float(size), "docs": chat_documents(size)})


# --- the push server (its own process) -----------------------------------------------------

_SYNC_PATH: Final = re.compile(r"/api/(?:[^/]+/)?sync")
_PLACEHOLDER: Final = "\u2063bench value\u2063"
"""Stands for a large value while its Transition is encoded; then replaced by the bytes."""
_PLACEHOLDER_JSON: Final = msgspec.json.encode(_PLACEHOLDER)


def _check_sync_path(connection: ServerConnection, request: Request) -> Response | None:
    if _SYNC_PATH.fullmatch(request.path.partition("?")[0]) is None:
        return connection.respond(404, "Not Found\n")
    return None


def _number(args: Any, key: str) -> float:
    value = args.get(key) if isinstance(args, Mapping) else None
    if not isinstance(value, int | float):
        raise ValueError(f"the query needs a number {key!r}: {args!r}")
    return float(value)


class _Connection:
    """One client's query set: each ModifyQuerySet answered by one Transition."""

    def __init__(self, values: dict[int, bytes]) -> None:
        self.values = values
        self.version = StateVersion(query_set=0, identity=0, ts=0)
        self.ts = time.time_ns()
        self.skew: int | None = None
        self.big_sent = 0
        self.answered = 0  # ModifyQuerySets
        self.reason = "-"  # the lastCloseReason its Connect gave

    def answer(self, message: ModifyQuerySet) -> list[bytes]:
        """The Transition to ``message.new_version``: header, then the payload's pieces."""
        big: bytes | None = None
        mods: list[QueryUpdated | QueryRemoved] = []
        for mod in message.modifications:
            if not isinstance(mod, QueryAdd):
                mods.append(QueryRemoved(query_id=mod.query_id))
                continue
            value: JSONValue = None
            path = canonicalize_udf_path(mod.udf_path)  # a reconnecting client sends "bench.js:big"
            if path == BIG:
                if big is not None:
                    raise ValueError("one bench:big per ModifyQuerySet")
                big = self.values[int(_number(mod.args, "bytes"))]
                value = _PLACEHOLDER
            elif path == ITEM:
                value = {"i": _number(mod.args, "i"), "body": BODY}
            mods.append(
                QueryUpdated(query_id=mod.query_id, value=value, log_lines=(), journal=None)
            )
        self.ts += 1_000
        end = StateVersion(query_set=message.new_version, identity=0, ts=self.ts)
        transition = Transition(
            start_version=self.version,
            end_version=end,
            modifications=tuple(mods),
            client_clock_skew=self.skew,
            server_ts=self.ts,  # an integer: the official Python client rejects a float
        )
        self.version = end
        self.answered += 1
        payload = encode_server_message(transition).encode()
        if big is None:
            return [frame_header(len(payload)), payload]
        head, found, tail = payload.partition(_PLACEHOLDER_JSON)
        assert found
        self.big_sent += 1
        return [frame_header(len(head) + len(big) + len(tail)), head, big, tail]


class _Push:
    def __init__(self, values: dict[int, bytes]) -> None:
        self.values = values

    async def __call__(self, ws: ServerConnection) -> None:
        """One connection; reports ``OPEN``, then ``CLOSED <cpu s> <big sent> <close code>
        <lastCloseReason> <ModifyQuerySets answered>``."""
        print("OPEN", flush=True)
        cpu0 = time.process_time()
        state = _Connection(self.values)
        try:
            async with asyncio.timeout(_CONNECTION_S):
                async for frame in ws:
                    try:
                        message = parse_client_message(frame)
                    except Exception:  # noqa: S112 - a message this server does not need
                        continue
                    if isinstance(message, Connect):
                        state.skew = message.client_ts - time.time_ns() // 1_000_000
                        state.reason = "".join((message.last_close_reason or "-").split())
                    elif isinstance(message, ModifyQuerySet):
                        if ws.state is not State.OPEN:  # the client is leaving: no answer
                            break
                        ws.transport.writelines(state.answer(message))
                        if ws.transport.get_write_buffer_size() > _FLUSH_BYTES:
                            await ws.drain()
        except (ConnectionClosed, ConnectionError):
            pass  # a client process that exits without a close frame, or drops the connection
        except Exception as exc:
            print(f"ERROR {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            ws.transport.abort()
            code = ws.close_code if ws.close_code is not None else 1006
            cpu = time.process_time() - cpu0
            closed = f"{cpu:.6f} {state.big_sent} {code} {state.reason} {state.answered}"
            print(f"CLOSED {closed}", flush=True)


async def _serve(sizes: Sequence[int]) -> None:
    values = {size: big_value(size) for size in sizes}
    async with serve(
        _Push(values),
        _HOST,
        0,
        process_request=_check_sync_path,
        compression=None,
        ping_interval=None,
        max_size=2**20,
        write_limit=2**22,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        sizes_text = " ".join(f"{size}:{len(value)}" for size, value in values.items())
        print(f"PORT {port} {sizes_text}", flush=True)
        await wait_for_stdin_to_close(_SERVER_LIFETIME_S)


def serve_main(sizes: Sequence[int]) -> int:
    # A client process that exits at once leaves the server writing to a reset socket:
    # expected here, so asyncio's "socket.send() raised exception." warnings are not shown.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    asyncio.run(_serve(sizes))
    return 0


@dataclass(frozen=True)
class Connection:
    """One connection to the push server, as it reported it when it closed."""

    cpu_s: float  # the server's CPU time while it was open
    big_sent: int  # large frames sent on it
    close_code: int  # 1006: closed without a close frame
    reason: str  # the lastCloseReason of the client's Connect ("-": none)
    answered: int  # ModifyQuerySets received (each answered by one Transition)


class ServerProcess:
    """The push server in its own process; stopped by closing its stdin."""

    def __init__(self, sizes: Sequence[int]) -> None:
        sizes_arg = ",".join(str(size) for size in sizes)
        self._proc = subprocess.Popen(  # noqa: S603 - our own script, our own interpreter
            [sys.executable, str(_SCRIPT), "--serve", sizes_arg],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        self._lines = LineReader(self._proc.stdout.fileno())
        line = self.read_line(timeout=_SERVER_START_S)
        if line is None or not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the server did not start: {line!r}")
        port, *pairs = line.split()[1:]
        self.port = int(port)
        self.value_bytes = {int(a): int(b) for a, _, b in (p.partition(":") for p in pairs)}
        self.pid = self._proc.pid

    def read_line(self, timeout: float) -> str | None:
        """The next line the server printed, or ``None`` after ``timeout`` seconds."""
        return self._lines.read_line(timeout)

    def connections(self) -> list[Connection]:
        """Once a client process has ended: what its connections reported.

        Reads until as many connections closed as opened and the server is quiet
        (``_DRAIN_S`` at the most): every ``OPEN`` was printed while the client lived.
        """
        opened, closed = 0, list[Connection]()
        deadline = time.monotonic() + _DRAIN_S
        while True:
            wait = max(0.0, deadline - time.monotonic())
            if opened and len(closed) >= opened:
                wait = min(wait, _QUIET_S)
            line = self.read_line(wait)
            if line is None:
                break
            if line == "OPEN":
                opened += 1
            elif line.startswith("CLOSED "):
                cpu, big, code, reason, answered = line.split()[1:]
                closed.append(Connection(float(cpu), int(big), int(code), reason, int(answered)))
        return closed

    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    def stop(self) -> None:
        stop_server(self._proc)


# --- the Python client roles (each in its own process) -------------------------------------


def _status_mib(name: str) -> float | None:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``) in MiB; ``None`` off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            text = status.read()
    except OSError:
        if name == "VmHWM":  # ru_maxrss is the same high-water mark, in KiB on Linux
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return None
    found = re.search(rf"^{name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def _started() -> float | None:
    """Tell the parent the timed work begins (its cap starts now); VmRSS at rest."""
    print("START", flush=True)
    return _status_mib("VmRSS")


def _progress(done: int, count: int, started: float, what: str = "PROGRESS") -> None:
    """Every tenth of ``count``: ``PROGRESS`` (first values in hand) or ``SUBSCRIBED``."""
    if done % max(1, count // 10) == 0:
        print(f"{what} {done} {time.perf_counter() - started:.3f}", flush=True)


def _check_big(value: Any, size: int) -> None:
    if not isinstance(value, dict) or value.get("bytes") != size or not value.get("docs"):
        raise RuntimeError(f"unexpected value for {size} bytes: {str(value)[:200]}")


def _check_item(value: Any, i: int) -> None:
    if not isinstance(value, dict) or value.get("i") != i:
        raise RuntimeError(f"unexpected value for item {i}: {value!r}")


def _large_result(ms: list[float], before: float | None) -> dict[str, Any]:
    return {"ms": ms, "rss_before_mib": before, "peak_mib": _status_mib("VmHWM")}


def _subs_result(seconds: float, before: float | None) -> dict[str, Any]:
    return {
        "ms": [seconds * 1e3],
        "rss_before_mib": before,
        "rss_after_mib": _status_mib("VmRSS"),
        "peak_mib": _status_mib("VmHWM"),
    }


async def role_syncwire_large(url: str, size: int, repeats: int) -> dict[str, Any]:
    from syncwire import Client

    async with Client(url) as client:
        warm = client.subscribe(WARM, {})
        await warm.next()
        before = _started()
        ms: list[float] = []
        for n in range(repeats):
            started = time.perf_counter()
            sub = client.subscribe(BIG, {"bytes": float(size), "n": float(n)})
            value = await sub.next()
            ms.append((time.perf_counter() - started) * 1e3)
            _check_big(value, size)
            del value
            sub.unsubscribe()
        result = _large_result(ms, before)
        warm.unsubscribe()
    return result


async def role_syncwire_subs(url: str, count: int) -> dict[str, Any]:
    from syncwire import Client

    async with Client(url) as client:
        warm = client.subscribe(WARM, {})
        await warm.next()
        before = _started()
        started = time.perf_counter()
        subs = [client.subscribe(ITEM, {"i": float(i)}) for i in range(count)]
        for i, sub in enumerate(subs):
            _check_item(await sub.next(), i)
            _progress(i + 1, count, started)
        result = _subs_result(time.perf_counter() - started, before)
        del subs, warm  # closing the client ends them all
    return result


def role_official_large(url: str, size: int, repeats: int) -> dict[str, Any]:
    """The official client's blocking iterator (bounded by the parent's cap)."""
    from convex import ConvexClient

    client = ConvexClient(url)
    warm = client.subscribe(WARM, {})
    next(warm)
    before = _started()
    ms: list[float] = []
    for n in range(repeats):
        started = time.perf_counter()
        sub = client.subscribe(BIG, {"bytes": float(size), "n": float(n)})
        value = next(sub)
        ms.append((time.perf_counter() - started) * 1e3)
        _check_big(value, size)
        del value
        sub.unsubscribe()
    return _large_result(ms, before)


def role_official_subs(url: str, count: int) -> dict[str, Any]:
    from convex import ConvexClient

    client = ConvexClient(url)
    warm = client.subscribe(WARM, {})
    next(warm)
    before = _started()
    started = time.perf_counter()
    subs = []
    for i in range(count):  # each call blocks: the parent's cap may end the process here
        subs.append(client.subscribe(ITEM, {"i": float(i)}))
        _progress(i + 1, count, started, "SUBSCRIBED")
    for i, sub in enumerate(subs):
        _check_item(next(sub), i)
        _progress(i + 1, count, started)
    # Dropping a subscription unsubscribes it: these stay alive until the process exits.
    return _subs_result(time.perf_counter() - started, before)


def role_main(args: argparse.Namespace) -> int:
    """A client process: run ``args.role``, print ``RESULT <json>``."""
    # Exits the process even when a blocking call holds the GIL (the official client's do).
    faulthandler.dump_traceback_later(args.backstop, exit=True)
    role, url, amount = args.role, args.url, args.amount
    if role == "large-syncwire":
        result = asyncio.run(role_syncwire_large(url, amount, args.repeats))
    elif role == "subs-syncwire":
        result = asyncio.run(role_syncwire_subs(url, amount))
    elif role == "large-python":
        result = role_official_large(url, amount, args.repeats)
    elif role == "subs-python":
        result = role_official_subs(url, amount)
    else:
        raise ValueError(f"unknown role {role!r}")
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    # The official client's Rust threads do not stop on their own.
    os._exit(0)


# --- running a client process ---------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    key: str  # the role's suffix: syncwire, python, js
    label: str


CLIENTS: Final = (
    Contender("syncwire", "syncwire"),
    Contender("python", "official Python"),
    Contender("js", "official JS"),
)


@dataclass
class Outcome:
    """What one client process did."""

    result: dict[str, Any] | None  # its RESULT, if it finished
    capped: bool  # killed: the cap after START ran out
    status: int | None
    in_hand: int  # first values in hand at its last PROGRESS line
    subscribed: int  # subscribe calls returned at its last SUBSCRIBED line
    stderr: str


def _command(
    client: Contender, mode: str, url: str, amount: int, repeats: int, backstop: float
) -> list[str]:
    if client.key == "js":
        node = shutil.which("node") or "node"
        return [node, str(JS_ROLE), mode, url, str(amount), str(repeats), f"{backstop:g}"]
    return [
        sys.executable,
        str(_SCRIPT),
        "--role",
        f"{mode}-{client.key}",
        "--url",
        url,
        "--amount",
        str(amount),
        "--repeats",
        str(repeats),
        "--backstop",
        f"{backstop:g}",
    ]


def run_client(command: Sequence[str], cap: float) -> Outcome:
    """Run one client process: ``_CLIENT_START_S`` to print ``START``, then ``cap``
    seconds to print its ``RESULT``; killed if either runs out."""
    result: dict[str, Any] | None = None
    in_hand, subscribed, capped = 0, 0, False
    stderr = bytearray()
    with subprocess.Popen(  # noqa: S603 - our own script, or node with ours
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        pending = b""
        deadline = time.monotonic() + _CLIENT_START_S
        started = False
        with selectors.DefaultSelector() as sel:
            sel.register(out_fd, selectors.EVENT_READ)
            sel.register(err_fd, selectors.EVENT_READ)
            while sel.get_map():
                remaining = deadline - time.monotonic()
                ready = sel.select(remaining) if remaining > 0 else []
                if not ready:
                    capped = started
                    proc.kill()
                    break
                for key, _ in ready:
                    chunk = os.read(key.fd, 65_536)
                    if not chunk:
                        sel.unregister(key.fd)
                    elif key.fd == err_fd:
                        stderr += chunk
                        del stderr[:-_STDERR_KEEP]
                    else:
                        *lines, pending = (pending + chunk).split(b"\n")
                        for line in lines:
                            if line == b"START" and not started:
                                started, deadline = True, time.monotonic() + cap
                            elif line.startswith(b"PROGRESS "):
                                in_hand = int(line.split()[1])
                            elif line.startswith(b"SUBSCRIBED "):
                                subscribed = int(line.split()[1])
                            elif line.startswith(b"RESULT "):
                                result = json.loads(line.removeprefix(b"RESULT "))
        try:
            status = proc.wait(timeout=15.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait(timeout=15.0)
    return Outcome(result, capped, status, in_hand, subscribed, stderr.decode(errors="replace"))


# --- the parent: rounds, tables, goals ------------------------------------------------------


@dataclass
class Cell:
    """One client on one row: every sample, or why there are none."""

    ms: list[float] = field(default_factory=list)
    round_ms: list[float] = field(default_factory=list)  # per process: the median of its samples
    peak_mib: list[float] = field(default_factory=list)
    rest_mib: list[float] = field(default_factory=list)  # VmRSS before the work
    per_sub_kib: list[float] = field(default_factory=list)
    server_cpu_ms: list[float] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)  # ModifyQuerySets the server answered
    failure: str | None = None  # set: the client is not run on this row again
    note: str | None = None  # set: not run at all (unavailable, skipped)

    @property
    def done(self) -> bool:
        return self.failure is not None or self.note is not None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms)

    @property
    def median_peak(self) -> float | None:
        return statistics.median(self.peak_mib) if self.peak_mib else None


def _unavailable() -> dict[str, str]:
    """Why a client cannot run here, by key (absent: it can)."""
    reasons = {}
    try:
        version("convex")
    except PackageNotFoundError:
        reasons["python"] = "not installed (PyPI `convex`)"
    if shutil.which("node") is None:
        reasons["js"] = "not run: `node` is not on PATH"
    elif not (ROOT / "node_modules" / "convex" / "package.json").is_file():
        reasons["js"] = "not run: node_modules/convex is missing (`npm ci`)"
    return reasons


def _npm_convex_version() -> str:
    package = ROOT / "node_modules" / "convex" / "package.json"
    try:
        found: str = json.loads(package.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return "not installed"
    return found


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "none"
    try:
        done = subprocess.run(  # noqa: S603 - node's own version
            [node, "--version"], capture_output=True, text=True, timeout=30.0, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _machine() -> str:
    try:
        official = version("convex")
    except PackageNotFoundError:
        official = "not installed"
    return machine_text(
        f"syncwire {version('syncwire')}, PyPI convex {official}, npm convex "
        f"{_npm_convex_version()}, Node {_node_version()}, websockets {version('websockets')}, "
        f"{transport_text()}",
        load_average(),
    )


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n:,} times"


def _failure_text(outcome: Outcome, cap: float, connections: Sequence[Connection]) -> str:
    sent = sum(c.big_sent for c in connections)
    codes = ", ".join(sorted({str(c.close_code) for c in connections}))
    what = (
        f"the server sent the frame {_times(sent)} on {len(connections)} "
        f"connection{'' if len(connections) == 1 else 's'}, closed {codes}"
    )
    reasons = sorted({c.reason for c in connections[1:]})
    if reasons:
        what += f"; the client reconnected ({', '.join(reasons)})"
    if outcome.capped:
        return f"fails: no value in {cap:g} s; {what}"
    tail = outcome.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
    return f"fails: exit status {outcome.status} ({what}): {tail[0][:160]}"


def run_cell(
    server: ServerProcess,
    cell: Cell,
    client: Contender,
    mode: str,
    amount: int,
    repeats: int,
    cap: float,
) -> str:
    """One client process on one row; its figures go into ``cell``. A line for the log."""
    backstop = _CLIENT_START_S + cap + 30.0
    outcome = run_client(_command(client, mode, server.url(), amount, repeats, backstop), cap)
    connections = server.connections()
    result = outcome.result
    if result is None:
        if outcome.capped and mode == "subs":
            cell.failure = f"> {cap:g} s ({outcome.in_hand:,} of {amount:,} in hand"
            if outcome.subscribed and outcome.subscribed < amount:
                cell.failure += f"; subscribe() had returned {outcome.subscribed:,} times"
            cell.failure += ")"
        else:
            cell.failure = _failure_text(outcome, cap, connections)
        return cell.failure
    ms = [float(x) for x in result["ms"]]
    cell.ms.extend(ms)
    cell.round_ms.append(statistics.median(ms))
    if result.get("peak_mib") is not None:
        cell.peak_mib.append(float(result["peak_mib"]))
    before = result.get("rss_before_mib")
    if before is not None:
        cell.rest_mib.append(float(before))
        after = result.get("rss_after_mib")
        if after is not None:
            cell.per_sub_kib.append((float(after) - float(before)) * 1024 / amount)
    cell.server_cpu_ms.append(sum(c.cpu_s for c in connections) * 1e3)
    cell.answered.append(sum(c.answered for c in connections))
    peak = cell.peak_mib[-1] if cell.peak_mib else float("nan")
    return f"{statistics.median(ms):,.1f} ms, peak {peak:.0f} MiB"


Table = dict[tuple[int, str], Cell]
"""A section's cells, by (row amount, client key)."""


def measure(
    server: ServerProcess,
    plan: Plan,
    mode: str,
    amounts: Sequence[int],
    unavailable: dict[str, str],
) -> Table:
    cells: Table = {(a, c.key): Cell(note=unavailable.get(c.key)) for a in amounts for c in CLIENTS}
    cap = plan.large_cap if mode == "large" else plan.subs_cap
    order = interleaved(len(CLIENTS), plan.rounds)
    for round_no in range(plan.rounds):
        for amount in amounts:
            for index in order[round_no * len(CLIENTS) : (round_no + 1) * len(CLIENTS)]:
                client = CLIENTS[index]
                cell = cells[amount, client.key]
                larger = mode == "subs" and client.key != "syncwire" and amount > amounts[0]
                if larger and _skip_larger_count(cells, cell, client, amounts[0], round_no):
                    continue
                if cell.done:
                    continue
                repeats = plan.repeats_small if mode == "large" and amount < _SMALL else 1
                line = run_cell(server, cell, client, mode, amount, repeats, cap)
                what = size_label(amount) if mode == "large" else f"{amount:,} subscriptions"
                print(f"round {round_no + 1}: {what}, {client.label}: {line}", flush=True)
    return cells


def _skip_larger_count(
    cells: Table, cell: Cell, client: Contender, first: int, round_no: int
) -> bool:
    """The official clients run the larger counts once, and not at all if the first failed."""
    if cell.done:
        return True
    if round_no > 0 and cell.ms:
        return True
    smaller = cells[first, client.key]
    if smaller.failure is not None:
        cell.note = f"not run: {first:,} already {smaller.failure.split(' (')[0]}"
        return True
    return False


def size_label(nbytes: int) -> str:
    if nbytes >= 1_000_000:
        return f"{nbytes / 1e6:g} MB"
    return f"{nbytes / 1e3:g} KB"


def _range(values: Sequence[float]) -> str:
    if len(values) < 2:
        return ""
    return f" ({min(values):,.1f}–{max(values):,.1f})"


def _cell_text(cell: Cell, *, per_sub: bool) -> str:
    if cell.note is not None:
        return cell.note
    if not cell.ms:
        return cell.failure or "no figure"
    text = f"{cell.median_ms:,.1f} ms{_range(cell.round_ms)}"
    if per_sub and cell.per_sub_kib:
        text += f", {statistics.median(cell.per_sub_kib):.2f} KiB/sub"
    if cell.median_peak is not None:
        text += f", peak {cell.median_peak:.0f} MiB"
    if cell.failure is not None:
        text += f"; then {cell.failure}"
    return text


def _rest_row(cells: Table, amounts: Sequence[int]) -> list[str]:
    row = ["process at rest", "connected, 1 small query"]
    for client in CLIENTS:
        rest = [m for a in amounts for m in cells[a, client.key].rest_mib]
        row.append(f"VmRSS {statistics.median(rest):.0f} MiB" if rest else "")
    return row


def _server_cpu_line(cells: Table, amounts: Sequence[int]) -> str:
    parts = []
    for amount in amounts:
        figures = []
        for client in CLIENTS:
            cell = cells[amount, client.key]
            if cell.server_cpu_ms:
                cpu, answered = statistics.median(cell.server_cpu_ms), max(cell.answered)
                figures.append(f"{client.label} {cpu:,.1f} ms ({answered:,})")
        parts.append(f"{amount:,}: " + ", ".join(figures))
    return (
        "push server per run: CPU, median (ModifyQuerySets answered, warm-up included) — "
        + "; ".join(parts)
    )


def report_large(cells: Table, plan: Plan, value_bytes: dict[int, int]) -> None:
    header = ["work", "value JSON", *(c.label for c in CLIENTS)]
    rows = []
    for size in plan.sizes:
        repeats = plan.repeats_small if size < _SMALL else 1
        what = f"one {size_label(size)} result" + (
            f" (x{repeats} per process)" if repeats > 1 else ""
        )
        rows.append(
            [
                what,
                f"{value_bytes[size]:,} B",
                *(_cell_text(cells[size, c.key], per_sub=False) for c in CLIENTS),
            ]
        )
    rows.append(_rest_row(cells, plan.sizes))
    print_rows(header, rows)


def report_subs(cells: Table, plan: Plan) -> None:
    header = ["work", "server answers", *(c.label for c in CLIENTS)]
    rows = [
        [
            f"{count:,} subscriptions, all first values",
            "1 Transition per ModifyQuerySet",
            *(_cell_text(cells[count, c.key], per_sub=True) for c in CLIENTS),
        ]
        for count in plan.counts
    ]
    rows.append(_rest_row(cells, plan.counts))
    print_rows(header, rows)


def _compare(ours: Cell, theirs: Cell, who: str) -> str | None:
    """Why the goal cannot be judged (``None``: it can)."""
    if not ours.ms:
        return f"syncwire has no figure ({ours.failure or ours.note})"
    if theirs.note is not None:
        return f"{who} {theirs.note}"
    return None


def report_goals(large: Table, subs: Table, plan: Plan) -> None:
    largest, middle, most = plan.sizes[-1], plan.sizes[-2], plan.counts[-1]
    ours, js = large[largest, "syncwire"], large[largest, "js"]
    why = _compare(ours, js, "official JS")
    label = f"{size_label(largest)} result"
    if why is not None:
        print(f"SKIP (large) {label}: {why}")
    elif not js.ms:
        print(f"PASS (large) {label}: syncwire {ours.median_ms:,.0f} ms; official JS {js.failure}")
    else:
        ours_peak, js_peak = ours.median_peak or 0.0, js.median_peak or 0.0
        verdict = "PASS" if ours.median_ms <= js.median_ms and ours_peak <= js_peak else "FAIL"
        print(
            f"{verdict} (large) {label}: syncwire {ours.median_ms:,.0f} ms, "
            f"peak {ours_peak:.0f} MiB; "
            f"official JS {js.median_ms:,.0f} ms, peak {js_peak:.0f} MiB; goal: time and peak <= JS"
        )
    ours, py = large[middle, "syncwire"], large[middle, "python"]
    why = _compare(ours, py, "official Python")
    label = f"{size_label(middle)} result"
    if why is not None:
        print(f"SKIP (medium) {label}: {why}")
    elif not py.ms:
        print(
            f"PASS (medium) {label}: syncwire {ours.median_ms:,.0f} ms; "
            f"official Python {py.failure}"
        )
    else:
        speedup = py.median_ms / ours.median_ms
        verdict = "PASS" if speedup >= SPEEDUP_GOAL else "FAIL"
        print(
            f"{verdict} (medium) {label}: syncwire {ours.median_ms:,.0f} ms, official Python "
            f"{py.median_ms:,.0f} ms: {speedup:.2f}x faster, goal >= {SPEEDUP_GOAL:g}x"
        )
    ours = subs[most, "syncwire"]
    if not ours.ms:
        print(f"FAIL (subscriptions) {most:,} subscriptions: {ours.failure or ours.note}")
    else:
        seconds = ours.median_ms / 1e3
        verdict = "PASS" if seconds <= SUBSCRIPTIONS_GOAL_S else "FAIL"
        print(
            f"{verdict} (subscriptions) {most:,} subscriptions, all first values: syncwire "
            f"{seconds:.3f} s, goal <= {SUBSCRIPTIONS_GOAL_S:g} s"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; the exit status is 0 unless it crashes."""
    parser = argparse.ArgumentParser(
        description="Large results and many subscriptions: syncwire against both official clients."
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes; figures mean nothing")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--amount", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--backstop", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve_main([int(size) for size in args.serve.split(",")])
    if args.role:
        return role_main(args)

    base = QUICK if args.quick else FULL
    plan = Plan(
        sizes=base.sizes,
        counts=base.counts,
        rounds=args.rounds or base.rounds,
        repeats_small=base.repeats_small,
        large_cap=base.large_cap,
        subs_cap=base.subs_cap,
    )
    started = time.perf_counter()
    quick_note = " (QUICK: the figures mean nothing)" if args.quick else ""
    print(f"# syncwire large results and many subscriptions, three clients{quick_note}")
    print(_machine())
    print(
        f"{plan.rounds} interleaved round(s), one process per client run; caps from START: "
        f"{plan.large_cap:g} s (large results), {plan.subs_cap:g} s (subscriptions)"
    )
    unavailable = _unavailable()
    server = ServerProcess(plan.sizes)
    try:
        print(f"push server: pid {server.pid}, port {server.port}, compression off", flush=True)
        large = measure(server, plan, "large", plan.sizes, unavailable)
        subs = measure(server, plan, "subs", plan.counts, unavailable)
    finally:
        server.stop()

    print("\n## Large results: subscribe called -> value in hand, push server\n")
    print("(median ms over the rounds (min–max of the rounds); peak is the client process's")
    print("VmHWM, runtime included; 'process at rest' is its VmRSS once connected)\n")
    report_large(large, plan, server.value_bytes)
    print("\n" + _server_cpu_line(large, plan.sizes))
    print("\n## Subscriptions at scale: first subscribe called -> every first value in hand\n")
    print("(median ms over the rounds (min–max); KiB/sub is the VmRSS growth over the count;")
    print("the official clients run the largest count once)\n")
    report_subs(subs, plan)
    print("\n" + _server_cpu_line(subs, plan.counts))
    print("\n## Goals\n")
    report_goals(large, subs, plan)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal time {time.perf_counter() - started:.1f} s; load average now {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
