"""The WebSocket manager as a Sans-I/O state machine (seed: ``WebSocketManager``).

No asyncio, no clock, no randomness, no sockets: every input carries ``now``
(loop time, seconds), randomness is an injected ``rand``, and what must happen
outside comes back as actions from ``take_actions()``. Both timers are data:
``next_deadline()`` is the earlier of the scheduled reconnect and the
inactivity deadline (last frame + threshold), so a frame costs one float store,
not a timer re-arm. Events from an old socket are recognised by their attempt
number and dropped.

Docstrings cite the rule they implement by its anchor in ``docs/manager.md``
(``docs/manager.md#backoff``); "seed" names the TypeScript manager this
mirrors (docs/manager.md#seed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Final
from typing import TypeAlias

from syncwire._core.states import TRANSITIONS
from syncwire._core.states import Connecting
from syncwire._core.states import Disconnected
from syncwire._core.states import Event
from syncwire._core.states import Ready
from syncwire._core.states import ReconnectMetadata
from syncwire._core.states import SocketState
from syncwire._core.states import StateName
from syncwire._core.states import Stopped
from syncwire._core.states import Terminated
from syncwire._core.states import state_label
from syncwire.backoff import CLIENT
from syncwire.backoff import BackoffPolicy
from syncwire.backoff import classify_disconnect_error
from syncwire.backoff import next_backoff
from syncwire.errors import ProtocolError
from syncwire.protocol import Authenticate
from syncwire.protocol import ClientMessage
from syncwire.protocol import Event as EventMessage
from syncwire.protocol import Ping
from syncwire.protocol import ServerMessage
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import encode_client_message
from syncwire.protocol import parse_server_message
from syncwire.protocol.chunks import TransitionChunkAssembler
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "Action",
    "CallOnOpen",
    "CallOnResume",
    "CloseSocket",
    "ConnectionState",
    "CoreConfig",
    "ManagerCore",
    "OpenSocket",
    "ReportServerDisconnectError",
    "SendFrame",
    "StateChanged",
]

# Close codes after which the seed stays quiet: normal, going away (mobile
# apps backgrounded), no status, and Convex's edge "404" during a push.
_QUIET_CLOSE_CODES: Final = frozenset({1000, 1001, 1005, 4040})
_LARGE_TRANSITION_CHARS: Final = 20_000_000
_SLOW_TRANSITION_MS: Final = 20_000
_DEBUG_EVENT_TRANSIT_MS: Final = 2_000
_MAX_REASON_LEN: Final = 200
# A prebuilt tuple: isinstance with `Connecting | Ready` builds the union per call.
_HAS_SOCKET: Final = (Connecting, Ready)


# --- actions: what the driver must do ----------------------------------------


@dataclass(frozen=True, slots=True)
class OpenSocket:
    """Open a socket for ``attempt`` (the driver reports back with that number)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class CloseSocket:
    """Close socket ``attempt`` in the background; it no longer matters to the core."""

    attempt: int


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Send ``text`` on socket ``attempt`` (skip it if the attempt is no longer current).

    ``text`` is left out of ``repr()``: an ``Authenticate`` frame holds a token.
    """

    attempt: int
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class CallOnOpen:
    """Call ``on_open(metadata)`` (skip it if the attempt is no longer current)."""

    attempt: int
    metadata: ReconnectMetadata


@dataclass(frozen=True, slots=True)
class CallOnResume:
    """Call ``on_resume()`` (skip it if the attempt is no longer current)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class ReportServerDisconnectError:
    """Call ``on_server_disconnect_error(text)``."""

    text: str


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Notify the connection-state observer (seed: ``markConnectionStateDirty``)."""


Action: TypeAlias = (
    OpenSocket
    | CloseSocket
    | SendFrame
    | CallOnOpen
    | CallOnResume
    | ReportServerDisconnectError
    | StateChanged
)


# --- configuration and observation -------------------------------------------


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Thresholds, in seconds; the defaults are the seed's."""

    inactivity_threshold: float = 60.0
    """Silence after which the server is presumed gone (Pings arrive every 15 s)."""
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    max_transition_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """Characters a chunked Transition may reassemble to."""
    report_debug_info: bool = False
    """Send ``ClientReceivedTransition`` events for slow transitions (seed: ``debug``)."""

    def __post_init__(self) -> None:
        if not self.inactivity_threshold > 0:
            raise ValueError("inactivity_threshold must be positive")


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """An immutable snapshot of the manager's connection (docs/manager.md#connection-state)."""

    is_connected: bool
    """The socket is open (paused or not)."""
    has_ever_connected: bool
    connection_count: int
    """Sockets opened so far."""
    connection_retries: int
    """Consecutive reconnects since the session last caught up with the server."""
    state: StateName
    """``disconnected``, ``connecting``, ``ready``, ``stopped`` or ``terminated``."""
    paused: bool
    last_close_reason: str | None
    next_reconnect_at: float | None
    """Loop time of the scheduled reconnect, while one is scheduled."""


# --- the machine ---------------------------------------------------------------


class ManagerCore:
    """The seed's WebSocketManager without I/O: feed it events, perform its actions."""

    __slots__ = (
        "_actions",
        "_attempt",
        "_chunks",
        "_config",
        "_connection_count",
        "_epoch_at_zero",
        "_has_ever_connected",
        "_last_activity",
        "_last_close_reason",
        "_log",
        "_rand",
        "_recovery_time_saved_ms",
        "_started_at",
        "_state",
        "current_attempt",
        "retries",
    )

    def __init__(
        self,
        *,
        config: CoreConfig | None = None,
        rand: Callable[[], float],
        epoch_at_zero: float = 0.0,
        logger: logging.Logger,
    ) -> None:
        """``epoch_at_zero``: wall-clock seconds at loop time 0, for ``client_ts``."""
        self._config = config or CoreConfig()
        self._rand = rand
        self._epoch_at_zero = epoch_at_zero
        self._log = logger
        self._state: SocketState = Disconnected()
        self.current_attempt: int | None = None
        """The attempt of the socket in use (connecting or ready), else ``None``.

        ``is_current`` as a plain attribute: the driver reads it once per frame.
        Set only by ``_set_state``; read it, never write it.
        """
        self._attempt = 0
        self._connection_count = 0
        self._last_close_reason: str | None = "InitialConnect"
        self.retries = 0
        """Reconnects scheduled since the session last caught up (docs/manager.md#backoff).

        A plain attribute so that the driver skips ``message_handled`` while it
        is 0, as it is on nearly every frame. Read it, never write it.
        """
        self._has_ever_connected = False
        self._last_activity = 0.0
        self._started_at = 0.0
        self._recovery_time_saved_ms: float | None = None
        self._chunks = TransitionChunkAssembler(self._config.max_transition_size)
        self._actions: list[Action] = []

    # -- observation --------------------------------------------------------

    @property
    def state(self) -> SocketState:
        """The current state (immutable)."""
        return self._state

    @property
    def pending_actions(self) -> list[Action]:
        """The queue ``take_actions`` empties: one list for the core's life.

        The driver keeps a reference and tests its truth after every frame,
        which is cheaper than a call; it must not change it.
        """
        return self._actions

    def take_actions(self) -> list[Action]:
        """Actions produced since the last call, in order."""
        actions = self._actions[:]
        self._actions.clear()
        return actions

    def is_current(self, attempt: int) -> bool:
        """Whether ``attempt`` is the socket the core is using now."""
        return attempt == self.current_attempt

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must next be called (loop time), if ever."""
        state = self._state
        if isinstance(state, Disconnected):
            return state.reconnect_at
        if isinstance(state, _HAS_SOCKET):
            return self._last_activity + self._config.inactivity_threshold
        return None

    def connection_state(self) -> ConnectionState:
        """A snapshot for users (docs/manager.md#connection-state)."""
        state = self._state
        return ConnectionState(
            is_connected=isinstance(state, Ready),
            has_ever_connected=self._has_ever_connected,
            connection_count=self._connection_count,
            connection_retries=self.retries,
            state=state.name,
            paused=_is_paused(state),
            last_close_reason=self._last_close_reason,
            next_reconnect_at=state.reconnect_at if isinstance(state, Disconnected) else None,
        )

    # -- commands -----------------------------------------------------------

    def start(self, now: float) -> None:
        """Open the first socket (docs/manager.md#start)."""
        if not isinstance(self._state, Disconnected) or self._state.reconnect_at is not None:
            self._log.debug("start called twice")
            return
        self._started_at = now
        self._connect(now, "start")

    def send(self, message: ClientMessage) -> SendFrame | None:
        """The frame to write for ``message``, or ``None`` unless ready and not paused.

        The driver writes a returned frame at once, so a message sent from a
        callback goes out before anything the core queued after that callback
        (``Connect`` from ``on_open`` precedes the network-recovery event).
        ``None`` is the seed's ``false``: "not sent" (docs/manager.md#send).
        """
        state = self._state
        if isinstance(state, Ready) and state.paused == "no":
            frame = SendFrame(state.attempt, encode_client_message(message))
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug(
                    "sent message with type %s: %s", message.type_name, _loggable(message)
                )
            return frame
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(
                "message not sent (socket state: %s, paused: %s): %s",
                state.name,
                _paused_text(state),
                _loggable(message),
            )
        return None

    def _send_later(self, message: ClientMessage) -> None:
        """Queue a message of the core's own (an ``Event``) behind earlier actions."""
        frame = self.send(message)
        if frame is not None:
            self._actions.append(frame)

    def pause(self) -> None:
        """Hold back ``on_open``/sends while the app fetches a token.

        See docs/manager.md#pause-resume.
        """
        state = self._state
        match state:
            case Connecting(paused=False):
                self._set_state(Connecting(state.attempt, paused=True), "pause")
            case Ready(paused="no"):
                self._set_state(Ready(state.attempt, paused="yes"), "pause")
            case Connecting() | Ready():
                # Already paused. A deferred open stays deferred (upstream turns
                # it into "yes", so on_open — and Connect — would never be sent).
                self._log.debug("pause ignored: already paused")
            case _:  # Disconnected, Stopped, Terminated: no socket to pause
                self._log.debug("pause ignored in state %s", state_label(state))

    def resume(self) -> None:
        """Undo ``pause``; deliver the deferred ``on_open`` or ``on_resume``.

        See docs/manager.md#pause-resume.
        """
        state = self._state
        match state:
            case Connecting(paused=True):
                self._set_state(Connecting(state.attempt, paused=False), "resume")
            case Ready(paused="uninitialized", pending_open=metadata):
                assert metadata is not None  # noqa: S101 - invariant of Ready
                self._set_state(Ready(state.attempt), "resume")
                self._has_ever_connected = True
                self._actions.append(CallOnOpen(state.attempt, metadata))
            case Ready(paused="yes"):
                self._set_state(Ready(state.attempt), "resume")
                self._actions.append(CallOnResume(state.attempt))
            case _:  # not paused, or no socket
                self._log.debug("resume ignored in state %s", state_label(state))

    def stop(self) -> None:
        """Close the socket, cancel any scheduled reconnect, wait for ``try_restart``.

        See docs/manager.md#stop.
        """
        state = self._state
        if isinstance(state, Terminated):
            self._log.debug("stop ignored: terminated")
            return
        self._chunks.reset()
        if isinstance(state, _HAS_SOCKET):
            self._actions.append(CloseSocket(state.attempt))
        if not isinstance(state, Stopped):
            # Leaving Disconnected drops its reconnect_at: the seed and upstream
            # keep the timer, so a stopped manager could reconnect by itself.
            self._set_state(Stopped(), "stop")

    def try_restart(self, now: float) -> None:
        """Connect again after ``stop()`` (docs/manager.md#restart)."""
        if not isinstance(self._state, Stopped):
            self._log.debug("Restart called without stopping first")
            return
        self._connect(now, "restart")

    def terminate(self) -> None:
        """Close everything for good; idempotent (docs/manager.md#terminate)."""
        state = self._state
        if isinstance(state, Terminated):
            return
        self._chunks.reset()
        if isinstance(state, _HAS_SOCKET):
            self._actions.append(CloseSocket(state.attempt))
        self._set_state(Terminated(), "terminate")

    def try_reconnect_immediately(self, now: float) -> None:
        """Skip the backoff wait, e.g. when the network is back.

        See docs/manager.md#reconnect-immediately.
        """
        state = self._state
        if not isinstance(state, Disconnected) or state.reconnect_at is None:
            self._log.debug(
                "tryReconnectImmediately called but socket state is %s, no action taken",
                state_label(state),
            )
            return
        self._recovery_time_saved_ms = max(0.0, state.reconnect_at - now) * 1000
        self._log.info("Network recovery detected, reconnecting immediately")
        self._connect(now, "reconnect_now")

    # -- socket and timer events --------------------------------------------

    def handle_timeout(self, now: float) -> None:
        """Fire whichever deadline has passed: reconnect, or docs/manager.md#inactivity."""
        state = self._state
        if isinstance(state, Disconnected):
            if state.reconnect_at is not None and now >= state.reconnect_at:
                self._connect(now, "reconnect_timer")
        elif (
            isinstance(state, _HAS_SOCKET)
            and now >= self._last_activity + self._config.inactivity_threshold
        ):
            self._client_reconnect(state.attempt, "InactiveServer", now)

    def socket_opened(self, attempt: int, now: float) -> None:
        """The handshake of ``attempt`` completed (docs/manager.md#open)."""
        state = self._state
        if not isinstance(state, Connecting) or state.attempt != attempt:
            self._log.debug("ignoring open of stale socket %d", attempt)
            return
        metadata = ReconnectMetadata(
            connection_count=self._connection_count,
            last_close_reason=self._last_close_reason,
            client_ts=self._epoch_ms(now),
        )
        self._last_activity = now
        if state.paused:
            self._set_state(Ready(attempt, "uninitialized", metadata), "opened")
        else:
            self._set_state(Ready(attempt), "opened")
            self._has_ever_connected = True
            self._actions.append(CallOnOpen(attempt, metadata))
        if self._last_close_reason != "InitialConnect":
            when = _pretty_seconds(now - self._started_at)
            if self._last_close_reason:
                self._log.info(
                    "WebSocket reconnected at t=%ss after disconnect due to %s",
                    when,
                    self._last_close_reason,
                )
            else:
                self._log.info("WebSocket reconnected at t=%ss", when)
        self._connection_count += 1
        self._last_close_reason = None
        if self._recovery_time_saved_ms is not None:
            saved, self._recovery_time_saved_ms = self._recovery_time_saved_ms, None
            self._send_later(
                EventMessage(event_type="NetworkRecoveryReconnect", event={"timeSavedMs": saved})
            )
            self._log.info("Network recovery reconnect saved ~%ds of waiting", round(saved / 1000))

    def data_arrived(self, attempt: int, at: float) -> None:
        """Bytes of socket ``attempt`` arrived at ``at``, maybe mid-frame: the server is alive.

        A 5 MB Transition on a slow link can take longer than the inactivity
        threshold to arrive in full; counting its bytes as activity keeps the
        manager from dropping, and then re-downloading, a frame that is coming.
        """
        if self.is_current(attempt) and at > self._last_activity:
            self._last_activity = at

    def frame_received(self, attempt: int, data: str | bytes, now: float) -> ServerMessage | None:
        """A text frame arrived; returns the message to give ``on_message``, if any.

        See docs/manager.md#receive.

        The caller hands the result to ``on_message`` and its answer to
        ``message_handled``. This runs once per frame: a Transition, by far the
        most common message, takes the shortest way through.
        """
        state = self._state
        if type(state) is not Ready or state.attempt != attempt:
            return None
        self._last_activity = now
        try:
            message = parse_server_message(data)
        except ProtocolError as exc:
            self._bad_input(
                attempt, f"InvalidServerMessage: {exc}", f"frame of {len(data)} characters", now
            )
            return None
        debug = self._log.isEnabledFor(logging.DEBUG)
        if debug:
            self._log.debug("received ws message with type %s", type(message).__name__)
        if type(message) is Ping:
            return None  # keepalive only: never reaches on_message (docs/manager.md#receive)
        length = len(data)
        if type(message) is TransitionChunk:
            try:
                assembled = self._chunks.add(message)
            except ProtocolError as exc:
                self._bad_input(
                    attempt,
                    f"InvalidTransitionChunk: {exc}",
                    f"frame of {length} characters",
                    now,
                )
                return None
            if assembled is None:
                return None
            transition, length = assembled
            self._log.debug("assembled full ws message of type Transition")
        else:
            if self._chunks.buffering:
                self._chunks.reset()
                self._log.info(
                    "Received unexpected %s while buffering TransitionChunks",
                    type(message).__name__,
                )
            if type(message) is not Transition:
                return message
            transition = message
        skew, server_ts = transition.client_clock_skew, transition.server_ts
        if skew is not None and server_ts is not None:
            # docs/manager.md#large-transitions, with the common case inline: nothing to say.
            # Always finite: decoding bounds both fields to 64 bits (an i64 skew, a
            # non-negative i64 server_ts), so even absurd values cannot overflow here.
            transit_ms = (self._epoch_at_zero + now) * 1000 - skew - server_ts / 1e6
            if (
                debug
                or length > _LARGE_TRANSITION_CHARS
                or transit_ms > _SLOW_TRANSITION_MS
                or (self._config.report_debug_info and transit_ms > _DEBUG_EVENT_TRANSIT_MS)
            ):
                self._report_large_transition(length, transit_ms, debug)
        return transition

    def message_handled(self, synced_past_last_reconnect: bool) -> None:
        """``on_message`` answered; a synced session resets the backoff.

        See docs/manager.md#receive.
        """
        if synced_past_last_reconnect and self.retries:
            self.retries = 0
            self._actions.append(StateChanged())  # only a real change: this runs per message

    def socket_closed(self, attempt: int, code: int, reason: str, now: float) -> None:
        """Socket ``attempt`` ended, or its handshake failed (code 1006) (docs/manager.md#close)."""
        if not self.is_current(attempt):
            self._log.debug("ignoring close of stale socket %d", attempt)
            return
        self._chunks.reset()
        if self._last_close_reason is None:  # the socket had opened
            self._last_close_reason = reason or f"closed with code {code}"
        if code not in _QUIET_CLOSE_CODES:
            text = f"WebSocket closed with code {code}" + (f": {reason}" if reason else "")
            self._log.info("%s", text)
            if reason:
                self._actions.append(ReportServerDisconnectError(text))
        self._schedule_reconnect(classify_disconnect_error(reason), now)

    def send_failed(self, attempt: int, error: str, now: float) -> None:
        """Writing to socket ``attempt`` failed (docs/manager.md#send)."""
        if not self.is_current(attempt):
            return
        self._log.info("Failed to send message on WebSocket, reconnecting: %s", error)
        self._client_reconnect(attempt, "FailedToSendMessage", now)

    def protocol_violation(self, attempt: int, reason: str, what: str, now: float) -> None:
        """The transport saw bad input: ``what`` describes it without content.

        For example ``"binary frame of 12 bytes"`` or ``"a message over 1024 bytes"``.
        See docs/manager.md#bad-input.
        """
        if self.is_current(attempt):
            self._bad_input(attempt, reason, what, now)

    # -- internals ------------------------------------------------------------

    def _set_state(self, new: SocketState, event: Event) -> None:
        old_label, new_label = state_label(self._state), state_label(new)
        if (old_label, event, new_label) not in TRANSITIONS:
            raise RuntimeError(f"bug: {old_label} --{event}--> {new_label} is not in TRANSITIONS")
        self._state = new
        self.current_attempt = new.attempt if isinstance(new, _HAS_SOCKET) else None
        self._log.debug("socket state changed: %s, paused: %s", new.name, _paused_text(new))
        self._actions.append(StateChanged())

    def _connect(self, now: float, event: Event) -> None:
        self._attempt += 1
        self._chunks.reset()
        # The inactivity clock starts with the socket, so a hung handshake is caught.
        self._last_activity = now
        self._set_state(Connecting(self._attempt), event)
        self._actions.append(OpenSocket(self._attempt))

    def _schedule_reconnect(self, reason_class: str, now: float) -> None:
        delay = next_backoff(reason_class, self.retries, self._rand, self._config.backoff)
        self.retries += 1
        self._set_state(Disconnected(reconnect_at=now + delay), "lost")
        self._log.info("Attempting reconnect in %dms", round(delay * 1000))

    def _client_reconnect(self, attempt: int, reason: str, now: float) -> None:
        """Seed: ``closeAndReconnect`` — close in the background, never wait for it.

        ``attempt`` is the current socket: every caller has checked it.
        See docs/manager.md#client-reconnect.
        """
        self._log.debug("begin closeAndReconnect with reason %s", reason)
        self._last_close_reason = reason[:_MAX_REASON_LEN]
        self._chunks.reset()
        self._actions.append(CloseSocket(attempt))
        self._schedule_reconnect(CLIENT, now)

    def _bad_input(self, attempt: int, reason: str, what: str, now: float) -> None:
        # Logged without the payload: it may hold user data or secrets.
        self._log.error("%s (%s); reconnecting", reason, what)
        self._client_reconnect(attempt, reason, now)

    def _epoch_ms(self, now: float) -> int:
        return round((self._epoch_at_zero + now) * 1000)

    def _report_large_transition(self, length: int, transit_ms: float, debug: bool) -> None:
        """Warn about huge or slow transitions, optionally tell the server.

        See docs/manager.md#large-transitions. ``frame_received`` calls this
        only when there is something to say.
        """
        report = self._config.report_debug_info and transit_ms > _DEBUG_EVENT_TRANSIT_MS
        megabytes = f"{round(length / 10_000) / 100}MB"
        if debug:
            seconds = transit_ms / 1000
            rate = length / seconds if seconds else math.inf
            self._log.debug(
                "received %s transition in %dms at %sMB per second",
                megabytes,
                round(transit_ms),
                round(rate / 10_000) / 100 if math.isfinite(rate) else rate,
            )
        if length > _LARGE_TRANSITION_CHARS:
            self._log.info(
                "received query results totaling more that 20MB (%s) which will take a long "
                "time to download on slower connections",
                megabytes,
            )
        elif transit_ms > _SLOW_TRANSITION_MS:
            self._log.info(
                "received query results totaling %s which took more than 20s to arrive (%dms)",
                megabytes,
                round(transit_ms),
            )
        if report:
            self._send_later(
                EventMessage(
                    event_type="ClientReceivedTransition",
                    event={"transitionTransitTime": transit_ms, "messageLength": length},
                )
            )


def _is_paused(state: SocketState) -> bool:
    if isinstance(state, Connecting):
        return state.paused
    return isinstance(state, Ready) and state.paused != "no"


def _paused_text(state: SocketState) -> str:
    if isinstance(state, Connecting):
        return "yes" if state.paused else "no"
    if isinstance(state, Ready):
        return state.paused
    return "undefined"


def _loggable(message: ClientMessage) -> str:
    """The seed's log form of a sent message: its type, and for a user token its last 7 chars."""
    if isinstance(message, Authenticate) and message.token_type == "User" and message.value:  # noqa: S105
        return f'{{"type":"Authenticate","value":"...{message.value[-7:]}"}}'
    return f'{{"type":"{message.type_name}"}}'


def _pretty_seconds(seconds: float) -> str:
    """Seconds to one decimal, written as JS writes numbers (``5``, not ``5.0``)."""
    tenths = round(seconds * 10) / 10
    return str(int(tenths)) if tenths.is_integer() else str(tenths)
