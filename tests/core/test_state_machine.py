"""Hypothesis drives the core with random event sequences against a small reference model."""

from __future__ import annotations

import logging

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import initialize
from hypothesis.stateful import invariant
from hypothesis.stateful import precondition
from hypothesis.stateful import rule

from syncwire._core.machine import CallOnOpen
from syncwire._core.machine import CloseSocket
from syncwire._core.machine import CoreConfig
from syncwire._core.machine import ManagerCore
from syncwire._core.machine import OpenSocket
from syncwire._core.machine import SendFrame
from syncwire._core.machine import StateChanged
from syncwire._core.states import TRANSITIONS
from syncwire._core.states import Disconnected
from syncwire._core.states import state_label
from syncwire.backoff import CLIENT
from syncwire.backoff import BackoffPolicy
from syncwire.backoff import classify_disconnect_error
from syncwire.protocol import Mutation

THRESHOLD = 60.0
POLICY = BackoffPolicy()
REASONS = ["", "InternalServerError", "SubscriptionsWorkerFullError: busy", "Whatever"]
MUTATION = Mutation(request_id=0, udf_path="a:b", args={})
SYNCED_FRAME = (
    '{"type":"MutationResponse","requestId":0,"success":true,"result":null,'
    '"ts":"AAAAAAAAAAA=","logLines":[]}'
)


class ManagerModel(RuleBasedStateMachine):
    """The reference model: labels from the table, retries, live sockets, deadlines."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.rand_value = 0.5
        self.core = ManagerCore(
            config=CoreConfig(inactivity_threshold=THRESHOLD),
            rand=lambda: self.rand_value,
            logger=logging.getLogger("tests.core.model"),
        )
        self.label = "disconnected"
        self.retries = 0
        self.live: set[int] = set()
        self.last_activity = 0.0
        self.reconnect_at: float | None = None

    # -- helpers -------------------------------------------------------------

    def step(self, expected_label: str, *, schedules: str | None = None) -> None:
        """Check the core's actions and state against the model after one input."""
        before_label, retries_before = self.label, self.retries
        actions = self.core.take_actions()
        label = state_label(self.core.state)
        assert label == expected_label, (before_label, label, expected_label)
        changes = actions.count(StateChanged())
        if label != before_label:
            assert changes >= 1
            assert any(t[0] == before_label and t[2] == label for t in TRANSITIONS)
        for action in actions:
            if isinstance(action, OpenSocket):
                self.live.add(action.attempt)
                self.last_activity = self.now
            elif isinstance(action, CloseSocket):
                self.live.discard(action.attempt)
            elif isinstance(action, SendFrame):
                assert before_label == "ready(no)" or label == "ready(no)"
                assert self.core.is_current(action.attempt)
            elif isinstance(action, CallOnOpen):
                assert label == "ready(no)"
        if schedules is not None:
            state = self.core.state
            assert isinstance(state, Disconnected)
            assert state.reconnect_at is not None
            capped = min(POLICY.initial(schedules) * 2.0**retries_before, POLICY.max_backoff)
            delay = state.reconnect_at - self.now
            assert 0.5 * capped - 1e-9 <= delay < 1.5 * capped + 1e-9
            self.retries = retries_before + 1
            self.reconnect_at = state.reconnect_at
        self.label = label

    def attempt(self) -> int:
        state = self.core.state
        return state.attempt if hasattr(state, "attempt") else -1

    @property
    def has_socket(self) -> bool:
        return self.label.startswith(("connecting", "ready"))

    # -- rules ------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.core.start(self.now)
        self.step("connecting(no)")

    @rule(rand=st.floats(0.0, 1.0, exclude_max=True))
    def set_jitter(self, rand: float) -> None:
        self.rand_value = rand

    @precondition(lambda self: self.label.startswith("connecting"))
    @rule()
    def socket_opens(self) -> None:
        self.core.socket_opened(self.attempt(), self.now)
        self.last_activity = self.now
        self.step("ready(uninitialized)" if self.label == "connecting(yes)" else "ready(no)")

    @precondition(lambda self: self.has_socket)
    @rule(
        code=st.sampled_from([1000, 1005, 1006, 1011, 1013, 4040]), reason=st.sampled_from(REASONS)
    )
    def socket_closes(self, code: int, reason: str) -> None:
        attempt = self.attempt()
        self.core.socket_closed(attempt, code, reason, self.now)
        self.live.discard(attempt)
        self.step("disconnected", schedules=classify_disconnect_error(reason))

    @precondition(lambda self: self.label.startswith("ready"))
    @rule(synced=st.booleans())
    def message_arrives(self, synced: bool) -> None:
        message = self.core.frame_received(self.attempt(), SYNCED_FRAME, self.now)
        assert message is not None
        self.last_activity = self.now
        self.core.message_handled(synced)
        if synced:
            self.retries = 0
        self.step(self.label)
        assert self.core.connection_state().connection_retries == self.retries

    @precondition(lambda self: self.label.startswith("ready"))
    @rule()
    def ping_arrives(self) -> None:
        assert self.core.frame_received(self.attempt(), '{"type":"Ping"}', self.now) is None
        self.last_activity = self.now
        self.step(self.label)

    @precondition(lambda self: self.label.startswith("ready"))
    @rule()
    def garbage_arrives(self) -> None:
        self.core.frame_received(self.attempt(), "{garbage", self.now)
        self.step("disconnected", schedules=CLIENT)

    @precondition(lambda self: self.label.startswith("ready"))
    @rule()
    def send_fails(self) -> None:
        self.core.send_failed(self.attempt(), "broken", self.now)
        self.step("disconnected", schedules=CLIENT)

    @rule(dt=st.sampled_from([0.05, 0.5, 1.0, 5.0, 30.0, 59.9, 60.0, 100.0]))
    def time_passes(self, dt: float) -> None:
        deadline = self.core.next_deadline()
        self.now += dt
        self.core.handle_timeout(self.now)
        if self.label == "disconnected" and deadline is not None and self.now >= deadline:
            self.step("connecting(no)")
        elif self.has_socket and self.now >= self.last_activity + THRESHOLD:
            self.step("disconnected", schedules=CLIENT)
        else:
            self.step(self.label)

    @rule()
    def send(self) -> None:
        frame = self.core.send(MUTATION)
        assert (frame is not None) == (self.label == "ready(no)")
        if frame is not None:
            assert self.core.is_current(frame.attempt)
        self.step(self.label)

    @rule()
    def pause(self) -> None:
        self.core.pause()
        nxt = {"connecting(no)": "connecting(yes)", "ready(no)": "ready(yes)"}
        self.step(nxt.get(self.label, self.label))

    @rule()
    def resume(self) -> None:
        self.core.resume()
        nxt = {
            "connecting(yes)": "connecting(no)",
            "ready(yes)": "ready(no)",
            "ready(uninitialized)": "ready(no)",
        }
        self.step(nxt.get(self.label, self.label))

    @rule()
    def stop(self) -> None:
        self.core.stop()
        self.step("terminated" if self.label == "terminated" else "stopped")

    @rule()
    def try_restart(self) -> None:
        self.core.try_restart(self.now)
        self.step("connecting(no)" if self.label == "stopped" else self.label)

    @rule()
    def reconnect_now(self) -> None:
        retries = self.retries
        self.core.try_reconnect_immediately(self.now)
        self.step("connecting(no)" if self.label == "disconnected" else self.label)
        assert self.core.connection_state().connection_retries == retries

    @precondition(lambda self: self.label != "terminated")
    @rule()
    def terminate(self) -> None:
        self.core.terminate()
        self.step("terminated")

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def at_most_one_live_socket(self) -> None:
        assert len(self.live) <= (1 if self.has_socket else 0)

    @invariant()
    def terminated_is_final_and_has_no_deadline(self) -> None:
        if self.label in ("terminated", "stopped"):
            assert self.core.next_deadline() is None
            assert not self.live

    @invariant()
    def retries_match_the_model(self) -> None:
        assert self.core.connection_state().connection_retries == self.retries
        assert self.core.retries == self.retries  # the attribute the driver reads per frame

    @invariant()
    def only_the_socket_in_use_is_current(self) -> None:
        """``current_attempt`` (read by the driver per frame) follows every change of state."""
        expected = self.attempt() if self.has_socket else None
        assert self.core.current_attempt == expected
        for attempt in range(self.attempt() + 2):
            assert self.core.is_current(attempt) == (attempt == expected)


ManagerModel.TestCase.settings = settings(max_examples=300, stateful_step_count=40)
TestManagerModel = ManagerModel.TestCase
