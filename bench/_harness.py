"""What the benchmark scripts share: interleaved rounds and Markdown tables.

Imported by the scripts beside it (``bench/`` is put on ``sys.path`` by each).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import platform
import random
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Final

import msgspec

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from syncwire.devserver import App
    from syncwire.devserver import Document
    from syncwire.devserver import MutationCtx
    from syncwire.devserver import QueryCtx
    from syncwire.protocol import ConvexValue
    from syncwire.protocol import JSONValue

__all__ = [
    "LineReader",
    "Timing",
    "bench_app",
    "chat_documents",
    "close_or_wait",
    "frame_header",
    "interleaved",
    "load_average",
    "machine_text",
    "open_raw_websocket",
    "percentile",
    "print_rows",
    "raise_open_file_limit",
    "rss_bytes",
    "size_text",
    "stop_server",
    "transport_text",
    "wait_for_stdin_to_close",
]


@dataclass
class Timing:
    """Seconds per call of one candidate, one entry per round."""

    label: str
    nbytes: int
    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def msgs_per_s(self) -> float:
        return 1.0 / self.best

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.best / 1e6

    def ratio_to(self, baseline: Timing) -> float:
        """Throughput relative to ``baseline``, best round against best round."""
        return baseline.best / self.best

    def paired_ratio_to(self, baseline: Timing) -> float:
        """The median over the rounds of the throughput ratio within each round."""
        pairs = zip(baseline.seconds, self.seconds, strict=True)
        return statistics.median(base / ours for base, ours in pairs)


def interleaved(count: int, rounds: int) -> list[int]:
    """Candidate indexes in run order: forward, backward, forward, …"""
    order: list[int] = []
    for round_no in range(rounds):
        order.extend(range(count) if round_no % 2 == 0 else reversed(range(count)))
    return order


def size_text(nbytes: int) -> str:
    if nbytes >= 1_000_000:
        return f"{nbytes / 1e6:.1f} MB"
    if nbytes >= 1_000:
        return f"{nbytes / 1e3:.0f} KB"
    return f"{nbytes} B"


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def machine_text(versions: str, tail: str = "") -> str:
    """The machine line of a report: CPUs, Python, ``versions``, platform, ``tail``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"nproc {cpus}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {versions}, "
        f"{platform.machine()} {platform.system()}{tail}"
    )


class LineReader:
    """Lines a child process prints on a pipe, each read within a deadline."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def read_line(self, timeout: float) -> str | None:
        """The next line, or ``None`` after ``timeout`` seconds or at the end."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    return None
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


def rss_bytes() -> int:
    """This process's resident memory now (``VmRSS``), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def transport_text() -> str:
    """Which transport ``Client()`` runs on here, with its library's version."""
    from importlib.metadata import version

    from syncwire.transport import fast_transport_installed

    if fast_transport_installed():
        return f"default transport picows {version('picows')}"
    return "default transport websockets (syncwire[fast] not installed)"


def load_average() -> str:
    """A ``machine_text`` tail: the 1, 5 and 15 minute load averages."""
    return "; load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def raise_open_file_limit(wanted: int) -> None:
    """Raise the soft limit on open files to ``wanted`` (or the hard limit, if lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def frame_header(length: int) -> bytes:
    """An unmasked FIN text frame's header (server to client)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 2**16:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


def _bench_latest(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> Document | None:
    channel = args.get("channel")
    return ctx.db.query("latest").filter(lambda d: d.get("channel") == channel).first()


def _bench_send(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> None:
    fields: dict[str, ConvexValue] = {
        "channel": args.get("channel"),
        "body": args.get("body"),
        "seq": args.get("seq"),
    }
    current = ctx.db.query("latest").filter(lambda d: d.get("channel") == fields["channel"])
    doc = current.first()
    if doc is None:
        ctx.db.insert("latest", fields)
    else:
        ctx.db.patch(str(doc["_id"]), fields)


def bench_app() -> App:
    """One document per channel: ``bench:send`` overwrites it, ``bench:latest`` reads it.

    The dev server is imported here, so that the scripts that only run clients
    do not load it.
    """
    from syncwire.devserver import App

    app = App()
    app.query("bench:latest", _bench_latest)
    app.mutation("bench:send", _bench_send)
    return app


def print_rows(header: Sequence[str], lines: Sequence[Sequence[str]]) -> None:
    """A Markdown table: two text columns, then right-aligned figures."""
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    fmt = "| " + " | ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths)) + " |"
    print(fmt.format(*header))
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for line in lines:
        print(fmt.format(*line))


def stop_server(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """End a server child that stops when its stdin closes; escalate if it does not."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


def open_raw_websocket(sock: socket.socket, host: str, port: int, target: str) -> int:
    """Do a client handshake by hand on ``sock`` (for ceilings measured below any
    library); returns how many bytes after the response headers already arrived."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {head[:40]!r}")
    return len(head.partition(b"\r\n\r\n")[2])


async def close_or_wait(ws: ServerConnection, close: bool, wait_s: float) -> None:
    """A push server's end of a connection: with ``close``, close it at once (what
    is buffered is flushed first: the client sees EOF); otherwise wait for the client
    to close, ``wait_s`` seconds at the most, then abort."""
    if close:
        ws.transport.close()
        return
    try:
        async with asyncio.timeout(wait_s):
            await ws.wait_closed()
    except TimeoutError:
        ws.transport.abort()


async def wait_for_stdin_to_close(lifetime: float) -> None:
    """Return once standard input closes (a server child's parent went away), or
    after ``lifetime`` seconds at the most."""
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[None] = loop.create_future()

    def on_stdin() -> None:
        if not os.read(sys.stdin.fileno(), 4096) and not closed.done():
            closed.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(lifetime):
                await closed
    finally:
        loop.remove_reader(sys.stdin.fileno())


_WORD_TEXT: Final = (
    "the a of to and in is it you that he was for on are with as his they be at one "
    "have this from or had by hot word but what some we can out other were all there "
    "when up use your how said an each she which do their time if will way about many "
    "then them write would like so these her long make thing see him two has look more "
    "day could go come did number sound no most people my over know water than call "
    "first who may down side been now find any new work part take get place made live "
    "café naïve über 日本語 👍"
)
_WORDS: Final = tuple(_WORD_TEXT.split())
_ID_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"


@functools.cache
def chat_documents(size: int) -> list[JSONValue]:
    """Seeded chat-like documents whose JSON adds up to about ``size`` bytes (floats
    only): ids, timestamps, a few authors, sentences from a small vocabulary with some
    non-ASCII words. They compress as application data does, not as random filler."""
    rng = random.Random(size)
    docs: list[JSONValue] = []
    total = 0
    created = 1.7e12
    while total < size:
        created += rng.uniform(10.0, 5_000.0)
        doc: dict[str, JSONValue] = {
            "_creationTime": created,
            "_id": "".join(rng.choices(_ID_ALPHABET, k=32)),
            "author": f"user{rng.randrange(40):03d}",
            "body": " ".join(rng.choices(_WORDS, k=rng.randint(4, 40))),
            "channel": f"channel-{rng.randrange(8)}",
            "likes": float(rng.randrange(500)),
            "meta": {"edited": rng.random() < 0.2, "tags": rng.choices(_WORDS, k=3)},
        }
        docs.append(doc)
        total += len(msgspec.json.encode(doc)) + 1
    return docs
