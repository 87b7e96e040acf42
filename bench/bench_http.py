"""The HTTP clients: syncwire's against the official Python ``ConvexHttpClient``.

Run it with ``make bench`` (or ``.venv/bin/python bench/bench_http.py``);
``--quick`` makes a few calls of each kind, to check that the script still
works (its figures mean nothing).

**The server** is ``syncwire serve`` in its own process (the dev server, the
HTTP API on the same port as the sync endpoint), with the example chat app and
ten messages in ``general``. Every call is ``messages:list {channel:
"general"}``: ten small documents, about 1.3 KB of JSON. The query runs on the
server each time, the same for every client.

**The clients**, side by side in this one process, in interleaved rounds:

* **official**: PyPI ``convex``'s ``convex.http_client.ConvexHttpClient``
  (``requests.post`` for each call, a new TCP connection each time).
* **syncwire blocking**: ``syncwire.ConvexHttpClient`` (httpx, one pool,
  keep-alive).
* **syncwire async**: ``syncwire.HttpClient`` (httpx, one pool, keep-alive).

**What is timed**:

* **one-shot latency**: a fresh client, one query, the client closed; what a
  serverless function or a cron job pays. Median and p90 over the rounds. For
  ``HttpClient``, inside a running event loop (an asyncio program has one).
* **keep-alive latency**: one client, one query after the other; the median.
* **throughput**: queries per second, one client, calls one after the other
  (and, for ``HttpClient``, 8 at a time with ``asyncio.gather``).

The figures are recorded in docs/benchmarks.md#http-clients.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

import syncwire
from _harness import LineReader
from _harness import interleaved
from _harness import machine_text
from _harness import percentile
from _harness import print_rows
from _harness import stop_server
from syncwire import ConvexHttpClient
from syncwire import HttpClient

QUERY: Final = "messages:list"
ARGS: Final = {"channel": "general"}
CONCURRENCY: Final = 8


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    """``syncwire serve`` on a free port, and its deployment URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "syncwire", "serve", "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    lines = LineReader(process.stdout.fileno())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = lines.read_line(deadline - time.monotonic())
        if line is None:
            break
        found = re.search(r"deployment URL: (http://127\.0\.0\.1:\d+)$", line)
        if found:
            return process, found.group(1)
    stop_server(process)
    raise RuntimeError("syncwire serve did not print its URL within 30 s")


def official_client(url: str) -> Any:
    from convex.http_client import ConvexHttpClient as Official

    return Official(url)


def one_shot_official(url: str) -> None:
    official_client(url).query(QUERY, ARGS)


def one_shot_blocking(url: str) -> None:
    with ConvexHttpClient(url) as client:
        client.query(QUERY, ARGS)


async def async_one_shots(url: str, count: int) -> list[float]:
    """Seconds for each of ``count`` one-shot ``HttpClient`` calls, in one running loop
    (an asyncio program has its loop already: starting one is not the client's cost)."""
    seconds: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        async with HttpClient(url) as client:
            await client.query(QUERY, ARGS)
        seconds.append(time.perf_counter() - start)
    return seconds


def timed(run: Callable[[], object], count: int) -> list[float]:
    """Seconds for each of ``count`` calls of ``run``, one after the other."""
    seconds: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return seconds


async def async_calls(url: str, count: int, concurrency: int) -> list[float]:
    """Per-call seconds of ``count`` keep-alive queries, ``concurrency`` at a time
    (for ``concurrency`` > 1, the wall time of each batch divided by its size)."""
    seconds: list[float] = []
    async with HttpClient(url) as client:
        await client.query(QUERY, ARGS)  # the connection is open before timing
        for _ in range(count // concurrency):
            start = time.perf_counter()
            await asyncio.gather(*(client.query(QUERY, ARGS) for _ in range(concurrency)))
            seconds.extend([(time.perf_counter() - start) / concurrency] * concurrency)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls: checks the script")
    options = parser.parse_args(argv)
    one_shots, calls, rounds = (3, 16, 2) if options.quick else (60, 800, 5)
    have_official = importlib.util.find_spec("convex") is not None
    os.environ.setdefault("NO_PROXY", "127.0.0.1")

    process, url = start_server()
    try:
        with ConvexHttpClient(url) as seeder:
            for i in range(10):
                seeder.mutation("messages:send", {"body": f"message {i}", "channel": "general"})
        blocking = ConvexHttpClient(url)
        blocking.query(QUERY, ARGS)
        official = official_client(url) if have_official else None
        one_shot: dict[str, list[float]] = {"official": [], "blocking": [], "async": []}
        keep_alive: dict[str, list[float]] = {"official": [], "blocking": [], "async": []}
        concurrent: list[float] = []
        candidates: list[Callable[[], None]] = [
            lambda: one_shot["blocking"].extend(timed(lambda: one_shot_blocking(url), one_shots)),
            lambda: one_shot["async"].extend(asyncio.run(async_one_shots(url, one_shots))),
            lambda: keep_alive["blocking"].extend(
                timed(lambda: blocking.query(QUERY, ARGS), calls)
            ),
            lambda: keep_alive["async"].extend(asyncio.run(async_calls(url, calls, 1))),
            lambda: concurrent.extend(asyncio.run(async_calls(url, calls, CONCURRENCY))),
        ]
        if official is not None:
            query_official = official.query
            candidates += [
                lambda: one_shot["official"].extend(
                    timed(lambda: one_shot_official(url), one_shots)
                ),
                lambda: keep_alive["official"].extend(
                    timed(lambda: query_official(QUERY, ARGS), calls)
                ),
            ]
        for index in interleaved(len(candidates), rounds):
            candidates[index]()
        blocking.close()
    finally:
        stop_server(process)

    title = "# HTTP clients" + (" (--quick: the figures mean nothing)" if options.quick else "")
    print(title)
    versions = f"syncwire {syncwire.__version__}"
    if have_official:
        import convex

        versions += f", official convex {convex.__version__}"
    print(machine_text(versions))
    print(f"\n`{QUERY}` of ten messages, `syncwire serve` in its own process; {rounds} rounds.\n")

    def ms(values: list[float], p: float | None = None) -> str:
        if not values:
            return "—"
        figure = statistics.median(values) if p is None else percentile(values, p)
        return f"{figure * 1e3:.2f} ms"

    def per_s(values: list[float]) -> str:
        return f"{len(values) / sum(values):,.0f}/s" if values else "—"

    print("## One-shot: a fresh client, one query\n")
    print_rows(
        ("client", "median", "p90"),
        [
            ("official ConvexHttpClient", ms(one_shot["official"]), ms(one_shot["official"], 90)),
            ("syncwire ConvexHttpClient", ms(one_shot["blocking"]), ms(one_shot["blocking"], 90)),
            ("syncwire HttpClient", ms(one_shot["async"]), ms(one_shot["async"], 90)),
        ],
    )
    print("\n## Keep-alive: one client, queries one after the other\n")
    print_rows(
        ("client", "median latency", "throughput"),
        [
            (
                "official ConvexHttpClient",
                ms(keep_alive["official"]),
                per_s(keep_alive["official"]),
            ),
            (
                "syncwire ConvexHttpClient",
                ms(keep_alive["blocking"]),
                per_s(keep_alive["blocking"]),
            ),
            ("syncwire HttpClient", ms(keep_alive["async"]), per_s(keep_alive["async"])),
            (f"syncwire HttpClient, {CONCURRENCY} at a time", "—", per_s(concurrent)),
        ],
    )
    if have_official:
        print("\n## Ratios (official / syncwire: above 1 is syncwire faster)\n")
        base_one = statistics.median(one_shot["official"])
        base_keep = statistics.median(keep_alive["official"])
        rows = [
            ("one-shot, ConvexHttpClient", base_one / statistics.median(one_shot["blocking"])),
            ("one-shot, HttpClient", base_one / statistics.median(one_shot["async"])),
            ("keep-alive, ConvexHttpClient", base_keep / statistics.median(keep_alive["blocking"])),
            ("keep-alive, HttpClient", base_keep / statistics.median(keep_alive["async"])),
            (f"HttpClient {CONCURRENCY} at a time", base_keep / statistics.median(concurrent)),
        ]
        print_rows(("what", "ratio"), [(what, f"{ratio:.2f}x") for what, ratio in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
