"""``syncwire serve`` in a subprocess: URLs printed, faults from stdin, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from syncwire.cli import _load_app, main
from syncwire.devserver import App
from syncwire.protocol import MutationResponse, QueryUpdated, Transition
from tests.devserver.test_faults import hello, subscribe
from tests.devserver.test_server import TIMEOUT, Client, send

STARTUP = 30.0  # a cold interpreter on a busy CI machine


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    ws_url: str

    async def command(self, line: str) -> str:
        """Send a fault command; its reply line (stdout)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()
        return (await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)).decode().strip()


@contextlib.asynccontextmanager
async def serving(*args: str) -> AsyncIterator[Served]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncwire",
        "serve",
        "--port",
        "0",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        async with asyncio.timeout(STARTUP):
            while not banner or not banner[-1].startswith("type `help`"):
                line = await process.stdout.readline()
                assert line, "syncwire serve exited before printing its URLs"
                banner.append(line.decode().strip())
        text = "\n".join(banner)
        url = re.search(r"deployment URL: (http://127\.0\.0\.1:\d+)$", text, re.M)
        ws_url = re.search(r"WebSocket URL: +(ws://127\.0\.0\.1:\d+/api/sync)$", text, re.M)
        assert url is not None, text
        assert ws_url is not None, text
        yield Served(process, url.group(1), ws_url.group(1))
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), TIMEOUT)


@pytest.mark.asyncio
async def test_serve_prints_urls_takes_fault_commands_and_stops_on_sigterm() -> None:
    async with serving() as served:
        assert served.ws_url == served.url.replace("http://", "ws://") + "/api/sync"
        async with connect(served.ws_url, open_timeout=TIMEOUT) as ws:
            client = Client(ws)
            await client.send(hello("cli-session"), subscribe(), send(0, "hello"))
            assert isinstance(await client.recv(), Transition)
            assert isinstance(await client.recv(), MutationResponse)
            transition = await client.transition()
            assert isinstance(transition.modifications[0], QueryUpdated)
            assert "1 session(s)" in await served.command("status")
            assert await served.command("garbage") == "sent garbage to 1 session(s)"
            assert await client.recv_text() == "this is not JSON {"
            reply = await served.command("close 1013 SubscriptionsWorkerFullError")
            assert reply == "closed 1 session(s) with 1013 SubscriptionsWorkerFullError"
            assert await client.closed() == 1013
        assert (await served.command("refuse 30 1")).startswith("refusing")
        with pytest.raises(InvalidStatus):
            await connect(served.ws_url, open_timeout=TIMEOUT)
        async with connect(served.ws_url, open_timeout=TIMEOUT) as ws:
            assert (await served.command("restart")).startswith("restarted on " + served.url)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        async with connect(served.ws_url, open_timeout=TIMEOUT) as ws:  # the data survived
            client = Client(ws)
            await client.send(hello("cli-session", 1), subscribe())
            transition = await client.transition()
            [update] = transition.modifications
            assert isinstance(update, QueryUpdated)
            assert isinstance(update.value, list)
            assert len(update.value) == 1
        served.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(served.process.wait(), TIMEOUT) == 0
        assert served.process.stdout is not None
        assert b"stopped" in await asyncio.wait_for(served.process.stdout.read(), TIMEOUT)


@pytest.mark.asyncio
async def test_serve_reports_bad_commands_and_quits_on_request() -> None:
    async with serving("--app", "syncwire.devserver.example:chat_app") as served:
        assert served.process.stdin is not None
        assert served.process.stderr is not None
        served.process.stdin.write(b"explode\nclose 1004 nope\n")
        await served.process.stdin.drain()
        errors = [
            (await asyncio.wait_for(served.process.stderr.readline(), TIMEOUT)).decode()
            for _ in range(2)
        ]
        assert "unknown command 'explode'" in errors[0]
        assert "cannot be sent" in errors[1]
        assert "silent" in await served.command("silence 1")
        served.process.stdin.write(b"quit\n")
        await served.process.stdin.drain()
        assert await asyncio.wait_for(served.process.wait(), TIMEOUT) == 0


@pytest.mark.asyncio
async def test_serve_keeps_running_after_stdin_closes_and_stops_on_sigint() -> None:
    async with serving() as served:
        assert served.process.stdin is not None
        served.process.stdin.close()
        async with connect(served.ws_url, open_timeout=TIMEOUT) as ws:
            await Client(ws).send(hello("after-eof"))
        served.process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(served.process.wait(), TIMEOUT) == 0


def test_load_app() -> None:
    assert isinstance(_load_app("syncwire.devserver.example:chat_app"), App)
    assert isinstance(_load_app("syncwire.devserver:App"), App)  # a class is a callable too
    for spec, error in [
        ("syncwire.devserver.example", ValueError),
        ("syncwire.devserver.example:nothing", AttributeError),
        ("syncwire.devserver.example:DEFAULT_CHANNEL", TypeError),
        ("no_such_module_here:app", ImportError),
    ]:
        with pytest.raises(error):
            _load_app(spec)


def test_serve_with_a_bad_app_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--app", "syncwire.devserver.example:nothing"])
    assert exited.value.code == 2
    assert "cannot load --app" in capsys.readouterr().err
