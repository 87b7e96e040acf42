"""The demo on a terminal: a live view refreshed four times a second, then the
summary as tables. The only part of the demo that uses ``rich``."""

from __future__ import annotations

import asyncio
import io
import textwrap
from collections.abc import Sequence
from typing import Final

from rich.console import Console
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from syncwire.console import connection_label
from syncwire.demo.checks import Check
from syncwire.demo.checks import check
from syncwire.demo.checks import passed
from syncwire.demo.checks import verdict
from syncwire.demo.config import CHANNEL
from syncwire.demo.config import FAULT_COUNT
from syncwire.demo.config import DemoConfig
from syncwire.demo.log_capture import library_log_to
from syncwire.demo.outcome import Outcome
from syncwire.demo.scenario import run_scenario
from syncwire.demo.status import DemoStatus

__all__ = ["render", "render_summary", "run_live"]

_MESSAGES_SHOWN: Final = 4
"""The latest messages in the live view: as many rows as the connection panel's."""


def run_live(config: DemoConfig) -> list[Check]:
    """Run the scenario under the live view, then print the summary; the checks."""
    console = Console()
    status = DemoStatus()
    with (
        library_log_to(status),
        Live(console=console, auto_refresh=False, transient=False) as live,
    ):
        outcome = asyncio.run(_refreshed(config, status, live))
    checks = check(outcome)
    console.print(render_summary(outcome, checks))
    return checks


async def _refreshed(config: DemoConfig, status: DemoStatus, live: Live) -> Outcome:
    """The scenario with the view refreshed four times a second, from the loop."""

    def show() -> None:
        width, height = live.console.size
        live.update(render(status, width, height), refresh=True)

    async def refresh() -> None:
        while True:
            show()
            await asyncio.sleep(0.25)

    refresher = asyncio.ensure_future(refresh())
    try:
        return await run_scenario(config, status)
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)
        show()


def render(status: DemoStatus, width: int = 80, height: int = 24) -> Group:
    """The live view, sized to the terminal: a one-line header, the connection and
    the data side by side, then as many of the latest events as fit, wrapped.

    At 80 columns nothing in the connection panel is cut (a long value wraps), and
    the header holds on one line; the events give way, so that the whole view
    stays within ``height`` lines.
    """
    now = status.now()
    header = Text.assemble(
        ("syncwire demo", "bold"),
        f"  t={now - status.started:4.1f}s  ",
        (f"step {status.step}/{FAULT_COUNT + 1}: ", "dim"),
        (status.phase, "bold cyan"),
        no_wrap=True,
        overflow="ellipsis",
    )
    connection = Table.grid(padding=(0, 2))
    connection.add_column(style="dim", no_wrap=True)
    connection.add_column(overflow="fold")
    state = status.client.connection_state() if status.client is not None else status.final_state
    if state is not None:
        c = state.connection
        label = connection_label(state)
        colour = {"connected": "green", "connecting": "yellow"}.get(label, "red")
        countdown = "—"
        if c.next_reconnect_at is not None:
            countdown = f"in {max(0.0, c.next_reconnect_at - now):.1f} s"
        auth = {None: "none yet", True: "confirmed", False: "rejected"}[state.is_authenticated]
        rows: list[tuple[str, str | Text]] = [
            ("state", Text(label, style=f"bold {colour}")),
            ("sockets", f"{c.connection_count} opened, {c.connection_retries} retries"),
            ("reconnect", countdown),
            ("last close", c.last_close_reason or "—"),
            ("last error", state.last_error or "—"),
            ("auth", auth),
            ("in flight", f"{state.inflight_mutations} mutations"),
        ]
        for key, value in rows:
            connection.add_row(key, value)
    outcome = status.outcome
    counts = ""
    if outcome is not None:
        counts = (
            f"sent {len(outcome.sent)} · resolved {sum(outcome.resolved.values())}\n"
            f"in the subscription {len(status.messages)}"
        )
    data = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
    data.add_column("message", no_wrap=True)
    data.add_column("author", no_wrap=True)
    for message in status.messages[-_MESSAGES_SHOWN:]:
        data.add_row(str(message.get("body")), str(message.get("author", "—")))
    panels = Table.grid(expand=True, padding=(0, 1))
    panels.add_column(ratio=3)
    panels.add_column(ratio=2)
    panels.add_row(
        Panel(connection, title="connection"),
        Panel(Group(Text(counts, style="dim"), data), title=f"messages:list {{{CHANNEL}}}"),
    )
    measure = Console(width=width, height=height, file=io.StringIO(), color_system=None)
    room = height - 1 - len(measure.render_lines(panels, measure.options)) - 2
    if room < 1:
        return Group(header, panels)
    lines: list[str] = []  # the latest whole events that fit, oldest first
    for event in reversed(status.events):
        wrapped = textwrap.wrap(event, max(width - 4, 20), subsequent_indent=" " * 9)
        if lines and len(lines) + len(wrapped) > room:
            break
        lines[:0] = wrapped[:room]
    events = Text("\n".join(lines), no_wrap=True, overflow="ellipsis")
    return Group(header, panels, Panel(events, title="events"))


def render_summary(outcome: Outcome, checks: Sequence[Check]) -> Group:
    """The summary as rich tables (a terminal)."""
    faults = Table(title="faults injected", title_justify="left")
    for column in ("#", "fault", "what the server did", "the client saw", "recovered"):
        faults.add_column(column)
    for number, fault in enumerate(outcome.faults, start=1):
        recovered = (
            Text("no", style="bold red")
            if fault.recovered_after is None
            else f"in {fault.recovered_after:.1f} s"
        )
        faults.add_row(
            str(number), fault.name, fault.injected, fault.close_reason or "—", recovered
        )
    table = Table(title="checks", title_justify="left")
    table.add_column("result")
    table.add_column("check")
    table.add_column("detail", style="dim")
    for c in checks:
        result = Text("PASS", style="bold green") if c.passed else Text("FAIL", style="bold red")
        table.add_row(result, c.name, c.detail)
    last = Text(verdict(outcome, checks), style="bold green" if passed(checks) else "bold red")
    return Group(faults, table, last)
