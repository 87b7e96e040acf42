"""The Sans-I/O manager core, rule by rule (docs/manager.md#behaviour), on plain float time."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from syncwire._core.machine import CallOnOpen
from syncwire._core.machine import CallOnResume
from syncwire._core.machine import CloseSocket
from syncwire._core.machine import ManagerCore
from syncwire._core.machine import OpenSocket
from syncwire._core.machine import ReportServerDisconnectError
from syncwire._core.machine import SendFrame
from syncwire._core.machine import StateChanged
from syncwire._core.states import STATE_LABELS
from syncwire._core.states import Connecting
from syncwire._core.states import Disconnected
from syncwire._core.states import Ready
from syncwire._core.states import ReconnectMetadata
from syncwire._core.states import Stopped
from syncwire._core.states import Terminated
from syncwire._core.states import state_label
from syncwire.backoff import SERVER_DISCONNECT_ERRORS
from syncwire.backoff import BackoffPolicy
from syncwire.backoff import next_backoff
from syncwire.protocol import Event
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import ProtocolError
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_client_message
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_server_message
from tests.core.cores import EPOCH
from tests.core.cores import make_core
from tests.core.cores import ready_core
from tests.helpers import RESPONSE
from tests.helpers import chunked

PING = '{"type":"Ping"}'


def client_ts(now: float) -> int:
    """``ReconnectMetadata.client_ts`` for loop time ``now``: the wall clock in ms."""
    return round((EPOCH + now) * 1000)


# --- start: docs/manager.md#start -----------------------------------------------


def test_start_opens_the_first_socket_at_once() -> None:
    core = make_core()
    assert state_label(core.state) == "disconnected"
    assert core.next_deadline() is None
    core.start(5.0)
    assert core.state == Connecting(attempt=1)
    assert core.take_actions() == [StateChanged(), OpenSocket(1)]
    snapshot = core.connection_state()
    assert (snapshot.connection_count, snapshot.connection_retries) == (0, 0)
    assert snapshot.last_close_reason == "InitialConnect"
    assert not snapshot.has_ever_connected


# --- inactivity: docs/manager.md#inactivity -------------------------------------


def test_a_hung_handshake_is_caught_at_exactly_the_threshold() -> None:
    core = make_core()
    core.start(10.0)
    core.take_actions()
    assert core.next_deadline() == 70.0
    core.handle_timeout(69.999)
    assert core.take_actions() == []
    core.handle_timeout(70.0)
    assert core.take_actions() == [CloseSocket(1), StateChanged()]
    assert core.state == Disconnected(reconnect_at=70.1)  # class "client": 0.1 s
    assert core.connection_state().last_close_reason == "InactiveServer"


def test_every_frame_pushes_the_inactivity_deadline_pings_included() -> None:
    core = ready_core(now=0.0)
    assert core.next_deadline() == 60.0
    assert core.frame_received(1, PING, 50.0) is None
    assert core.next_deadline() == 110.0
    core.handle_timeout(60.0)  # the old deadline: nothing happens, the new one stands
    assert core.take_actions() == []
    assert core.next_deadline() == 110.0
    core.handle_timeout(110.0)
    assert core.take_actions()[0] == CloseSocket(1)


def test_the_threshold_is_a_parameter() -> None:
    core = make_core(inactivity_threshold=0.25)
    core.start(0.0)
    assert core.next_deadline() == 0.25


# --- open: docs/manager.md#open -------------------------------------------------


def test_first_open_reports_initial_connect_and_counts_afterwards(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = make_core()
    core.start(0.0)
    core.take_actions()
    with caplog.at_level(logging.INFO, "tests.core"):
        core.socket_opened(1, 0.25)
    assert core.take_actions() == [
        StateChanged(),
        CallOnOpen(1, ReconnectMetadata(0, "InitialConnect", client_ts(0.25))),
    ]
    assert core.state == Ready(attempt=1)
    state = core.connection_state()
    assert (state.connection_count, state.last_close_reason) == (1, None)
    assert state.is_connected
    assert state.has_ever_connected
    assert not [r for r in caplog.records if "reconnected" in r.getMessage()]


def test_reconnect_reports_the_previous_close_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = ready_core(now=0.0)
    core.socket_closed(1, 1011, "InternalServerError: test restart", 1.0)
    core.take_actions()
    core.handle_timeout(2.0)  # 1 s backoff for InternalServerError
    assert core.take_actions() == [StateChanged(), OpenSocket(2)]
    with caplog.at_level(logging.INFO, "tests.core"):
        core.socket_opened(2, 2.5)
    assert core.take_actions()[-1] == CallOnOpen(
        2, ReconnectMetadata(1, "InternalServerError: test restart", client_ts(2.5))
    )
    assert (
        "WebSocket reconnected at t=2.5s after disconnect due to InternalServerError: test restart"
        in caplog.messages
    )
    assert core.connection_state().connection_count == 2


# --- receive: docs/manager.md#receive -------------------------------------------


def test_messages_reach_on_message_but_pings_do_not() -> None:
    core = ready_core()
    message = core.frame_received(1, RESPONSE.encode(), 1.0)
    assert isinstance(message, MutationResponse)
    assert core.frame_received(1, PING, 2.0) is None


def test_only_a_synced_message_resets_retries() -> None:
    core = ready_core()
    for attempt in (1, 2, 3):
        core.socket_closed(attempt, 1011, "InternalServerError", 0.0)
        core.handle_timeout(100.0)
        core.socket_opened(attempt + 1, 100.0)
    core.take_actions()
    assert core.connection_state().connection_retries == 3
    core.frame_received(4, PING, 101.0)
    core.message_handled(synced_past_last_reconnect=False)
    assert core.connection_state().connection_retries == 3
    assert core.take_actions() == []
    core.message_handled(synced_past_last_reconnect=True)
    assert core.connection_state().connection_retries == 0
    assert core.take_actions() == [StateChanged()]


# --- docs/manager.md#close, docs/manager.md#backoff ----------------------------

ALL_PREFIXES = sorted(SERVER_DISCONNECT_ERRORS)


def test_the_table_has_the_seeds_fourteen_prefixes() -> None:
    assert len(SERVER_DISCONNECT_ERRORS) == 14
    slow = {k for k, v in SERVER_DISCONNECT_ERRORS.items() if v == 3.0}
    assert slow == {
        "SubscriptionsWorkerFullError",
        "TooManyConcurrentRequests",
        "CommitterFullError",
        "AwsTooManyRequestsException",
        "ExecuteFullError",
        "SystemTimeoutError",
        "ExpiredInQueue",
        "VectorIndexTooLarge",
        "SearchIndexTooLarge",
        "TooManyWritesInTimePeriod",
    }


@pytest.mark.parametrize(
    ("reason", "initial"),
    [(p, SERVER_DISCONNECT_ERRORS[p]) for p in ALL_PREFIXES]
    + [
        ("SubscriptionsWorkerFullError: more detail", 3.0),
        ("", 1.0),
        ("SomethingNew", 1.0),
        ("internalservererror", 1.0),  # prefixes are case-sensitive, as in the seed
    ],
)
@pytest.mark.parametrize("code", [1000, 1001, 1005, 1011, 1013, 4040])
def test_every_close_reconnects_with_the_reasons_backoff(
    reason: str, initial: float, code: int
) -> None:
    core = ready_core()
    core.socket_closed(1, code, reason, 10.0)
    assert core.state == Disconnected(reconnect_at=10.0 + initial)
    assert core.connection_state().last_close_reason == (reason or f"closed with code {code}")


@pytest.mark.parametrize("code", [1000, 1001, 1005, 4040])
def test_quiet_codes_are_not_reported(code: int, caplog: pytest.LogCaptureFixture) -> None:
    core = ready_core()
    with caplog.at_level(logging.INFO, "tests.core"):
        core.socket_closed(1, code, "InternalServerError", 0.0)
    assert ReportServerDisconnectError not in {type(a) for a in core.take_actions()}
    assert not [m for m in caplog.messages if m.startswith("WebSocket closed")]


@pytest.mark.parametrize(("code", "reason"), [(1011, "InternalServerError"), (1013, "")])
def test_other_codes_are_logged_and_reported_when_they_have_a_reason(
    code: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    core = ready_core()
    with caplog.at_level(logging.INFO, "tests.core"):
        core.socket_closed(1, code, reason, 0.0)
    text = f"WebSocket closed with code {code}" + (f": {reason}" if reason else "")
    assert text in caplog.messages
    reports = [a for a in core.take_actions() if isinstance(a, ReportServerDisconnectError)]
    assert reports == ([ReportServerDisconnectError(text)] if reason else [])


def test_a_failed_handshake_keeps_the_previous_close_reason() -> None:
    core = ready_core()
    core.socket_closed(1, 1013, "SubscriptionsWorkerFullError", 0.0)
    core.handle_timeout(10.0)
    core.socket_closed(2, 1006, "", 10.5)  # never opened
    assert core.connection_state().last_close_reason == "SubscriptionsWorkerFullError"
    assert core.state == Disconnected(reconnect_at=10.5 + 2.0)  # Unknown class, retries=1


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999999])
def test_delays_double_per_retry_and_cap_before_jitter(rand: float) -> None:
    policy = BackoffPolicy()
    for retries, capped in enumerate([3.0, 6.0, 12.0, 16.0, 16.0]):
        delay = next_backoff("SubscriptionsWorkerFullError", retries, lambda: rand, policy)
        assert delay == pytest.approx(capped + capped * (rand - 0.5))
        assert 0.5 * capped <= delay < 1.5 * capped


def test_backoff_never_overflows_for_a_long_dead_server() -> None:
    delay = next_backoff("client", 100_000, lambda: 0.5, BackoffPolicy())
    assert delay == 16.0


def test_backoff_policy_is_data_and_checked() -> None:
    policy = BackoffPolicy(client_initial=0.01, max_backoff=0.5)
    assert next_backoff("client", 10, lambda: 0.5, policy) == 0.5
    with pytest.raises(ValueError, match="positive"):
        BackoffPolicy(max_backoff=0)


# --- client-initiated reconnect: docs/manager.md#client-reconnect ---------------


def test_client_reconnect_closes_in_the_background_and_schedules_at_once() -> None:
    core = ready_core()
    core.handle_timeout(60.0)
    assert core.take_actions() == [CloseSocket(1), StateChanged()]
    assert core.state == Disconnected(reconnect_at=60.1)
    core.socket_closed(1, 1000, "", 60.05)  # the late close of the old socket
    assert core.take_actions() == []
    assert core.state == Disconnected(reconnect_at=60.1)


# --- send: docs/manager.md#send -------------------------------------------------

MUTATION = Mutation(request_id=1, udf_path="messages:send", args={"body": "hi"})


def test_send_in_ready_hands_the_exact_frame_to_the_socket() -> None:
    core = ready_core()
    assert core.send(MUTATION) == SendFrame(1, encode_client_message(MUTATION))
    assert core.take_actions() == []  # the driver writes the returned frame itself


def test_send_elsewhere_returns_false_and_logs_why(caplog: pytest.LogCaptureFixture) -> None:
    core = make_core()
    with caplog.at_level(logging.DEBUG, "tests.core"):
        assert core.send(MUTATION) is None
    assert (
        'message not sent (socket state: disconnected, paused: undefined): {"type":"Mutation"}'
        in caplog.messages
    )
    core.start(0.0)
    assert core.send(MUTATION) is None
    core.socket_opened(1, 0.0)
    core.pause()
    assert core.send(MUTATION) is None


def test_a_send_failure_reconnects_as_failed_to_send(caplog: pytest.LogCaptureFixture) -> None:
    core = ready_core()
    with caplog.at_level(logging.INFO, "tests.core"):
        core.send_failed(1, "broken pipe", 3.0)
    assert "Failed to send message on WebSocket, reconnecting: broken pipe" in caplog.messages
    assert core.take_actions() == [CloseSocket(1), StateChanged()]
    assert core.connection_state().last_close_reason == "FailedToSendMessage"
    assert core.state == Disconnected(reconnect_at=3.1)


# --- docs/manager.md#stop, docs/manager.md#restart, docs/manager.md#terminate ---


def test_stop_during_backoff_cancels_the_scheduled_reconnect() -> None:
    """Upstream keeps the timer, so a stopped manager reconnects by itself; we do not."""
    core = ready_core()
    core.socket_closed(1, 1011, "InternalServerError", 0.0)
    assert core.next_deadline() == 1.0
    core.stop()
    assert core.state == Stopped()
    assert core.next_deadline() is None
    core.take_actions()
    core.handle_timeout(1.0)
    core.handle_timeout(1000.0)
    assert core.take_actions() == []
    core.try_restart(1000.0)
    assert core.take_actions() == [StateChanged(), OpenSocket(2)]


def test_stop_closes_the_socket_and_restart_reconnects() -> None:
    core = ready_core()
    core.stop()
    assert core.take_actions() == [CloseSocket(1), StateChanged()]
    core.stop()  # stopping twice changes nothing
    assert core.take_actions() == []
    core.try_restart(5.0)
    assert core.state == Connecting(attempt=2)


def test_restart_without_stop_is_a_logged_no_op(caplog: pytest.LogCaptureFixture) -> None:
    core = ready_core()
    with caplog.at_level(logging.DEBUG, "tests.core"):
        core.try_restart(1.0)
    assert "Restart called without stopping first" in caplog.messages
    assert core.take_actions() == []


@pytest.mark.parametrize("closes", [True, False])
def test_terminate_is_final_and_idempotent(closes: bool) -> None:
    core = ready_core() if closes else make_core()
    core.terminate()
    assert core.take_actions() == ([CloseSocket(1)] if closes else []) + [StateChanged()]
    core.terminate()
    core.stop()
    core.try_restart(1.0)
    core.resume()
    core.handle_timeout(1e9)
    assert core.take_actions() == []
    assert core.state == Terminated()
    assert core.next_deadline() is None
    assert core.send(MUTATION) is None


# --- pause and resume: docs/manager.md#pause-resume -----------------------------


def test_resume_after_pause_calls_on_resume() -> None:
    core = ready_core()
    core.pause()
    assert core.state == Ready(1, "yes")
    assert core.connection_state().paused
    core.take_actions()
    core.resume()
    assert core.take_actions() == [StateChanged(), CallOnResume(1)]


def test_open_while_paused_defers_on_open_with_the_metadata_of_the_open() -> None:
    """Upstream passes already-incremented values to the deferred on_open; we do not."""
    core = make_core()
    core.start(0.0)
    core.pause()
    core.socket_opened(1, 1.0)
    assert core.state == Ready(
        1, "uninitialized", ReconnectMetadata(0, "InitialConnect", client_ts(1.0))
    )
    assert CallOnOpen not in {type(a) for a in core.take_actions()}
    assert not core.connection_state().has_ever_connected
    core.resume()
    assert core.take_actions() == [
        StateChanged(),
        CallOnOpen(1, ReconnectMetadata(0, "InitialConnect", client_ts(1.0))),
    ]
    assert core.connection_state().has_ever_connected


def test_pausing_a_deferred_open_keeps_it_deferred() -> None:
    """Upstream turns 'uninitialized' into 'yes', so on_open (and Connect) is never sent."""
    core = make_core()
    core.start(0.0)
    core.pause()
    core.socket_opened(1, 1.0)
    core.pause()
    assert core.state.paused == "uninitialized"  # type: ignore[union-attr]
    core.take_actions()
    core.resume()
    assert isinstance(core.take_actions()[-1], CallOnOpen)


def test_resume_while_connecting_just_unpauses() -> None:
    core = make_core()
    core.start(0.0)
    core.pause()
    assert core.state == Connecting(1, paused=True)
    core.resume()
    assert core.state == Connecting(1, paused=False)
    core.socket_opened(1, 1.0)
    assert isinstance(core.take_actions()[-1], CallOnOpen)


# --- docs/manager.md#reconnect-immediately --------------------------------------


def test_reconnect_immediately_skips_the_wait_and_reports_the_time_saved() -> None:
    core = ready_core()
    core.socket_closed(1, 1013, "SubscriptionsWorkerFullError", 10.0)  # due at 13.0
    retries = core.connection_state().connection_retries
    core.take_actions()
    core.try_reconnect_immediately(11.0)
    assert core.take_actions() == [StateChanged(), OpenSocket(2)]
    assert core.connection_state().connection_retries == retries
    core.socket_opened(2, 11.5)
    sends = [a for a in core.take_actions() if isinstance(a, SendFrame)]
    expected = Event(event_type="NetworkRecoveryReconnect", event={"timeSavedMs": 2000.0})
    assert sends == [SendFrame(2, encode_client_message(expected))]


def test_reconnect_immediately_only_acts_while_disconnected() -> None:
    core = ready_core()
    core.try_reconnect_immediately(1.0)
    core.stop()
    core.take_actions()
    core.try_reconnect_immediately(2.0)
    assert core.take_actions() == []


# --- large transitions: docs/manager.md#large-transitions -----------------------


def _transition(skew: int | None, server_ts: int | None) -> Transition:
    version = StateVersion(query_set=0, identity=0, ts=0)
    return Transition(
        start_version=version,
        end_version=version,
        modifications=(),
        client_clock_skew=skew,
        server_ts=server_ts,
    )


def test_a_slow_transition_is_logged_and_with_debug_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = ready_core(report_debug_info=True)
    # Sent at wall time EPOCH + 10 s (server clock = client clock), received at 35 s.
    frame = encode_server_message(_transition(0, (int(EPOCH) + 10) * 10**9))
    with caplog.at_level(logging.INFO, "tests.core"):
        assert core.frame_received(1, frame, 35.0) is not None
    assert any("took more than 20s to arrive (25000ms)" in m for m in caplog.messages)
    (send,) = core.take_actions()
    assert isinstance(send, SendFrame)
    assert '"eventType":"ClientReceivedTransition"' in send.text
    assert '"transitionTransitTime":25000' in send.text


def test_transitions_without_timing_are_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    core = ready_core(report_debug_info=True)
    with caplog.at_level(logging.DEBUG, "tests.core"):
        core.frame_received(1, encode_server_message(_transition(None, 1)), 35.0)
    assert core.take_actions() == []
    assert not [m for m in caplog.messages if "transition in" in m]


# --- TransitionChunks: docs/manager.md#transition-chunks ------------------------


def test_chunks_are_assembled_into_one_transition() -> None:
    core = ready_core()
    text = encode_server_message(_transition(None, None))
    frames = chunked(text, 3, "t")
    assert core.frame_received(1, frames[0], 1.0) is None
    assert core.frame_received(1, frames[1], 2.0) is None
    assert core.frame_received(1, frames[2], 3.0) == _transition(None, None)


@pytest.mark.parametrize(
    "order",
    [[1], [0, 2], [0, 0]],
)
def test_chunks_out_of_order_are_bad_input(order: list[int]) -> None:
    core = ready_core()
    frames = chunked(encode_server_message(_transition(None, None)), 3, "t")
    for index in order:
        core.frame_received(1, frames[index], 1.0)
    assert isinstance(core.state, Disconnected)
    reason = core.connection_state().last_close_reason
    assert reason is not None
    assert reason.startswith("InvalidTransitionChunk")


def test_a_chunk_from_another_transition_is_bad_input() -> None:
    core = ready_core()
    text = encode_server_message(_transition(None, None))
    core.frame_received(1, chunked(text, 3, "a")[0], 1.0)
    core.frame_received(1, chunked(text, 3, "b")[1], 1.0)
    assert isinstance(core.state, Disconnected)


def test_a_message_mid_sequence_drops_the_chunks_and_is_processed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = ready_core()
    frames = chunked(encode_server_message(_transition(None, None)), 2, "t")
    core.frame_received(1, frames[0], 1.0)
    with caplog.at_level(logging.INFO, "tests.core"):
        assert isinstance(core.frame_received(1, RESPONSE, 1.0), MutationResponse)
    assert (
        "Received unexpected MutationResponse while buffering TransitionChunks" in caplog.messages
    )
    core.frame_received(1, frames[1], 1.0)  # now out of order
    assert isinstance(core.state, Disconnected)


def test_the_chunk_buffer_is_bounded_and_cleared_on_close() -> None:
    core = ready_core(max_transition_size=10)
    frames = chunked(encode_server_message(_transition(None, None)), 2, "t")
    core.frame_received(1, frames[0], 1.0)
    assert isinstance(core.state, Disconnected)
    assert "exceeds 10 characters" in (core.connection_state().last_close_reason or "")
    core = ready_core()
    core.frame_received(1, frames[0], 1.0)
    core.socket_closed(1, 1000, "", 2.0)
    core.handle_timeout(10.0)
    core.socket_opened(2, 10.0)
    core.frame_received(2, frames[1], 11.0)  # the old first half is gone
    assert isinstance(core.state, Disconnected)


# --- bad input: docs/manager.md#bad-input ---------------------------------------


@pytest.mark.parametrize(
    "frame",
    ["not json", '{"type":"Nope"}', b"\xff", '{"type":"FatalError"}', "[]"],
)
def test_bad_input_reconnects_with_class_client_and_a_reason(
    frame: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    core = ready_core()
    with caplog.at_level(logging.ERROR, "tests.core"):
        assert core.frame_received(1, frame, 5.0) is None
    assert core.state == Disconnected(reconnect_at=5.1)
    with pytest.raises(ProtocolError) as parsed:  # the parser's verdict, in syncwire's words
        parse_server_message(frame)
    assert core.connection_state().last_close_reason == f"InvalidServerMessage: {parsed.value}"
    mine = [r for r in caplog.records if r.name == "tests.core"]
    assert len(mine) == 1, [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    (record,) = mine
    assert record.levelno == logging.ERROR, [r.getMessage() for r in caplog.records]
    assert f"frame of {len(frame)} characters" in record.getMessage()


def test_protocol_violations_from_the_transport_reconnect() -> None:
    core = ready_core()
    core.protocol_violation(1, "BinaryFrame", "binary frame of 12 bytes", 1.0)
    assert core.connection_state().last_close_reason == "BinaryFrame"
    assert core.state == Disconnected(reconnect_at=1.1)


# --- stale sockets --------------------------------------------------------------------------------


def test_events_from_an_old_socket_are_dropped() -> None:
    core = ready_core()
    core.handle_timeout(60.0)  # attempt 1 abandoned
    core.handle_timeout(60.1)  # attempt 2 connecting
    core.take_actions()
    core.socket_opened(1, 60.2)
    assert core.frame_received(1, RESPONSE, 60.2) is None
    core.socket_closed(1, 1011, "InternalServerError", 60.2)
    core.send_failed(1, "x", 60.2)
    core.protocol_violation(1, "BinaryFrame", "binary frame of 1 bytes", 60.2)
    assert core.take_actions() == []
    assert core.state == Connecting(attempt=2)


# --- the whole state × command matrix ---------------------------------------------


def _start(core: ManagerCore) -> None:
    core.start(0.0)


def _open(core: ManagerCore) -> None:
    core.socket_opened(1, 0.0)


def _pause(core: ManagerCore) -> None:
    core.pause()


SETUPS: dict[str, list[Callable[[ManagerCore], None]]] = {
    "disconnected": [_start, lambda c: c.socket_closed(1, 1000, "", 0.0)],
    "connecting(no)": [_start],
    "connecting(yes)": [_start, _pause],
    "ready(no)": [_start, _open],
    "ready(yes)": [_start, _open, _pause],
    "ready(uninitialized)": [_start, _pause, _open],
    "stopped": [_start, lambda c: c.stop()],
    "terminated": [lambda c: c.terminate()],
}


def _in_state(label: str) -> ManagerCore:
    core = make_core()
    for step in SETUPS[label]:
        step(core)
    assert state_label(core.state) == label
    core.take_actions()
    return core


COMMANDS: dict[str, Callable[[ManagerCore], object]] = {
    "stop": lambda c: c.stop(),
    "try_restart": lambda c: c.try_restart(1.0),
    "terminate": lambda c: c.terminate(),
    "pause": lambda c: c.pause(),
    "resume": lambda c: c.resume(),
    "try_reconnect_immediately": lambda c: c.try_reconnect_immediately(0.5),
    "send_message": lambda c: c.send(MUTATION),
}

EXPECTED = {
    # (state, command): state afterwards; anything not listed stays as it is.
    ("disconnected", "stop"): "stopped",
    ("connecting(no)", "stop"): "stopped",
    ("connecting(yes)", "stop"): "stopped",
    ("ready(no)", "stop"): "stopped",
    ("ready(yes)", "stop"): "stopped",
    ("ready(uninitialized)", "stop"): "stopped",
    ("stopped", "try_restart"): "connecting(no)",
    ("connecting(no)", "pause"): "connecting(yes)",
    ("ready(no)", "pause"): "ready(yes)",
    ("connecting(yes)", "resume"): "connecting(no)",
    ("ready(yes)", "resume"): "ready(no)",
    ("ready(uninitialized)", "resume"): "ready(no)",
    ("disconnected", "try_reconnect_immediately"): "connecting(no)",
    **{
        (s, "terminate"): "terminated"
        for s in [
            "disconnected",
            "connecting(no)",
            "connecting(yes)",
            "ready(no)",
            "ready(yes)",
            "ready(uninitialized)",
            "stopped",
        ]
    },
}


def test_the_setups_cover_every_state() -> None:
    assert tuple(SETUPS) == STATE_LABELS


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("label", STATE_LABELS)
def test_state_command_matrix(label: str, command: str) -> None:
    core = _in_state(label)
    COMMANDS[command](core)  # never raises, whatever the state
    assert state_label(core.state) == EXPECTED.get((label, command), label)
    changed = StateChanged() in core.take_actions()
    assert changed == ((label, command) in EXPECTED)


def test_absurd_transition_timing_is_ignored_not_fatal() -> None:
    """Finite fields whose difference overflows must not break the receive path."""
    core = ready_core(report_debug_info=True)
    frame = encode_server_message(_transition(2**63 - 1, 0))
    assert core.frame_received(1, frame, 1.0) is not None
    assert core.take_actions() == []


def test_a_frame_to_send_does_not_show_its_text() -> None:
    frame = SendFrame(1, '{"type":"Authenticate","value":"SENTINEL-TOKEN"}')
    assert "SENTINEL" not in repr(frame)
