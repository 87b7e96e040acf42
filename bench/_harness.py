"""What the benchmark scripts share: interleaved rounds and Markdown tables.

Imported by the scripts beside it (``bench/`` is put on ``sys.path`` by each).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Timing",
    "interleaved",
    "open_raw_websocket",
    "print_rows",
    "size_text",
    "stop_server",
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
