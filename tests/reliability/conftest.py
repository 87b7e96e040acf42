"""The reliability suite: figures, tiers, and the report ``make reliability`` prints.

Tests here prove behaviour under faults, hostile input and load, and record
the figures ``docs/reliability.md`` quotes with the ``figure`` fixture::

    def test_half_open_is_detected(figure: Figure) -> None:
        ...
        figure("half-open detected after", f"{delay * 1000:.0f} ms", goal="≤ threshold + 50 ms")

Two tiers. The fast tier runs in ``make test`` with small counts; tests (or
parameters) marked ``full`` — the 10,000-cycle soak, the 1,000-manager storm,
100 kill/restart rounds — run only with ``--full`` (``make reliability``).
Measured goals on real time (a tight bound on a delay, a share of a bandwidth)
are recorded in both tiers and asserted only in the full one (the ``full``
fixture in ``tests/conftest.py``); the fast tier asserts the behaviour, with
bounds only a real failure misses. Every figure is printed at the end of the
run, with the tier it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

Figure = Callable[..., None]


@dataclass(frozen=True)
class Recorded:
    test: str
    name: str
    value: str
    goal: str
    held: bool | None


_RECORDED: list[Recorded] = []


def full_tier(config: pytest.Config) -> bool:
    return bool(config.getoption("--full"))


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Figure:
    """Record one figure: ``figure(name, value, goal="", held=None)``."""

    def record(name: str, value: str, goal: str = "", held: bool | None = None) -> None:
        _RECORDED.append(Recorded(request.node.nodeid, name, value, goal, held))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RECORDED:
        return
    tier = "full" if full_tier(terminalreporter.config) else "fast"
    terminalreporter.section(f"reliability figures ({tier} tier)")
    for item in _RECORDED:
        verdict = {True: "PASS", False: "FAIL", None: "    "}[item.held]
        goal = f"  (goal: {item.goal})" if item.goal else ""
        terminalreporter.write_line(f"{verdict} {item.name}: {item.value}{goal}")
        terminalreporter.write_line(f"       {item.test}")
