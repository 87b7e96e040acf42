"""WebSocketManager on real loopback sockets with its default transport.

Each test runs a scripted ``websockets`` server on 127.0.0.1, injects one
fault (a close of each reason class, a dropped TCP connection, silence, bad
input, a failed write) and checks that the manager gets back to ready, with
the right close reason reported to ``on_open`` and the right backoff class.

The backoff class is checked exactly, from the delay the manager logs
(``Attempting reconnect in <ms>ms``); against ``next_reconnect_at`` in the
``disconnected`` snapshot the state observer got at the fault; and end to end,
from the time between the fault and the next handshake the server sees: at
least the class's delay and, on real time, not much more. "Not much" is a
measured goal (``SLACK``, 0.25 s), asserted in the ``--full`` tier; the default
tier allows ``LOADED_SLACK``, which only a reconnect that never comes (or waits
for another timer) misses on a loaded, shared machine. The scaled-down policy
in ``tests/manager/scripted_server.py`` gives every class a different delay
(client 0.01 s, InternalServerError and the Unavailable errors 0.03 s,
Unknown 0.05 s, overload 0.09 s).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncwire.backoff import CLIENT
from syncwire.backoff import UNKNOWN
from syncwire.backoff import BackoffPolicy
from syncwire.backoff import classify_disconnect_error
from syncwire.protocol import ActionResponse
from syncwire.protocol import AuthError
from syncwire.protocol import FatalError
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import ProtocolError
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_server_message
from syncwire.transport import WebSocketsTransport
from tests.helpers import Recorder
from tests.helpers import chunked
from tests.helpers import until
from tests.manager.scripted_server import INACTIVITY
from tests.manager.scripted_server import PING
from tests.manager.scripted_server import TIMEOUT
from tests.manager.scripted_server import Script
from tests.manager.scripted_server import ScriptedServer
from tests.manager.scripted_server import Session
from tests.manager.scripted_server import assert_connect_came_first
from tests.manager.scripted_server import expected_delay
from tests.manager.scripted_server import scaled_manager
from tests.manager.scripted_server import scripted_server
from tests.manager.scripted_server import scripted_session

SLACK = 0.25
"""The goal (``--full``): how much later than its backoff delay a reconnect may reach
the server on real time."""
LOADED_SLACK = 5.0
"""The default tier's bound on the same: a stall of a loaded machine is no failure; a
reconnect that never comes is one (one that waits for the inactivity threshold reports
the wrong reason, and one scheduled with the wrong class logs the wrong delay)."""


def response(request_id: int, result: str = "") -> MutationResponse:
    return MutationResponse(
        request_id=request_id, success=True, result=result, ts=request_id, log_lines=()
    )


def transition(query_set: int, value: str = "v") -> Transition:
    return Transition(
        start_version=StateVersion(query_set=query_set, identity=0, ts=query_set),
        end_version=StateVersion(query_set=query_set + 1, identity=0, ts=query_set + 1),
        modifications=(QueryUpdated(query_id=0, value=value, log_lines=(), journal=None),),
    )


def protocol_error(frame: str) -> str:
    try:
        parse_server_message(frame)
    except ProtocolError as exc:
        return str(exc)
    raise AssertionError(f"{frame!r} is a valid server message")


async def recovers(
    server: ScriptedServer,
    recorder: Recorder,
    *,
    reason: str,
    reason_class: str,
    to: int = 1,
    retries: int = 0,
    fault_at: float | None = None,
    slack: float = LOADED_SLACK,
) -> Session:
    """The fault on connection ``to - 1`` ends in a new open (connection ``to``) reporting
    ``reason``, after the delay of ``reason_class`` and within ``slack`` of it on real
    time; returns the new connection."""
    index = to  # the new connection's number, and its connection_count
    faulty = server.sessions[index - 1]
    new = await server.session(index)
    await until(lambda: len(recorder.opens) > index, f"on_open #{index}")
    # on_open was called again, told why the last socket ended.
    _, metadata = recorder.opens[index]
    assert (metadata.connection_count, metadata.last_close_reason) == (index, reason)
    # The reconnect was scheduled with exactly the class's delay (the manager logs it)...
    delay = expected_delay(reason_class, retries)
    assert recorder.reconnect_delays_ms()[index - 1] == round(delay * 1000)
    # ...and the snapshot the observer got at the fault agrees. (One "disconnected" per
    # fault: the faults here never fail a handshake.) On a loaded machine the observer
    # may run a little after the core's step, but never before it.
    noted_at, disconnected = recorder.disconnects()[index - 1]
    assert disconnected.last_close_reason == reason
    assert disconnected.connection_retries == retries + 1
    assert disconnected.next_reconnect_at is not None
    assert delay - slack < disconnected.next_reconnect_at - noted_at <= delay + 1e-6, (
        disconnected.next_reconnect_at - noted_at,
        delay,
    )
    # Then ready again, with the reason cleared (the next fault may already be under way,
    # so this looks at the snapshots, not at the manager now).
    after = [state for at, state in recorder.states if at >= noted_at and state.is_connected]
    assert after, "no ready state after the fault"
    assert (after[0].state, after[0].connection_count, after[0].last_close_reason) == (
        "ready",
        index + 1,
        None,
    )
    # End to end: the server saw the next handshake no sooner than the delay after the
    # fault, and not much later.
    start = faulty.fault_at if fault_at is None else fault_at
    assert start is not None, "the script did not mark its fault"
    assert delay - 0.001 <= new.requested_at - start < delay + slack, (
        new.requested_at - start,
        delay,
    )
    return new


# --------------------------------------------------------------------------- server closes


@dataclass(frozen=True)
class ServerClose:
    script: Script
    reason: str
    """``last_close_reason`` the manager must report."""
    reason_class: str
    disconnect_error: str | None
    """What ``on_server_disconnect_error`` must get (None: quiet close)."""


def closing(code: int, reason: str) -> Script:
    async def script(session: Session) -> None:
        await session.close(code, reason)

    return script


async def close_without_status(session: Session) -> None:
    await session.close_without_status()


async def drop(session: Session) -> None:
    await session.drop()


SERVER_CLOSES = {
    "1011 InternalServerError": ServerClose(
        closing(1011, "InternalServerError"),
        "InternalServerError",
        "InternalServerError",
        "WebSocket closed with code 1011: InternalServerError",
    ),
    "1013 SubscriptionsWorkerFullError": ServerClose(
        closing(1013, "SubscriptionsWorkerFullError"),
        "SubscriptionsWorkerFullError",
        "SubscriptionsWorkerFullError",
        "WebSocket closed with code 1013: SubscriptionsWorkerFullError",
    ),
    "1013 SearchIndexesUnavailable": ServerClose(
        closing(1013, "SearchIndexesUnavailable"),
        "SearchIndexesUnavailable",
        "SearchIndexesUnavailable",
        "WebSocket closed with code 1013: SearchIndexesUnavailable",
    ),
    "4040 no reason": ServerClose(closing(4040, ""), "closed with code 4040", UNKNOWN, None),
    "1000 no reason": ServerClose(closing(1000, ""), "closed with code 1000", UNKNOWN, None),
    "no status (1005)": ServerClose(close_without_status, "closed with code 1005", UNKNOWN, None),
    "TCP drop (1006)": ServerClose(drop, "closed with code 1006", UNKNOWN, None),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", SERVER_CLOSES.values(), ids=SERVER_CLOSES.keys())
async def test_server_close_recovers_with_its_reason_and_backoff_class(
    case: ServerClose, caplog: pytest.LogCaptureFixture, full: bool
) -> None:
    """``--full`` also measures how soon after its delay the reconnect comes (``SLACK``)."""
    assert classify_disconnect_error(case.reason) == case.reason_class
    caplog.set_level(logging.INFO, "syncwire.manager")
    async with scripted_session(case.script) as (server, recorder):
        await server.session(0)
        await recovers(
            server,
            recorder,
            reason=case.reason,
            reason_class=case.reason_class,
            slack=SLACK if full else LOADED_SLACK,
        )
        assert_connect_came_first(server, recorder)
        expected_errors = [] if case.disconnect_error is None else [case.disconnect_error]
        assert recorder.disconnect_errors == expected_errors
        assert f"after disconnect due to {case.reason}" in caplog.text


# --------------------------------------------------------------------------- bad input


@dataclass(frozen=True)
class BadInput:
    frames: tuple[str | bytes, ...]
    reason: str


TRANSITION = transition(7)
PARTS_A = chunked(encode_server_message(TRANSITION), 3, "A")
PARTS_B = chunked(encode_server_message(transition(9)), 3, "B")

BAD_INPUTS = {
    "malformed JSON": BadInput(
        ("{not json",), "InvalidServerMessage: " + protocol_error("{not json")
    ),
    "unknown message type": BadInput(
        ('{"type":"Nope"}',), "InvalidServerMessage: " + protocol_error('{"type":"Nope"}')
    ),
    "binary frame": BadInput((b"\x00\x01\x02",), "BinaryFrame"),
    "chunk: part 1 first": BadInput(
        (PARTS_A[1],), "InvalidTransitionChunk: TransitionChunk part 1 arrived first, expected 0"
    ),
    "chunk: part 2 after part 0": BadInput(
        (PARTS_A[0], PARTS_A[2]),
        "InvalidTransitionChunk: TransitionChunk received out of order: expected part 1, got 2",
    ),
    "chunk: part of another transition": BadInput(
        (PARTS_A[0], PARTS_B[1]),
        "InvalidTransitionChunk: TransitionChunk from another transition arrived mid-sequence",
    ),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
async def test_bad_input_recovers_with_client_backoff(
    case: BadInput, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(session: Session) -> None:
        await session.send(*case.frames)
        # The client answers with a close (not a dropped socket).
        await asyncio.wait_for(session.ended.wait(), TIMEOUT)

    caplog.set_level(logging.ERROR, "syncwire.manager")
    async with scripted_session(script) as (server, recorder):
        await server.session(0)
        await recovers(server, recorder, reason=case.reason, reason_class=CLIENT)
        assert_connect_came_first(server, recorder)
        assert server.sessions[0].close_received() == 1000
        assert recorder.messages == []
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert errors[0].startswith(case.reason + " (")


@pytest.mark.asyncio
async def test_a_non_chunk_mid_sequence_is_processed_and_drops_the_buffer() -> None:
    """Part 0 of A, a MutationResponse, part 1 of A: the response reaches on_message,
    then part 1 is refused as a first part. Had the buffer survived, part 1 would be
    accepted: the first connection (the control) assembles A from the same frames."""
    interruption = encode_server_message(response(1))

    async def control(session: Session) -> None:
        await session.send(*PARTS_A, fault=False)
        await until(lambda: len(recorder.messages) == 1, "the assembled Transition")
        await session.close(1011, "InternalServerError")

    async def interrupted(session: Session) -> None:
        await session.send(PARTS_A[0], interruption, fault=False)
        await until(lambda: len(recorder.messages) == 2, "the interruption in on_message")
        await session.send(PARTS_A[1])
        await asyncio.wait_for(session.ended.wait(), TIMEOUT)

    async with scripted_session(control, interrupted) as (server, recorder):
        await server.session(0)
        ise = "InternalServerError"
        await recovers(server, recorder, reason=ise, reason_class=ise)
        assert recorder.messages[0] == TRANSITION
        await recovers(
            server,
            recorder,
            reason="InvalidTransitionChunk: TransitionChunk part 1 arrived first, expected 0",
            reason_class=CLIENT,
            to=2,
            retries=1,
        )
        assert recorder.messages == [TRANSITION, response(1)]
        assert_connect_came_first(server, recorder)


# --------------------------------------------------------------------------- silence


@pytest.mark.asyncio
async def test_a_silent_server_is_left_after_the_inactivity_threshold() -> None:
    async def silent(session: Session) -> None:
        await session.silent()

    async with scripted_session(silent) as (server, recorder):
        first = await server.session(0)
        # The threshold runs from the socket's creation; the handshake request is
        # the server's earliest sight of it.
        new = await recovers(
            server,
            recorder,
            reason="InactiveServer",
            reason_class=CLIENT,
            fault_at=first.requested_at + INACTIVITY,
        )
        assert new.requested_at - first.requested_at >= INACTIVITY
        # The client closed the silent socket properly (in the background).
        await asyncio.wait_for(first.ended.wait(), TIMEOUT)
        assert first.close_received() == 1000
        # A pinging server keeps the connection, well past the threshold.
        await asyncio.sleep(2 * INACTIVITY)
        assert server.attempts == 2
        assert recorder.manager.connection_state().is_connected
        assert_connect_came_first(server, recorder)


# --------------------------------------------------------------------------- size limit

LIMIT = 4096


def message_of_size(size: int, request_id: int) -> str:
    """A valid MutationResponse frame of exactly ``size`` bytes."""
    frame = encode_server_message(response(request_id))
    frame = encode_server_message(response(request_id, "x" * (size - len(frame))))
    assert len(frame.encode()) == size
    return frame


@pytest.mark.asyncio
async def test_the_message_size_limit_is_inclusive() -> None:
    async def sizes(session: Session) -> None:
        await session.send(message_of_size(LIMIT, 1), fault=False)
        await until(lambda: len(recorder.messages) == 1, "the message of the limit's size")
        await session.send(message_of_size(LIMIT + 1, 2))
        await asyncio.wait_for(session.ended.wait(), TIMEOUT)

    async with scripted_server(sizes) as server:
        recorder = scaled_manager(
            server.url,
            transport=WebSocketsTransport(max_message_size=LIMIT),
        )
        try:
            await server.session(0)
            await recovers(server, recorder, reason="MessageTooLarge", reason_class=CLIENT)
            assert recorder.messages == [parse_server_message(message_of_size(LIMIT, 1))]
            # The client said why it closed.
            assert server.sessions[0].close_received() == 1009
            assert_connect_came_first(server, recorder)
        finally:
            await recorder.manager.terminate()


@pytest.mark.asyncio
async def test_an_oversized_message_is_logged_with_a_real_size(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bad input is logged at error with its size; -1 is not a size (docs/manager.md#bad-input)."""

    async def oversized(session: Session) -> None:
        await session.send(message_of_size(LIMIT + 1, 1))
        await asyncio.wait_for(session.ended.wait(), TIMEOUT)

    caplog.set_level(logging.ERROR, "syncwire.manager")
    async with scripted_session(
        oversized, transport=WebSocketsTransport(max_message_size=LIMIT)
    ) as (server, recorder):
        await server.session(0)
        await recovers(server, recorder, reason="MessageTooLarge", reason_class=CLIENT)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("MessageTooLarge")
    assert "-1" not in errors[0], errors[0]


@pytest.mark.asyncio
async def test_a_text_frame_that_is_not_utf8_is_bad_input(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Malformed input from the server is answered like the other bad input
    (reconnect with class client, an error log), and it is not a server disconnect
    (docs/manager.md#bad-input)."""

    async def not_utf8(session: Session) -> None:
        session.fault()
        await session.ws.send(b'{"type":"\xff"}', text=True)
        await asyncio.wait_for(session.ended.wait(), TIMEOUT)

    caplog.set_level(logging.INFO, "syncwire.manager")
    async with scripted_session(not_utf8) as (server, recorder):
        await server.session(1)
        await until(lambda: len(recorder.opens) == 2, "the reconnect")
        reason = recorder.opens[1][1].last_close_reason
        assert reason is not None
        assert recorder.disconnect_errors == []
        assert any(r.levelno == logging.ERROR for r in caplog.records)
        await recovers(server, recorder, reason=reason, reason_class=CLIENT)


# --------------------------------------------------------------------------- send failure


@pytest.mark.asyncio
async def test_a_failed_write_reconnects_with_failed_to_send_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's socket goes away with a TCP reset; the next write the manager makes
    on it fails at once, before its reader has noticed the reset.

    The reset is made here, not in a server task: after the server socket is closed
    (asyncio closes it one loop iteration after ``abort()``), nothing yields to the
    loop until ``send_message`` returned, so the reader cannot see the reset first.
    The short blocking sleep lets the kernel deliver the RST to the client's socket.
    """
    caplog.set_level(logging.INFO, "syncwire.manager")
    async with scripted_server() as server:
        recorder = scaled_manager(server.url)
        manager = recorder.manager
        try:
            session = await server.session(0)
            session.reset()
            for _ in range(100):  # one loop iteration at a time: stop as soon as it is shut
                await asyncio.sleep(0)
                if session.socket_closed():
                    break
            else:
                pytest.fail("the server socket did not close")
            time.sleep(0.02)  # noqa: ASYNC251 - on purpose: no loop iteration may run here
            assert manager.send_message(Mutation(request_id=1, udf_path="a:b", args={}))
            assert manager.connection_state().state == "disconnected"
            assert manager.connection_state().last_close_reason == "FailedToSendMessage"
            await recovers(server, recorder, reason="FailedToSendMessage", reason_class=CLIENT)
            assert "Failed to send message on WebSocket, reconnecting: write failed" in caplog.text
            assert_connect_came_first(server, recorder)
        finally:
            await manager.terminate()


# --------------------------------------------------------------------------- messages


@pytest.mark.asyncio
async def test_on_message_gets_every_valid_message_in_order() -> None:
    messages: list[ServerMessage] = [
        *(response(i) for i in range(40)),
        ActionResponse(request_id=40, success=True, result={"n": 1}, log_lines=("log",)),
        TRANSITION,
        AuthError(error="expired", base_version=1, auth_update_attempted=True),
        transition(20, "é" * 100),  # chunked below
        FatalError(error="bye"),
        *(response(i) for i in range(41, 60)),
    ]
    frames: list[str] = []
    for i, message in enumerate(messages):
        if isinstance(message, Transition) and message.start_version.query_set == 20:
            frames.extend(chunked(encode_server_message(message), 4, "big"))
        else:
            frames.append(encode_server_message(message))
        if i % 5 == 0:
            frames.append(PING)

    async def burst(session: Session) -> None:
        await session.send(*frames, fault=False)

    async with scripted_session(burst) as (server, recorder):
        await until(lambda: len(recorder.messages) >= len(messages), "every message")
        assert recorder.messages == messages
        assert server.attempts == 1
        assert recorder.manager.connection_state().is_connected
        assert_connect_came_first(server, recorder)


# --------------------------------------------------------------------------- reconnect chain


@pytest.mark.asyncio
async def test_connect_comes_first_on_every_reconnect_and_backoff_grows() -> None:
    """Five faults in a row: each new socket's first frame is Connect with the right
    count and reason; delays double per retry until a synced message (not a Ping)
    resets them."""

    async def send_garbage(session: Session) -> None:
        await session.send("garbage")

    async def sync_then_overload(session: Session) -> None:
        await session.send(PING, PING, encode_server_message(response(1)), fault=False)
        await until(lambda: len(recorder.messages) == 1, "the response in on_message")
        await session.close(1013, "SubscriptionsWorkerFullError")

    scripts = [
        closing(1011, "InternalServerError"),
        closing(1011, "InternalServerError"),
        send_garbage,
        drop,
        sync_then_overload,
    ]
    async with scripted_session(*scripts, recorder=Recorder(synced=True)) as (server, recorder):
        await server.session(0)
        ise = "InternalServerError"
        await recovers(server, recorder, reason=ise, reason_class=ise)
        await recovers(server, recorder, reason=ise, reason_class=ise, to=2, retries=1)
        garbage = "InvalidServerMessage: " + protocol_error("garbage")
        await recovers(server, recorder, reason=garbage, reason_class=CLIENT, to=3, retries=2)
        dropped = "closed with code 1006"
        await recovers(server, recorder, reason=dropped, reason_class=UNKNOWN, to=4, retries=3)
        overload = "SubscriptionsWorkerFullError"
        await recovers(server, recorder, reason=overload, reason_class=overload, to=5)
        # Two Pings came before the response and did not reset the retries.
        assert recorder.retries_seen == [4]
        assert recorder.messages == [response(1)]
        assert_connect_came_first(server, recorder)


# --------------------------------------------------------------------------- stop, terminate


SLOW_RECONNECT = BackoffPolicy(client_initial=0.01, unknown_initial=0.4, max_backoff=1.0)
"""For tests that act while a reconnect is scheduled: a window no stall on a loaded
machine closes before the test gets to run."""


@pytest.mark.asyncio
async def test_stop_returns_once_the_server_saw_the_close_and_stays_stopped() -> None:
    async with scripted_server(closing(4040, "")) as server:
        recorder = scaled_manager(server.url, backoff=SLOW_RECONNECT)
        manager = recorder.manager
        try:
            # Stopping while a reconnect is scheduled cancels it.
            await server.session(0)
            await until(lambda: bool(recorder.disconnects()), "the close")
            assert manager.connection_state().next_reconnect_at is not None
            await asyncio.wait_for(manager.stop(), TIMEOUT)
            assert manager.socket_state() == "stopped"
            assert manager.connection_state().next_reconnect_at is None, "nothing scheduled"
            # And nothing comes when the cancelled reconnect was due (a stall only delays
            # a wrong reconnect past this window: it cannot fail the test).
            await asyncio.sleep(SLOW_RECONNECT.unknown_initial + 0.1)
            assert server.attempts == 1
            # Stopping a ready socket: returns only once the server has the close frame.
            manager.try_restart()
            session = await server.session(1)
            await until(lambda: manager.connection_state().is_connected, "ready")
            assert session.close_received() is None
            await asyncio.wait_for(manager.stop(), TIMEOUT)
            assert session.close_received() == 1000
            assert manager.socket_state() == "stopped"
            assert manager.connection_state().next_reconnect_at is None, "nothing scheduled"
            await asyncio.sleep(10 * SLOW_RECONNECT.client_initial)  # when one would be due
            assert server.attempts == 2
            assert_connect_came_first(server, recorder)
        finally:
            await manager.terminate()


def client_sockets_to(port: int) -> int:
    """How many of this process's open TCP sockets are connected to ``port`` (Linux)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rpartition(":")[2], 16)
            if remote_port == port and fields[9] in inodes:
                count += 1
    return count


def server_task(task: asyncio.Task[object]) -> bool:
    """Tasks of the scripted server, which outlive the client by design."""
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return filename.endswith(
        (
            os.path.join("websockets", "asyncio", "server.py"),
            os.path.join("tests", "transport", "servers.py"),
            os.path.join("tests", "manager", "scripted_server.py"),
        )
    )


@pytest.mark.asyncio
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("when", ["ready", "disconnected", "connecting"])
async def test_terminate_leaves_no_task_and_no_socket(when: str) -> None:
    test_task = asyncio.current_task()
    assert {t for t in asyncio.all_tasks() if not server_task(t)} == {test_task}
    scripts = [closing(4040, "")] if when == "disconnected" else []
    async with scripted_server(*scripts) as server:
        recorder = scaled_manager(server.url, backoff=SLOW_RECONNECT)
        manager = recorder.manager
        try:
            if when == "ready":
                session = await server.session(0)
                await until(lambda: client_sockets_to(server.port) == 1, "the client socket")
            elif when == "disconnected":
                await until(lambda: bool(recorder.disconnects()), "the close")
                assert manager.connection_state().next_reconnect_at is not None
            # else: terminate while the first handshake is in flight.
            clients = {t for t in asyncio.all_tasks() if not server_task(t)} - {test_task}
            if when != "disconnected":
                assert clients, "the control: the manager had tasks to clean up"
            await asyncio.wait_for(manager.terminate(), TIMEOUT)
            assert {t for t in asyncio.all_tasks() if not server_task(t)} == {test_task}
            assert client_sockets_to(server.port) == 0
            assert manager.connection_state().state == "terminated"
            if when == "ready":
                assert session.close_received() == 1000
            await asyncio.sleep(SLOW_RECONNECT.unknown_initial + 0.1)
            assert server.attempts <= 1
        finally:
            await manager.terminate()
    assert asyncio.all_tasks() == {test_task}
