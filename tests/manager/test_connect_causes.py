"""The manager names why it cannot connect, and can stop from a callback (virtual time).

``last_error`` is the cause of the latest failed attempt in words (``None``
once a socket opens); ``halt()`` is ``stop()`` for a callback that cannot
wait: the client uses it to stop sending the moment the server rejects the
identity the user gave.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from syncwire.errors import ConnectError
from syncwire.manager import OnMessageResponse
from syncwire.manager import WebSocketManager
from syncwire.protocol import Event
from syncwire.protocol import ServerMessage
from syncwire.testing import FakeTransport
from tests.helpers import RESPONSE
from tests.helpers import URL
from tests.helpers import bare_manager
from tests.helpers import no_jitter
from tests.helpers import now


@pytest.mark.asyncio
async def test_last_error_follows_the_attempts(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTransport()
    manager = bare_manager(URL, transport=fake, rand=no_jitter)
    with caplog.at_level(logging.WARNING, "syncwire.manager"):
        async with manager:
            before = manager.last_error
            (await fake.next_connection()).refuse(ConnectError("x", cause="the cause"))
            await asyncio.sleep(0)
            assert (before, manager.last_error) == (None, "the cause")
            (await fake.next_connection()).accept()
            await asyncio.sleep(0)
            assert manager.connection_state().is_connected
            assert manager.last_error is None
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot connect to {URL}: the cause (retrying in the background)",
        f"connected to {URL} after 1 failed attempt",
    ]


@pytest.mark.asyncio
async def test_a_transport_that_breaks_its_contract_is_named_too() -> None:
    class Broken:
        async def connect(self, url: str) -> None:
            raise ValueError("not a TransportError")

    manager = bare_manager(URL, transport=Broken(), rand=no_jitter)
    async with manager:
        await asyncio.sleep(0)
        assert manager.last_error == "cannot connect: the transport raised ValueError"


@pytest.mark.asyncio
async def test_halt_from_a_callback_stops_at_once_and_leaves_no_task() -> None:
    fake = FakeTransport()
    holder: list[WebSocketManager] = []

    def on_message(message: ServerMessage) -> OnMessageResponse:
        holder[0].halt()  # e.g. the server rejected the user's token
        assert not holder[0].send_message(Event(event_type="x", event={})), "nothing is sent"
        return OnMessageResponse(False)

    tasks = asyncio.all_tasks()
    manager = WebSocketManager(
        URL, on_open=lambda _: None, on_message=on_message, transport=fake, rand=no_jitter
    )
    holder.append(manager)
    server = (await fake.next_connection()).accept().server
    server.push(RESPONSE)
    async with asyncio.timeout(60.0):
        await server.wait_closed()
    assert server.closed_by_client is not None
    assert manager.socket_state() == "stopped"
    await asyncio.sleep(60.0)
    assert fake.attempts == 1, "a halted manager does not reconnect by itself"
    manager.try_restart()
    again = await fake.next_connection()
    assert now() == 60.0
    again.accept()
    await manager.terminate()
    assert asyncio.all_tasks() == tasks
