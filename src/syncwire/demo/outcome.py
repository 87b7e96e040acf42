"""What a run did and saw: the record the scenario fills and the checks judge."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from syncwire.client import ClientConnectionState

__all__ = ["FaultReport", "Outcome"]


@dataclass(slots=True)
class FaultReport:
    """One injected fault and how the client got over it."""

    name: str
    injected: str
    """What the server did, in its own terms."""
    at: float
    """Seconds since the start."""
    close_reason: str | None = None
    """The first disconnect reason the client reported after the fault."""
    recovered_after: float | None = None
    """Seconds until the client was connected and caught up again; ``None``: it was not."""


@dataclass(slots=True)
class Outcome:
    """What a run did and saw; ``check`` judges it."""

    sent: list[str] = field(default_factory=list)
    """Message bodies, in the order the writer called ``mutation``."""
    resolved: collections.Counter[str] = field(default_factory=collections.Counter)
    """How many times each body's ``mutation`` call returned."""
    errors: dict[str, str] = field(default_factory=dict)
    """Bodies whose ``mutation`` call raised, and what."""
    final_messages: list[Mapping[str, Any]] | None = None
    """The subscription's last value (``messages:list`` of the demo channel)."""
    authored_from: int | None = None
    """Index in ``sent`` of the first message sent once auth began (the fetcher was called)."""
    fetches: list[bool] = field(default_factory=list)
    """``force_refresh`` of each call of the token fetcher."""
    rejected: list[str] = field(default_factory=list)
    """Why the server rejected each token it rejected."""
    final_state: ClientConnectionState | None = None
    faults: list[FaultReport] = field(default_factory=list)
    elapsed: float = 0.0
    deadline: float = 30.0
    seed: int = 0
    timed_out: bool = False
    error: str | None = None
    """An exception that ended the run early (a bug in the demo or the client)."""
