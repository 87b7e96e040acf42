"""The core's less travelled paths: bad configuration, repeated commands, debug logs,
bytes still arriving, the transition table's guard, and the large-transition report."""

from __future__ import annotations

import logging
import math
from typing import get_args

import pytest

from syncwire._core.machine import CallOnOpen
from syncwire._core.machine import CloseSocket
from syncwire._core.machine import CoreConfig
from syncwire._core.machine import ManagerCore
from syncwire._core.machine import OpenSocket
from syncwire._core.machine import SendFrame
from syncwire._core.machine import StateChanged
from syncwire._core.states import STATE_LABELS
from syncwire._core.states import Connecting
from syncwire._core.states import Disconnected
from syncwire._core.states import Ready
from syncwire._core.states import StateName
from syncwire._core.states import Stopped
from syncwire._core.states import Terminated
from syncwire.protocol import Authenticate
from syncwire.protocol import Mutation
from syncwire.protocol import QueryUpdated
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from tests.core.cores import EPOCH
from tests.core.cores import LOGGER
from tests.core.cores import make_core
from tests.core.cores import ready_core

MUTATION = Mutation(request_id=1, udf_path="messages:send", args={"body": "hi"})


# --- configuration and the action queue ---------------------------------------------


@pytest.mark.parametrize("threshold", [0.0, -1.0, math.nan])
def test_an_inactivity_threshold_that_is_not_positive_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="inactivity_threshold must be positive"):
        CoreConfig(inactivity_threshold=threshold)


def test_pending_actions_is_the_one_queue_take_actions_empties() -> None:
    core = make_core()
    queue = core.pending_actions
    assert queue == []
    core.start(0.0)
    assert queue == [StateChanged(), OpenSocket(1)]
    assert core.take_actions() == [StateChanged(), OpenSocket(1)]
    assert queue == []
    assert core.pending_actions is queue


@pytest.mark.parametrize("first", ["start", "stop"])
def test_start_after_the_first_start_is_a_logged_no_op(
    first: str, caplog: pytest.LogCaptureFixture
) -> None:
    core = make_core()
    core.start(0.0)
    if first == "stop":
        core.stop()
    before = core.state
    core.take_actions()
    with caplog.at_level(logging.DEBUG, LOGGER):
        core.start(1.0)
    assert core.state == before
    assert core.take_actions() == []
    assert "start called twice" in caplog.messages


# --- state names ---------------------------------------------------------------------


def test_each_state_names_itself_as_the_labels_do() -> None:
    classes = (Disconnected, Connecting, Ready, Stopped, Terminated)
    names = [cls.name for cls in classes]
    assert names == list(get_args(StateName))
    assert set(names) == {label.partition("(")[0] for label in STATE_LABELS}


def test_the_snapshot_and_the_logs_use_the_state_name(caplog: pytest.LogCaptureFixture) -> None:
    core = make_core()
    with caplog.at_level(logging.DEBUG, LOGGER):
        core.start(0.0)
        core.pause()
    assert core.connection_state().state == "connecting"
    assert "socket state changed: connecting, paused: yes" in caplog.messages
    with caplog.at_level(logging.DEBUG, LOGGER):
        assert core.send(MUTATION) is None
    assert 'message not sent (socket state: connecting, paused: yes): {"type":"Mutation"}' in (
        caplog.messages
    )


# --- send: what the debug log shows ---------------------------------------------------


def test_a_sent_message_is_logged_by_its_type(caplog: pytest.LogCaptureFixture) -> None:
    core = ready_core()
    with caplog.at_level(logging.DEBUG, LOGGER):
        assert core.send(MUTATION) is not None
    assert 'sent message with type Mutation: {"type":"Mutation"}' in caplog.messages


def test_a_user_token_is_logged_by_its_last_seven_characters_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "eyJhbGciOi.eyJzdWIiOiJ1c2VyIn0.SECRET-SIGNATURE-1234567"
    user = Authenticate(base_version=0, token_type="User", value=token)
    admin = Authenticate(base_version=0, token_type="Admin", value="ADMIN-KEY-7654321")
    core = ready_core()
    with caplog.at_level(logging.DEBUG, LOGGER):
        assert core.send(user) is not None
        assert core.send(admin) is not None
        core.pause()
        assert core.send(user) is None
    assert 'sent message with type Authenticate: {"type":"Authenticate","value":"...1234567"}' in (
        caplog.messages
    )
    assert 'sent message with type Authenticate: {"type":"Authenticate"}' in caplog.messages
    assert (
        'message not sent (socket state: ready, paused: yes): {"type":"Authenticate",'
        '"value":"...1234567"}'
    ) in caplog.messages
    assert not [m for m in caplog.messages if "SECRET" in m or "ADMIN-KEY" in m]


def test_an_event_of_the_core_is_dropped_while_the_open_is_deferred() -> None:
    """The network-recovery event goes out only on a socket that may send: a deferred
    open drops it, as the seed's sendMessage does while paused."""
    core = ready_core()
    core.socket_closed(1, 1011, "InternalServerError", 1.0)
    core.try_reconnect_immediately(1.0)
    core.pause()
    core.socket_opened(2, 1.5)
    assert isinstance(core.state, Ready)
    assert core.state.paused == "uninitialized"
    assert not [a for a in core.take_actions() if isinstance(a, SendFrame)]
    core.resume()
    actions = core.take_actions()
    assert [type(a) for a in actions] == [StateChanged, CallOnOpen]


# --- reconnect logs ------------------------------------------------------------------


def test_a_restart_after_stop_logs_the_reconnect_without_a_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = ready_core(0.0)
    core.stop()
    core.try_restart(5.0)
    with caplog.at_level(logging.INFO, LOGGER):
        core.socket_opened(2, 5.0)
    assert "WebSocket reconnected at t=5s" in caplog.messages
    assert core.connection_state().connection_count == 2


# --- bytes still arriving: docs/manager.md#inactivity ----------------------------------


def test_bytes_of_a_frame_still_arriving_push_the_inactivity_deadline() -> None:
    core = ready_core(0.0)
    assert core.next_deadline() == 60.0
    core.data_arrived(1, 50.0)
    assert core.next_deadline() == 110.0
    core.handle_timeout(60.0)
    assert core.take_actions() == []
    core.data_arrived(1, 10.0)  # older news moves nothing back
    assert core.next_deadline() == 110.0


def test_bytes_of_an_old_socket_count_for_nothing() -> None:
    core = ready_core(0.0)
    core.handle_timeout(60.0)  # attempt 1 abandoned
    core.handle_timeout(60.1)  # attempt 2 connecting
    assert core.next_deadline() == pytest.approx(120.1)
    core.data_arrived(1, 100.0)
    assert core.next_deadline() == pytest.approx(120.1)
    core.handle_timeout(120.1)
    assert CloseSocket(2) in core.take_actions()


# --- the transition table guards every change of state ---------------------------------


def test_a_change_of_state_missing_from_the_table_is_refused() -> None:
    core = make_core()
    with pytest.raises(RuntimeError, match=r"disconnected --opened--> ready\(no\) is not in"):
        core._set_state(Ready(1), "opened")
    assert core.state == Disconnected()
    assert core.take_actions() == []


# --- large and slow transitions: docs/manager.md#large-transitions ----------------------


def _transition_frame(skew: int, server_ts: int, value: str = "") -> str:
    version = StateVersion(query_set=0, identity=0, ts=0)
    update = QueryUpdated(query_id=0, value=value, log_lines=())
    message = Transition(
        start_version=version,
        end_version=version,
        modifications=(update,) if value else (),
        client_clock_skew=skew,
        server_ts=server_ts,
    )
    return encode_server_message(message)


def _sent_at(seconds: float) -> int:
    """``server_ts`` (ns) of a frame the server sent at loop time ``seconds``."""
    return round((EPOCH + seconds) * 10**9)


def _received(
    caplog: pytest.LogCaptureFixture, level: int, sent: float, now: float, value: str = ""
) -> tuple[ManagerCore, str]:
    """A ready core receives, at loop time ``now`` and with ``LOGGER`` at ``level``, a
    Transition the server sent at ``sent``; the core and the frame."""
    core = ready_core()
    frame = _transition_frame(0, _sent_at(sent), value)
    with caplog.at_level(level, LOGGER):
        assert core.frame_received(1, frame, now) is not None
    return core, frame


def test_with_debug_every_transition_is_logged_with_its_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core, frame = _received(caplog, logging.DEBUG, 5.0, 7.0, "x" * 99_800)
    megabytes = round(len(frame) / 10_000) / 100
    assert f"received {megabytes}MB transition in 2000ms at 0.05MB per second" in (caplog.messages)
    assert not [m for m in caplog.messages if "query results totaling" in m]
    assert core.take_actions() == []  # report_debug_info is off


def test_a_transition_that_took_no_time_is_logged_at_an_infinite_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _received(caplog, logging.DEBUG, 10.0, 10.0)
    assert "received 0.0MB transition in 0ms at infMB per second" in caplog.messages


def test_a_transition_over_20_mb_is_logged_as_large_rather_than_slow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _received(caplog, logging.INFO, 0.0, 30.0, "x" * 20_000_000)  # 30 s on its way, too
    assert (
        "received query results totaling more that 20MB (20.0MB) which will take a long "
        "time to download on slower connections"
    ) in caplog.messages
    assert not [m for m in caplog.messages if "more than 20s" in m]


@pytest.mark.parametrize("skew", [-(2**63), 2**63 - 1])
@pytest.mark.parametrize("server_ts", [0, 2**63 - 1])
def test_the_most_absurd_timing_fields_are_logged_and_reported_not_fatal(
    skew: int, server_ts: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Decoding bounds both fields to 64 bits, so the transit time stays finite."""
    core = ready_core(report_debug_info=True)
    with caplog.at_level(logging.DEBUG, LOGGER):
        assert core.frame_received(1, _transition_frame(skew, server_ts), 1.0) is not None
    assert [m for m in caplog.messages if "transition in" in m]
    assert core.state == Ready(1)
