"""The official Python client (PyPI ``convex``, Rust inside) against the dev server.

Run by ``test_official_client.py`` in its own process, with the deployment URL
as the only argument; the same line protocol as ``official_client.mjs``:
JSON events on stdout (``update``, ``sent``, ``error``, ``closed``), commands
on stdin (``send BODY``, ``quit``). The whole run is bounded: after 60 s the
process exits with status 3.

The subscription is read with ``async for`` (the blocking iterator holds the
GIL while it waits, which would stall every other thread).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any

from convex import ConvexClient

DEADLINE_S = 60.0


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def watch(client: ConvexClient) -> None:
    try:
        async for messages in client.subscribe("messages:list", {"channel": "general"}):
            documents: list[dict[str, Any]] = messages  # type: ignore[assignment]
            emit(event="update", bodies=[doc["body"] for doc in documents])
    except Exception as exc:
        emit(event="error", message=repr(exc))


async def send(client: ConvexClient, body: str) -> None:
    try:
        args: dict[str, Any] = {"channel": "general", "body": body}
        result = await asyncio.to_thread(client.mutation, "messages:send", args)
        emit(event="sent", body=body, id=result)
    except Exception as exc:
        emit(event="error", message=repr(exc))


def timed_out() -> None:
    emit(event="error", message="official_py_client.py timed out")
    os._exit(3)


def read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line)
    loop.call_soon_threadsafe(lines.put_nowait, "quit")


async def main() -> None:
    loop = asyncio.get_running_loop()
    loop.call_later(DEADLINE_S, timed_out)
    client = ConvexClient(sys.argv[1])
    tasks = {asyncio.create_task(watch(client))}
    lines: asyncio.Queue[str] = asyncio.Queue()
    threading.Thread(target=read_stdin, args=(loop, lines), daemon=True).start()
    while True:
        command, _, rest = (await lines.get()).strip().partition(" ")
        if command == "send":
            tasks.add(asyncio.create_task(send(client, rest)))
        elif command == "quit":
            break
    emit(event="closed")
    os._exit(0)  # the Rust client's threads do not stop on their own


if __name__ == "__main__":
    asyncio.run(main())
