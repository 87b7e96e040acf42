"""The official clients against the dev server: JS (npm ``convex``, ``ConvexClient``)
and Python (PyPI ``convex``, which wraps the Rust client and uses ``/api/sync``).

``official_client.mjs`` subscribes to ``messages:list``, runs ``messages:send``
on command and reports what it sees as JSON lines. The test checks that it
receives updates, reconnects after a ``1013 SubscriptionsWorkerFullError``
close, and that a mutation whose answer was lost is re-sent after a ``1011``
close and committed exactly once (the server answers the re-send from memory).
``official_py_client.py`` does the same with the official Python client.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from typing import Final

import pytest

from syncwire.devserver import DevServer
from syncwire.devserver.example import chat_app
from tests.helpers import require_node
from tests.helpers import until

ROOT: Final = Path(__file__).resolve().parents[2]
SCRIPT: Final = Path(__file__).with_name("official_client.mjs")
PY_SCRIPT: Final = Path(__file__).with_name("official_py_client.py")
TIMEOUT: Final = 20.0


class Official:
    """The Node process: commands in, events out, every wait bounded."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[dict[str, Any]] = []
        self.unmatched: list[dict[str, Any]] = []  # seen, not yet returned by matching()

    async def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        if not line:
            assert self.process.stderr is not None
            stderr = await asyncio.wait_for(self.process.stderr.read(), TIMEOUT)
            pytest.fail(f"official_client.mjs exited early:\n{stderr.decode()[-4000:]}")
        event: dict[str, Any] = json.loads(line)
        assert event["event"] != "error", event
        self.seen.append(event)
        return event

    async def matching(self, **expected: Any) -> dict[str, Any]:
        """The first event, seen before and not matched yet or to come, with the
        ``expected`` fields (a subscription update and a mutation's result come
        in either order)."""

        def matches(event: dict[str, Any]) -> bool:
            return all(event.get(k) == v for k, v in expected.items())

        for event in self.unmatched:
            if matches(event):
                self.unmatched.remove(event)
                return event
        try:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    event = await self.event()
                    if matches(event):
                        return event
                    self.unmatched.append(event)
        except TimeoutError:
            pytest.fail(f"no event {expected} in {TIMEOUT} s; seen: {self.seen}")


def require_python_client() -> None:
    """Skip (fail on CI) when the official Python client is not installed."""
    if importlib.util.find_spec("convex") is None:
        problem = "the official Python client (PyPI `convex`) is not installed"
        hint = "install the test extra: pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(f"{problem}: CI must run this test; {hint}", pytrace=False)
        pytest.skip(f"{problem}; {hint}")


@contextlib.asynccontextmanager
async def run_official(*argv: str) -> AsyncIterator[Official]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Official(process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), TIMEOUT)


async def reconnects_and_resends(server: DevServer, official: Official, *, js: bool) -> None:
    """The scenario the official clients go through.

    The Python client (0.8.1, Rust inside) gets a narrower one: it fails a
    mutation in flight when the connection drops ("channel closed") instead of
    re-sending it, and starts every connection with a new sessionId, so the
    lost-answer part is the JS client's only, and the Python client is given
    its second mutation once it has reconnected.
    """
    await official.matching(event="update", bodies=[])
    await official.command("send first")
    await official.matching(event="sent", body="first")
    await official.matching(event="update", bodies=["first"])

    # Overload: the server closes; the client reconnects and carries on.
    before = set(server.sessions)
    assert server.faults.close_all(1013, "SubscriptionsWorkerFullError") == 1
    if not js:  # wait for the reconnect
        await until(lambda: bool(set(server.sessions) - before), "a new session", deadline=TIMEOUT)
    await official.command("send second")
    await official.matching(event="sent", body="second")
    await official.matching(event="update", bodies=["first", "second"])

    if not js:
        await official.command("quit")
        await official.matching(event="closed")
        assert await asyncio.wait_for(official.process.wait(), TIMEOUT) == 0
        return

    # The answer to "third" is lost, then the session dies: the client re-sends
    # the mutation (same requestId) in its new session; it is not run twice.
    committed = asyncio.Event()
    server.engine.add_listener(lambda ts, writes: committed.set())
    server.faults.drop(TIMEOUT)
    await official.command("send third")
    await asyncio.wait_for(committed.wait(), TIMEOUT)
    server.faults.close_all(1011, "InternalServerError")
    server.faults.lift()
    sent = await official.matching(event="sent", body="third")
    await official.matching(event="update", bodies=["first", "second", "third"])
    documents = server.database.documents("messages")
    assert [doc["body"] for doc in documents] == ["first", "second", "third"]
    assert sent["id"] == documents[2]["_id"]

    await official.command("quit")
    closed = await official.matching(event="closed")
    assert await asyncio.wait_for(official.process.wait(), TIMEOUT) == 0
    assert closed["connectionCount"] >= 3  # the first connection and two reconnects


@pytest.mark.node
@pytest.mark.asyncio
async def test_official_js_client_reconnects_and_resends_without_duplicates() -> None:
    node = require_node("the official-client tests")
    async with (
        DevServer(chat_app()) as server,
        run_official(node, str(SCRIPT), server.url) as official,
    ):
        await reconnects_and_resends(server, official, js=True)


@pytest.mark.asyncio
async def test_official_python_client_reconnects_after_a_1013_close() -> None:
    require_python_client()
    async with (
        DevServer(chat_app()) as server,
        run_official(sys.executable, str(PY_SCRIPT), server.url) as official,
    ):
        await reconnects_and_resends(server, official, js=False)
