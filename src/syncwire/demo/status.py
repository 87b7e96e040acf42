"""The live status of a run: what the scenario is doing now, which both views read."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Final

from syncwire.client import Client
from syncwire.client import ClientConnectionState
from syncwire.console import ConnectionLines
from syncwire.demo.outcome import Outcome

__all__ = ["DemoStatus"]

_EVENTS_KEPT: Final = 60
"""Event lines the live view may show (as many of the latest as fit the terminal)."""


class DemoStatus:
    """What the scenario is doing now; views read it, ``on_line`` gets each event line."""

    def __init__(self, on_line: Callable[[str], object] | None = None) -> None:
        self.on_line = on_line
        self.started = 0.0
        self.phase = "starting"
        self.step = 0
        self.events: collections.deque[str] = collections.deque(maxlen=_EVENTS_KEPT)
        self.client: Client | None = None
        self.final_state: ClientConnectionState | None = None
        """The state just before the client closed: what the view shows afterwards."""
        self.messages: list[Mapping[str, Any]] = []
        self.outcome: Outcome | None = None
        self._connection_lines = ConnectionLines(each_attempt=True)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def elapsed(self) -> float:
        return self.now() - self.started

    def log(self, text: str) -> None:
        line = f"[{self.elapsed():5.1f}s] {text}"
        self.events.append(line)
        if self.on_line is not None:
            self.on_line(line)

    def set_phase(self, step: int, phase: str, detail: str = "") -> None:
        """``phase`` is short (the live view's header holds it on one line at 80
        columns); ``detail`` goes to the event line only."""
        self.step, self.phase = step, phase
        self.log(f"── {phase}" + (f" — {detail}" if detail else ""))

    def state_changed(self, state: ClientConnectionState) -> None:
        line = self._connection_lines.line(state, self.now())
        if line is not None:
            self.log(line)
