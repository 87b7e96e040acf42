"""The two processes of the ``netns`` tests, each run inside its own namespace.

``server``: a ``DevServer`` with the chat app plus ``big:get {bytes}`` (a
string of that many bytes: one large Transition), Pings every
``--ping-interval``. ``client``: a ``syncwire.Client`` on the transport named
by ``--transport`` (a kind in ``tests/transports.py``), subscribed to one
query, reading commands on stdin: ``send BODY`` runs ``messages:send``,
``watch NAME ARGS_JSON`` subscribes to one more query mid-stream. Run with
``python -m tests.reliability.netns_peers`` from the repository.

Both print JSON events on stdout, one per line, stamped with
``time.monotonic()`` (the event loop's clock, shared by every process on the
machine whatever its namespace), so the test can line up what the client saw
with when it changed the network. The client's transport is wrapped to stamp
every frame received: the inactivity deadline is counted from those.

Both exit at the end of stdin (the test died: nothing outlives it) or after
``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any
from typing import Final

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire.devserver import DevServer
from syncwire.devserver.context import QueryCtx
from syncwire.devserver.example import chat_app
from syncwire.errors import TransportError
from syncwire.protocol import ConvexValue
from syncwire.transport import Transport
from syncwire.transport import TransportConnection
from tests.transports import KINDS
from tests.transports import kind_named


def emit(ev: str, **fields: Any) -> None:
    """One event line, flushed at once."""
    sys.stdout.write(json.dumps({"ev": ev, "t": time.monotonic(), **fields}) + "\n")
    sys.stdout.flush()


def _stdin_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Thread: stdin lines into ``lines``, ``None`` at the end of input."""
    with contextlib.suppress(RuntimeError):  # the loop closed first
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)


def _stdin(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=_stdin_lines, args=(loop, lines), daemon=True).start()
    return lines


# --- server ----------------------------------------------------------------------------


_ALPHABET: Final = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')
"""Printable ASCII that JSON keeps as it is: one byte per character on the wire."""


@functools.cache
def big_value(size: int) -> str:
    """``size`` seeded random characters: permessage-deflate (on by default) saves
    only ~18 % of them, so the frame's size on the wire is known and large."""
    rng = random.Random(size)  # noqa: S311 - seeded filler, not a secret
    return bytes(rng.choices(_ALPHABET, k=size)).decode("ascii")


def big(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> str:
    """``big_value(bytes)``: a Transition as large as asked, in one frame."""
    size = args.get("bytes")
    if not isinstance(size, int | float):
        raise TypeError("bytes must be a number")
    return big_value(int(size))


async def serve(host: str, port: int, ping_interval: float, lifetime: float) -> None:
    app = chat_app()
    app.query("big:get", big)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    lines = _stdin(loop)

    async def until_end_of_input() -> None:
        while await lines.get() is not None:
            pass
        stop.set()

    waiter = asyncio.create_task(until_end_of_input())
    async with DevServer(app, host=host, port=port, ping_interval=ping_interval) as server:
        emit("listening", port=server.port, url=server.ws_url)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), lifetime)
    waiter.cancel()
    emit("stopped")


# --- client ----------------------------------------------------------------------------


class StampedConnection:
    """A connection that reports each frame received and its close.

    Transparent otherwise: it passes on ``last_data_at`` (when the transport
    last saw bytes, mid-frame included), which the manager may read.
    """

    def __init__(self, inner: TransportConnection, number: int) -> None:
        self._inner = inner
        self._number = number

    @property
    def last_data_at(self) -> float | None:
        return self._inner.last_data_at

    def send(self, text: str) -> None:
        self._inner.send(text)

    async def recv(self) -> str | bytes:
        data = await self._inner.recv()
        emit("frame", conn=self._number, bytes=len(data))
        return data

    def close(self, code: int = 1000, reason: str = "") -> None:
        emit("close", conn=self._number)
        self._inner.close(code, reason)

    async def wait_closed(self) -> None:
        await self._inner.wait_closed()


class StampedTransport:
    """A transport, with every connection attempt and frame stamped."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self._attempts = 0

    async def connect(self, url: str) -> TransportConnection:
        self._attempts += 1
        number = self._attempts
        emit("connect", conn=number)
        try:
            connection = await self._inner.connect(url)
        except TransportError as exc:
            emit("connect_failed", conn=number, error=str(exc))
            raise
        except asyncio.CancelledError:
            emit("connect_abandoned", conn=number)
            raise
        emit("open", conn=number)
        return StampedConnection(connection, number)


def describe(value: Any) -> dict[str, Any]:
    """What the test needs of a value: a string's size, a message list's last body."""
    if isinstance(value, str):
        return {"size": len(value)}
    if isinstance(value, list):
        bodies = [m.get("body") for m in value if isinstance(m, dict)]
        return {"count": len(bodies), "bodies": bodies[-5:]}
    return {"repr": repr(value)[:200]}


async def run_client(args: argparse.Namespace) -> None:
    policy = BackoffPolicy(
        client_initial=args.backoff, unknown_initial=args.backoff, max_backoff=args.max_backoff
    )
    lines = _stdin(asyncio.get_running_loop())
    async with Client(
        args.url,
        transport=StampedTransport(kind_named(args.transport).make()),
        inactivity_threshold=args.threshold,
        backoff=policy,
    ) as client:

        async def states() -> None:
            seen = None
            async for state in client.connection_states():
                c = state.connection
                key = (c.state, c.last_close_reason, c.connection_count)
                if key != seen:
                    seen = key
                    emit(
                        "state",
                        state=c.state,
                        reason=c.last_close_reason,
                        count=c.connection_count,
                        retries=c.connection_retries,
                    )

        async def values(name: str, query_args: dict[str, Any]) -> None:
            async for value in client.subscribe(name, query_args):
                emit("value", query=name, **describe(value))

        async def send(body: str) -> None:
            try:
                await client.mutation("messages:send", {"body": body})
            except Exception as exc:
                emit("error", body=body, error=repr(exc))
            else:
                emit("result", body=body)

        tasks = {
            asyncio.create_task(states()),
            asyncio.create_task(values(args.subscribe, json.loads(args.args))),
        }

        async def commands() -> None:
            while (line := await lines.get()) is not None:
                command, _, rest = line.partition(" ")
                if command == "send":
                    task = asyncio.create_task(send(rest))
                elif command == "watch":
                    name, _, query_args = rest.partition(" ")
                    task = asyncio.create_task(values(name, json.loads(query_args or "{}")))
                elif command == "quit":
                    return
                else:
                    emit("error", error=f"unknown command {command!r}")
                    continue
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(commands(), args.lifetime)
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    emit("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetime", type=float, default=120.0)
    roles = parser.add_subparsers(dest="role", required=True)
    server = roles.add_parser("server")
    server.add_argument("--host", required=True)
    server.add_argument("--port", type=int, default=0)
    server.add_argument("--ping-interval", type=float, required=True)
    client = roles.add_parser("client")
    client.add_argument("--url", required=True)
    client.add_argument("--threshold", type=float, required=True)
    client.add_argument("--subscribe", required=True)
    client.add_argument("--args", default="{}", help="the query's args, as JSON")
    client.add_argument("--backoff", type=float, default=0.1)
    client.add_argument("--max-backoff", type=float, default=0.5)
    client.add_argument("--transport", choices=[kind.name for kind in KINDS], default="websockets")
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(serve(args.host, args.port, args.ping_interval, args.lifetime))
    else:
        asyncio.run(run_client(args))


if __name__ == "__main__":
    main()
