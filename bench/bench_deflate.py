"""permessage-deflate on or off: what it costs on loopback and what it buys on a slow link.

Run it with ``make bench`` (or ``.venv/bin/python bench/bench_deflate.py``); the
figures it prints are recorded in ``docs/benchmarks.md`` and decide the default
of ``WebSocketsTransport(compression=...)`` (``docs/transports.md#compression``).
``--quick`` runs tiny counts, to check that the script still works.

One result of about 1 MB: a page of chat-like documents (ids, timestamps, an
author from a small set, sentences from a vocabulary of a few hundred words),
which compresses as real application data does, not as random filler or one
repeated byte. The time measured is a fresh ``Client`` subscribing to it → the
value in hand (connect and handshake included), with the default transport,
compression on and off, in interleaved rounds:

* **10 Mbit/s**: the dev server and the client in two network namespaces this
  script creates (``tests/reliability/netns.py``; root and ``ip``/``tc`` needed,
  else the row says why it was skipped), the server's egress shaped with
  ``tbf`` to 10 Mbit/s. The bytes that crossed the link are counted too.
* **loopback**: the same on 127.0.0.1, where compression can only cost.

The latency of small messages with and without compression is ``bench_client.py``'s
"syncwire, no deflate" row, measured beside the official client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.reliability.netns: the namespaces, made once
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _harness, beside us
from tests.reliability.netns import SERVER_IP  # noqa: E402
from tests.reliability.netns import linked_namespaces  # noqa: E402
from tests.reliability.netns import unavailable_reason  # noqa: E402

from _harness import chat_documents  # noqa: E402
from _harness import load_average  # noqa: E402
from _harness import machine_text  # noqa: E402
from _harness import print_rows  # noqa: E402
from syncwire import Client  # noqa: E402
from syncwire.devserver import App  # noqa: E402
from syncwire.devserver import DevServer  # noqa: E402
from syncwire.devserver.context import QueryCtx  # noqa: E402
from syncwire.protocol import ConvexValue  # noqa: E402
from syncwire.transport import WebSocketsTransport  # noqa: E402

RESULT_BYTES: Final = 1_000_000
RATE: Final = "10mbit"
PORT: Final = 8765
ROUND_TIMEOUT: Final = 60.0
"""Bound on one subscription: 1 MB uncompressed at 10 Mbit/s takes about 0.9 s."""


def _page(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> list[ConvexValue]:
    size = args.get("bytes")
    if not isinstance(size, int | float):
        raise TypeError("bytes must be a number")
    return chat_documents(int(size))  # type: ignore[return-value]


def bench_app() -> App:
    app = App()
    app.query("docs:page", _page)
    return app


# --- the two processes ------------------------------------------------------------------


async def serve(host: str, port: int) -> None:
    """The dev server until standard input closes (or ROUND_TIMEOUT x 20 passes)."""
    chat_documents(RESULT_BYTES)  # built before the first round, not inside it
    async with DevServer(bench_app(), host=host, port=port) as server:
        print(f"LISTENING {server.ws_url}", flush=True)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), ROUND_TIMEOUT * 20)


async def fetch(url: str, compression: bool, size: int) -> float:
    """Seconds from opening a Client to the value in hand."""
    started = time.perf_counter()
    transport = WebSocketsTransport(compression=compression)
    async with asyncio.timeout(ROUND_TIMEOUT), Client(url, transport=transport) as client:
        value = await client.subscribe("docs:page", {"bytes": size}).next()
    seconds = time.perf_counter() - started
    if not isinstance(value, list) or not value:
        raise RuntimeError(f"unexpected value: {type(value).__name__}")
    return seconds


# --- the runs ---------------------------------------------------------------------------


def _spawn_server(prefix: Sequence[str], host: str, port: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [*prefix, sys.executable, __file__, "--serve", host, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        _stop(proc)
        raise RuntimeError(f"the server did not start: {line!r}")
    return proc, line.split()[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


def _fetch_in(prefix: Sequence[str], url: str, compression: bool, size: int) -> float:
    """One round in a fresh client process (inside the client's namespace, if any)."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [*prefix, sys.executable, __file__, "--fetch", url, "on" if compression else "off",
         str(size)],
        capture_output=True, text=True, timeout=ROUND_TIMEOUT + 30, check=True,
    )  # fmt: skip
    return float(out.stdout.split()[-1])


def run_rounds(
    prefix: Sequence[str], url: str, rounds: int, size: int, wire: Any = None
) -> dict[bool, tuple[list[float], list[int]]]:
    """Interleaved rounds (on, off, then off, on, ...): seconds and bytes on the wire."""
    results: dict[bool, tuple[list[float], list[int]]] = {True: ([], []), False: ([], [])}
    for i in range(rounds):
        for compression in (True, False) if i % 2 == 0 else (False, True):
            before = wire() if wire is not None else 0
            seconds = _fetch_in(prefix, url, compression, size)
            results[compression][0].append(seconds)
            results[compression][1].append((wire() - before) if wire is not None else 0)
    return results


def _rows(where: str, results: dict[bool, tuple[list[float], list[int]]]) -> list[list[str]]:
    rows = []
    off_median = statistics.median(results[False][0])
    for compression in (True, False):
        seconds, wire = results[compression]
        median = statistics.median(seconds)
        rows.append(
            [
                where,
                "on" if compression else "off",
                f"{median * 1e3:,.0f}",
                f"{min(seconds) * 1e3:,.0f}–{max(seconds) * 1e3:,.0f}",
                f"{statistics.median(wire) / 1e6:.2f}" if any(wire) else "",
                f"{off_median / median:.2f}x",
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke test")
    parser.add_argument("--serve", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--fetch", nargs=3, metavar=("URL", "ON", "BYTES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve[0], int(args.serve[1])))
        return 0
    if args.fetch:
        url, on, size = args.fetch
        print(asyncio.run(fetch(url, on == "on", int(size))))
        return 0

    rounds, size = (2, 20_000) if args.quick else (5, RESULT_BYTES)
    print(f"permessage-deflate, one {size / 1e6:.1f} MB result: Client opened → value in hand")
    print(machine_text(f"websockets {_version('websockets')}", load_average()))
    rows: list[list[str]] = []
    server, url = _spawn_server((), "127.0.0.1", 0)
    try:
        rows += _rows("loopback", run_rounds((), url, rounds, size))
    finally:
        _stop(server)
    reason = unavailable_reason()
    if reason is not None:
        rows.append([f"{RATE} (skipped: {reason})", "", "", "", "", ""])
    else:
        with linked_namespaces() as link:
            link.limit_rate(link.server, RATE)
            prefix = ("ip", "netns", "exec", link.server.netns)
            server, url = _spawn_server(prefix, SERVER_IP, PORT)
            try:
                client = ("ip", "netns", "exec", link.client.netns)
                results = run_rounds(
                    client, url, rounds, size, lambda: link.received_bytes(link.client)
                )
                rows += _rows(f"{RATE} (tbf)", results)
            finally:
                _stop(server)
    print_rows(["link", "deflate", "median ms", "range ms", "MB on the wire", "speed vs off"], rows)
    return 0


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    raise SystemExit(main())
