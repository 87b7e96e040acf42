"""Re-sent mutations (idempotence per sessionId) and every fault of ``server.faults``.

A plain ``websockets`` client speaks the protocol with syncwire's codec, as in
``test_server.py``. Waits are bounded; the few that prove that nothing arrives
use a short ``QUIET`` window.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.exceptions import InvalidStatus

from syncwire.devserver import App
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver.example import chat_app
from syncwire.devserver.faults import run_command
from syncwire.devserver.outbox import FaultableConnection
from syncwire.errors import ProtocolError
from syncwire.protocol import Connect
from syncwire.protocol import ConvexValue
from syncwire.protocol import MutationResponse
from syncwire.protocol import Transition
from syncwire.protocol import parse_server_message
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import CLOSE_NO_STATUS
from tests.devserver.wire import TIMEOUT
from tests.devserver.wire import Client
from tests.devserver.wire import documents
from tests.devserver.wire import hello
from tests.devserver.wire import send
from tests.devserver.wire import subscribe
from tests.devserver.wire import updates

QUIET = 0.3
"""Seconds to watch for frames that must not arrive."""


async def open_client(server: DevServer, **options: Any) -> ClientConnection:
    return await connect(server.ws_url, open_timeout=TIMEOUT, ping_interval=None, **options)


async def nothing_arrives(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), QUIET)


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    rcvd = ws.protocol.close_rcvd
    return ws.close_code, rcvd.reason if rcvd is not None else None


async def connected(server: DevServer, session_id: str | None = None) -> tuple[Client, str]:
    """A client that sent Connect and a subscription, and got the first Transition."""
    sid = session_id or str(uuid.uuid4())
    client = Client(await open_client(server))
    await client.send(hello(sid), subscribe())
    await client.transition()
    return client, sid


@contextlib.asynccontextmanager
async def two_sessions() -> AsyncIterator[tuple[DevServer, Client, str, Client]]:
    """A dev server and two ``connected`` clients: one, its session id, and the other."""
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client, sid = await connected(server)
        other, _ = await connected(server)
        yield server, client, sid, other
        await client.ws.close()
        await other.ws.close()


# --- 1. lossless re-sends --------------------------------------------------------


@pytest.mark.asyncio
async def test_resent_mutation_is_answered_again_not_run_again() -> None:
    sid = str(uuid.uuid4())
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        async with await open_client(server) as ws:
            first = Client(ws)
            await first.send(hello(sid), subscribe(), send(0, "hi"))
            await first.transition()
            response = await first.recv()
            assert isinstance(response, MutationResponse)
            assert response.success
            await first.transition()
        async with await open_client(server) as ws:
            again = Client(ws)
            await again.send(
                hello(sid, 1, max_observed_timestamp=response.ts), subscribe(), send(0, "hi")
            )
            transition = await again.transition()
            [value] = updates(transition).values()
            assert [doc["body"] for doc in documents(value)] == ["hi"]
            replay = await again.recv()
            assert replay == response  # same result (the document id) and same ts
            assert response.ts is not None
            assert transition.end_version.ts >= response.ts
            # A Transition after the answer: the official client resolves a
            # mutation at the first Transition after its response that covers it.
            covering = await again.transition()
            assert covering.start_version == transition.end_version
            assert covering.end_version.ts >= response.ts
            assert covering.modifications == ()
            await nothing_arrives(ws)
        # The memory is per sessionId: another client's requestId 0 is a new mutation.
        async with await open_client(server) as ws:
            other = Client(ws)
            await other.send(hello(str(uuid.uuid4())), send(0, "hi"))
            fresh = await other.recv()
            assert isinstance(fresh, MutationResponse)
            assert fresh.success
            assert fresh.result != response.result
        assert len(server.database.documents("messages")) == 2


@pytest.mark.asyncio
async def test_resend_while_the_first_run_is_in_flight_runs_once() -> None:
    entered, gate = asyncio.Event(), asyncio.Event()
    runs = 0

    async def slow_send(ctx: MutationCtx, args: dict[str, ConvexValue]) -> str:
        nonlocal runs
        runs += 1
        entered.set()
        await gate.wait()
        return ctx.db.insert("messages", {"channel": "general", "body": "slow"})

    app = chat_app()
    app.mutation("messages:slow", slow_send)
    slow = send(0, "x")
    slow = type(slow)(request_id=0, udf_path="messages:slow", args={})
    sid = str(uuid.uuid4())
    async with DevServer(app, ws_ping_interval=None) as server:
        first = Client(await open_client(server))
        await first.send(hello(sid), slow)
        await asyncio.wait_for(entered.wait(), TIMEOUT)
        async with await open_client(server) as ws:  # the reconnect, before the old socket dies
            again = Client(ws)
            await again.send(hello(sid, 1), slow)
            await nothing_arrives(ws)  # waits for the run in the old session
            gate.set()
            response = await again.recv()
            assert isinstance(response, MutationResponse)
            assert response.success
            transition = await again.transition()
            assert response.ts is not None
            assert transition.end_version.ts >= response.ts
        await first.ws.close()
    assert runs == 1
    assert len(server.database.documents("messages")) == 1


# --- 2. faults ---------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1013, "SubscriptionsWorkerFullError"),
        (1011, "InternalServerError"),
        (4040, "DeploymentNotFound"),
        (1000, "ClientDisconnect"),
    ],
)
async def test_close_all_with_code_and_reason(code: int, reason: str) -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        one, _ = await connected(server)
        two, _ = await connected(server)
        assert server.faults.close_all(code, reason) == 2
        assert await closed_with(one.ws) == (code, reason)
        assert await closed_with(two.ws) == (code, reason)
        await asyncio.wait_for(server.wait_for_sessions(0), TIMEOUT)


@pytest.mark.asyncio
async def test_close_without_status_and_abort() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client, _ = await connected(server)
        server.faults.close_all(CLOSE_NO_STATUS)
        assert (await closed_with(client.ws))[0] == 1005
        client, _ = await connected(server)
        server.faults.close_all(CLOSE_ABNORMAL)
        code, reason = await closed_with(client.ws)
        assert (code, reason) == (1006, None)  # no close frame at all


@pytest.mark.asyncio
async def test_close_one_picks_a_session() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        oldest, _ = await connected(server)
        target, target_id = await connected(server)
        other, _ = await connected(server)
        assert server.faults.close_one(1011, "InternalServerError", session_id=target_id)
        assert await closed_with(target.ws) == (1011, "InternalServerError")
        assert server.faults.close_one(1013, "SubscriptionsWorkerFullError")
        assert (await closed_with(oldest.ws))[0] == 1013
        assert not server.faults.close_one(1013, session_id="no-such-session")
        await other.send(send(0, "still here"))
        assert isinstance(await other.recv(), MutationResponse)
        await other.ws.close()


def test_unsendable_close_codes_are_refused() -> None:
    server = DevServer(chat_app())
    for code in (999, 1004, 1015, 2000, 5000):
        with pytest.raises(ValueError, match="cannot be sent"):
            server.faults.close_all(code, "x")
    with pytest.raises(ValueError, match="123 bytes"):
        server.faults.close_all(1013, "x" * 124)


@pytest.mark.asyncio
async def test_silence_sends_nothing_not_even_pongs_or_pings_until_lifted() -> None:
    async with DevServer(chat_app(), ws_ping_interval=0.05) as server:
        client, _ = await connected(server)
        server.faults.silence(30)
        await client.send(send(0, "quiet"))
        pong = await client.ws.ping()
        assert isinstance(pong, asyncio.Future)
        await nothing_arrives(client.ws)  # several ws ping intervals pass
        assert not pong.done()
        [session] = server.sessions
        assert isinstance(session.ws, FaultableConnection)
        held = session.ws.outbox.held
        # Held: the pong and the two messages (opcodes 0xA and 0x1); no pings (0x9).
        assert sorted(data[0] & 0x0F for _, data in held if data) == [0x1, 0x1, 0xA], held
        assert "silence" in server.faults.active
        server.faults.lift()
        response = await client.recv()
        assert isinstance(response, MutationResponse)
        assert isinstance(await client.recv(), Transition)
        await asyncio.wait_for(pong, TIMEOUT)
        await client.ws.close()


@pytest.mark.asyncio
async def test_silence_ends_at_its_deadline_and_holds_handshakes() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client, _ = await connected(server)
        server.faults.silence(QUIET)
        started = time.monotonic()
        with pytest.raises(TimeoutError):  # no handshake response while silent
            await connect(server.ws_url, open_timeout=QUIET / 3)
        await client.send(send(0, "later"))
        assert isinstance(await client.recv(), MutationResponse)
        assert time.monotonic() - started >= QUIET * 0.9
        assert server.faults.active == {}
        await client.ws.close()


@pytest.mark.asyncio
async def test_refuse_answers_503_before_the_upgrade() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        server.faults.refuse(30, count=2)
        for _ in range(2):
            with pytest.raises(InvalidStatus) as refused:
                await open_client(server)
            assert refused.value.response.status_code == 503
        client, _ = await connected(server)  # the count is used up
        server.faults.refuse(30)
        with pytest.raises(InvalidStatus):
            await open_client(server)
        server.faults.lift()
        (await open_client(server)).transport.abort()
        await client.ws.close()


@pytest.mark.asyncio
async def test_refuse_ends_at_its_deadline() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        server.faults.refuse(QUIET)
        with pytest.raises(InvalidStatus):
            await open_client(server)
        await asyncio.sleep(QUIET)  # its deadline timer was set first, so it has fired
        assert server.faults.active == {}
        client, _ = await connected(server)
        await client.ws.close()


@pytest.mark.asyncio
async def test_restart_drops_connections_and_keeps_data_and_answers() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        port = server.port
        client, sid = await connected(server)
        await client.send(send(0, "kept"))
        response = await client.recv()
        assert isinstance(response, MutationResponse)
        await client.transition()
        await asyncio.wait_for(server.restart(), TIMEOUT)
        assert (await closed_with(client.ws))[0] == 1006
        assert server.port == port
        async with await open_client(server) as ws:
            again = Client(ws)
            await again.send(hello(sid, 1), subscribe(), send(0, "kept"))
            [value] = updates(await again.transition()).values()
            assert [doc["body"] for doc in documents(value)] == ["kept"]
            assert await again.recv() == response


@pytest.mark.asyncio
async def test_kill_refuses_connections_until_start() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client, _ = await connected(server)
        await asyncio.wait_for(server.kill(), TIMEOUT)
        assert (await closed_with(client.ws))[0] == 1006
        with pytest.raises(ConnectionRefusedError):
            await open_client(server)
        await server.start()
        client, _ = await connected(server)
        started = time.monotonic()
        await asyncio.wait_for(server.restart(downtime=QUIET), TIMEOUT)
        assert time.monotonic() - started >= QUIET * 0.9
        assert (await closed_with(client.ws))[0] == 1006
        client, _ = await connected(server)
        await client.ws.close()


@pytest.mark.asyncio
async def test_malformed_frames() -> None:
    async with two_sessions() as (server, client, sid, other):
        assert server.faults.send_garbage(session_id=sid) == 1
        assert server.faults.send_unknown_type() == 2
        assert server.faults.send_raw("{}", session_id=sid) == 1
        garbage = await client.recv_text()
        assert garbage == "this is not JSON {"
        for text in (garbage, await client.recv_text(), await client.recv_text()):
            with pytest.raises(ProtocolError):
                parse_server_message(text)
        with pytest.raises(ProtocolError):
            parse_server_message(await other.recv_text())
        server.faults.send_raw(b"\x00binary", session_id=sid)
        assert await asyncio.wait_for(client.ws.recv(), TIMEOUT) == b"\x00binary"


@pytest.mark.asyncio
async def test_oversized_frame_closes_a_client_with_a_size_limit() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client = Client(await open_client(server, max_size=2**16))
        await client.send(hello(str(uuid.uuid4())))
        await asyncio.wait_for(server.wait_for_sessions(1), TIMEOUT)
        assert server.faults.send_oversized(2**16 + 1) == 1
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.ws.recv(), TIMEOUT)
        sent = client.ws.protocol.close_sent
        assert sent is not None
        assert sent.code == 1009
    with pytest.raises(ValueError, match="at least"):
        server.faults.send_oversized(3)


@pytest.mark.asyncio
async def test_delay_sends_every_frame_late_in_order() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client, _ = await connected(server)
        server.faults.delay(QUIET, duration=30)
        started = time.monotonic()
        await client.send(send(0, "a"), send(1, "b"))
        first = await client.recv()
        assert time.monotonic() - started >= QUIET * 0.9
        assert isinstance(first, MutationResponse)
        assert first.request_id == 0
        answered = [first.request_id]
        async with asyncio.timeout(TIMEOUT):
            while len(answered) < 2:
                message = await client.recv()
                if isinstance(message, MutationResponse):
                    answered.append(message.request_id)
        assert answered == [0, 1]
        last = await client.recv()  # the Transition covering request 1
        assert isinstance(last, Transition)
        # Lifted, nothing is late: set a delay no loaded machine's stall could be taken
        # for, lift it, and the next answer comes well before it.
        server.faults.delay(TIMEOUT, duration=30)
        server.faults.lift()
        started = time.monotonic()
        await client.send(send(2, "c"))
        assert isinstance(await client.recv(), MutationResponse)
        assert time.monotonic() - started < TIMEOUT
        await client.ws.close()


@pytest.mark.asyncio
async def test_drop_discards_one_sessions_messages() -> None:
    async with two_sessions() as (server, client, sid, other):
        server.faults.drop(30, session_id=sid)
        await client.send(send(0, "lost answer"))
        await nothing_arrives(client.ws)
        transition = await other.transition()  # the other session is told
        [value] = updates(transition).values()
        assert [doc["body"] for doc in documents(value)] == ["lost answer"]
        server.faults.lift()
        await client.send(send(1, "seen"))
        response = await client.recv()
        assert isinstance(response, MutationResponse)
        assert response.request_id == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.silence(0),
        lambda f: f.silence(float("inf")),
        lambda f: f.refuse(-1),
        lambda f: f.refuse(1, count=0),
        lambda f: f.delay(1, 1e9),
        lambda f: f.drop(float("nan")),
    ],
)
def test_lasting_faults_must_be_bounded(call: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several messages
        call(DevServer(App()).faults)


@pytest.mark.asyncio
async def test_fault_commands() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client, _ = await connected(server)
        assert "close CODE" in await run_command(server, "help")
        assert await run_command(server, "   ") == ""
        assert "silent" in await run_command(server, "silence 5")
        assert "refusing" in await run_command(server, "refuse 3 1")
        assert "delaying" in await run_command(server, "delay 0.1 2")
        assert "dropping" in await run_command(server, "drop 2")
        status = await run_command(server, "status")
        assert "1 session(s)" in status
        assert "silence" in status
        assert "refuse" in status
        assert await run_command(server, "lift") == "lifted every fault"
        assert "1 session(s)" in await run_command(server, "garbage")
        assert await client.recv_text() == "this is not JSON {"
        await run_command(server, "unknown")
        await client.recv_text()
        reply = await run_command(server, "close 1013 SubscriptionsWorkerFullError")
        assert reply == "closed 1 session(s) with 1013 SubscriptionsWorkerFullError"
        assert await closed_with(client.ws) == (1013, "SubscriptionsWorkerFullError")
        assert "restarted" in await run_command(server, "restart")
        for bad in ("explode", "silence", "silence soon", "close 1004 x"):
            with pytest.raises(ValueError):  # noqa: PT011 - several messages
                await run_command(server, bad)


@pytest.mark.asyncio
async def test_clock_skew_is_whole_milliseconds() -> None:
    """The Rust client (inside the official Python one) reads it as an i64."""
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client = Client(await open_client(server))
        await client.send(
            Connect(
                connection_count=0,
                last_close_reason=None,
                client_ts=0,
                session_id=str(uuid.uuid4()),
            ),
            subscribe(),
        )
        text = await client.recv_text()
        assert re.search(r'"clientClockSkew":-\d+[,}]', text), text
        await client.ws.close()


@pytest.mark.asyncio
async def test_frames_after_a_decided_close_are_not_acted_on() -> None:
    async with DevServer(chat_app(), ws_ping_interval=None) as server:
        client, _ = await connected(server)
        server.faults.silence(30)  # holds the close frame, so the client keeps sending
        server.faults.close_all(1013, "SubscriptionsWorkerFullError")
        await client.send(send(0, "too late"))
        await nothing_arrives(client.ws)
        server.faults.lift()
        assert await closed_with(client.ws) == (1013, "SubscriptionsWorkerFullError")
        assert server.database.documents("messages") == []
