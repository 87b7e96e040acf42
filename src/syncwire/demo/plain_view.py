"""The demo without a terminal (CI, a pipe, ``--plain``): event lines, then the summary."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from syncwire.console import write_line
from syncwire.demo.checks import Check
from syncwire.demo.checks import check
from syncwire.demo.checks import verdict
from syncwire.demo.config import FAULT_COUNT
from syncwire.demo.config import DemoConfig
from syncwire.demo.log_capture import library_log_to
from syncwire.demo.outcome import Outcome
from syncwire.demo.scenario import run_scenario
from syncwire.demo.status import DemoStatus

__all__ = ["run_plain", "summary_lines"]


def run_plain(config: DemoConfig) -> list[Check]:
    """Run the scenario, printing each event as a line, then the summary; the checks."""
    status = DemoStatus(on_line=write_line)
    write_line(
        f"syncwire demo (seed {config.seed}): a client, a writer and {FAULT_COUNT} faults "
        "against the embedded dev server"
    )
    with library_log_to(status):
        outcome = asyncio.run(run_scenario(config, status))
    checks = check(outcome)
    for line in summary_lines(outcome, checks):
        write_line(line)
    return checks


def summary_lines(outcome: Outcome, checks: Sequence[Check]) -> list[str]:
    """The summary as plain text (logs, CI, tests)."""
    lines = ["", "faults injected:"]
    for number, fault in enumerate(outcome.faults, start=1):
        recovered = (
            "NOT recovered"
            if fault.recovered_after is None
            else f"recovered in {fault.recovered_after:.1f} s"
        )
        lines.append(
            f"  {number}. {fault.name} at {fault.at:.1f} s: {fault.injected}; "
            f"the client saw: {fault.close_reason or '—'}; {recovered}"
        )
    lines.append("checks:")
    lines.extend(f"  {'PASS' if c.passed else 'FAIL'}  {c.name} ({c.detail})" for c in checks)
    lines.append(verdict(outcome, checks))
    return lines
