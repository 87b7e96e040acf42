"""``syncwire serve`` in a subprocess: URLs printed, faults from stdin, clean stop."""

from __future__ import annotations

import asyncio
import signal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.exceptions import InvalidStatus

from syncwire.cli import main
from syncwire.cli.serve import load_app
from syncwire.devserver import App
from syncwire.protocol import MutationResponse
from syncwire.protocol import QueryUpdated
from syncwire.protocol import Transition
from tests.devserver.wire import TIMEOUT
from tests.devserver.wire import Client
from tests.devserver.wire import hello
from tests.devserver.wire import send
from tests.devserver.wire import subscribe
from tests.helpers import serving


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


def testload_app() -> None:
    assert isinstance(load_app("syncwire.devserver.example:chat_app"), App)
    assert isinstance(load_app("syncwire.devserver:App"), App)  # a class is a callable too
    for spec, error in [
        ("syncwire.devserver.example", ValueError),
        ("syncwire.devserver.example:nothing", AttributeError),
        ("syncwire.devserver.example:DEFAULT_CHANNEL", TypeError),
        ("no_such_module_here:app", ImportError),
    ]:
        with pytest.raises(error):
            load_app(spec)


def test_serve_with_a_bad_app_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--app", "syncwire.devserver.example:nothing"])
    assert exited.value.code == 2
    assert "cannot load --app" in capsys.readouterr().err
