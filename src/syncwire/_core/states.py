"""The manager's socket states and its transition table, in one place.

One frozen class per state, holding only the data that exists in that state
(the seed's ``Socket`` tagged union: docs/manager.md#seed). ``TRANSITIONS`` lists every change of
state the manager may make; the core refuses any other, the state-machine
tests check the table against a reference model, and the diagram in
``docs/manager.md`` is generated from it (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from typing import Final
from typing import Literal
from typing import TypeAlias

__all__ = [
    "STATE_LABELS",
    "TRANSITIONS",
    "Connecting",
    "Disconnected",
    "Event",
    "Ready",
    "ReconnectMetadata",
    "SocketState",
    "StateName",
    "Stopped",
    "Terminated",
    "state_label",
]


StateName: TypeAlias = Literal["disconnected", "connecting", "ready", "stopped", "terminated"]
"""A state's ``name``: its label without the pause sub-state (``ConnectionState.state``)."""


@dataclass(frozen=True, slots=True)
class ReconnectMetadata:
    """What ``on_open`` is told about the connection it opens.

    ``connection_count`` and ``last_close_reason`` are the values from before
    this open (first open: 0 and ``"InitialConnect"``); ``client_ts`` is the
    wall-clock time of the open in epoch milliseconds.
    """

    connection_count: int
    last_close_reason: str | None
    client_ts: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """No socket; a reconnect is scheduled at ``reconnect_at`` (loop time)."""

    name: ClassVar[Literal["disconnected"]] = "disconnected"
    reconnect_at: float | None = None
    """``None`` only before the manager starts."""


@dataclass(frozen=True, slots=True)
class Connecting:
    """Socket ``attempt`` is being opened."""

    name: ClassVar[Literal["connecting"]] = "connecting"
    attempt: int
    paused: bool = False


@dataclass(frozen=True, slots=True)
class Ready:
    """Socket ``attempt`` is open.

    ``paused == "uninitialized"`` means it opened while paused, so ``on_open``
    is deferred to ``resume()``, which delivers ``pending_open``: the metadata
    captured when the socket opened.
    """

    name: ClassVar[Literal["ready"]] = "ready"
    attempt: int
    paused: Literal["no", "yes", "uninitialized"] = "no"
    pending_open: ReconnectMetadata | None = None


@dataclass(frozen=True, slots=True)
class Stopped:
    """No socket until ``try_restart()``."""

    name: ClassVar[Literal["stopped"]] = "stopped"


@dataclass(frozen=True, slots=True)
class Terminated:
    """No socket, ever again."""

    name: ClassVar[Literal["terminated"]] = "terminated"


SocketState: TypeAlias = Disconnected | Connecting | Ready | Stopped | Terminated

Event: TypeAlias = Literal[
    "start",
    "reconnect_timer",
    "reconnect_now",
    "opened",
    "lost",
    "stop",
    "restart",
    "pause",
    "resume",
    "terminate",
]
"""What moves the state: a command, a timer or a socket event.

``lost`` is every way a socket ends that schedules a reconnect: a close from
the server, a failed handshake, inactivity, a send failure or bad input.
"""


def state_label(state: SocketState) -> str:
    """A state with its pause sub-state, as the table and the docs name it.

    ``state.name`` is the label without the sub-state (``connecting(yes)`` → ``connecting``).
    """
    if isinstance(state, Connecting):
        return f"connecting({'yes' if state.paused else 'no'})"
    if isinstance(state, Ready):
        return f"ready({state.paused})"
    return state.name


_CONNECTING = ("connecting(no)", "connecting(yes)")
_READY = ("ready(no)", "ready(yes)", "ready(uninitialized)")
_ALIVE = ("disconnected", *_CONNECTING, *_READY, "stopped")

STATE_LABELS: Final = (*_ALIVE, "terminated")
"""Every label ``state_label`` gives, in the order the docs list them."""

TRANSITIONS: Final[frozenset[tuple[str, Event, str]]] = frozenset(
    {
        ("disconnected", "start", "connecting(no)"),
        ("disconnected", "reconnect_timer", "connecting(no)"),
        ("disconnected", "reconnect_now", "connecting(no)"),
        ("connecting(no)", "opened", "ready(no)"),
        ("connecting(yes)", "opened", "ready(uninitialized)"),
        *((source, "lost", "disconnected") for source in (*_CONNECTING, *_READY)),
        *((source, "stop", "stopped") for source in _ALIVE if source != "stopped"),
        ("stopped", "restart", "connecting(no)"),
        ("connecting(no)", "pause", "connecting(yes)"),
        ("ready(no)", "pause", "ready(yes)"),
        ("connecting(yes)", "resume", "connecting(no)"),
        ("ready(uninitialized)", "resume", "ready(no)"),
        ("ready(yes)", "resume", "ready(no)"),
        *((source, "terminate", "terminated") for source in _ALIVE),
    }
)
"""Every change of state, as (from, event, to). Anything not here is a no-op."""
