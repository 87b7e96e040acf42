"""``syncwire demo``: the client against the embedded dev server, under scripted faults.

The dev server starts in-process on loopback; a ``Client`` subscribes to the
example chat app while a writer keeps sending messages, and the server is hit,
one fault after another, with what a deployment really does: an overload close
(1013 ``SubscriptionsWorkerFullError``), an internal error (1011), a silent
server (caught by the client's inactivity timer), a kill and restart, and an
expired auth token that the server rejects and the token fetcher replaces.
Then the promises are checked: every message sent is in the subscription
exactly once, every mutation resolved once, auth confirmed, the connection
back to ready. The exit code is 0 only if every check held.

Everything goes through the client's real code paths; only the thresholds are
shortened (a 2 s inactivity threshold, a small backoff) so that the whole run
takes about 15 s. ``run_scenario`` does the work and returns an ``Outcome``;
``check`` judges an outcome (a pure function, so a failing run can be tested
with a fabricated one); the views (a rich live view on a terminal, plain lines
otherwise) only read a ``DemoStatus``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import logging
import os
import random
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from syncwire._core.backoff import BackoffPolicy
from syncwire._output import write_line
from syncwire.client import Client, ClientConnectionState
from syncwire.devserver import DevServer, make_hs256_token, verify_hs256
from syncwire.devserver.auth import AuthenticationError
from syncwire.devserver.example import chat_app

__all__ = [
    "Check",
    "DemoConfig",
    "DemoStatus",
    "FaultReport",
    "Outcome",
    "check",
    "connection_label",
    "describe_connection",
    "main",
    "run_scenario",
]

SECRET: Final = "syncwire-demo-secret"  # noqa: S105 - the demo's throwaway HS256 key
AUTHOR: Final = "Ada"
CHANNEL: Final = "demo"
FAULT_COUNT: Final = 5
_SETTLE: Final = 8.0
"""Seconds a fault may take to recover before the demo moves on (it is then a FAIL)."""
_WATCHDOG_GRACE: Final = 15.0
"""Seconds past the deadline after which the process exits even if the loop is stuck."""
_EVENTS_KEPT: Final = 60
"""Event lines the live view may show (as many of the latest as fit the terminal)."""
_MESSAGES_SHOWN: Final = 4
"""The latest messages in the live view: as many rows as the connection panel's."""


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """The demo's timings, in seconds; ``quick()`` shortens them (about 6 s in all)."""

    inactivity_threshold: float = 2.0
    """The client's; the server pings every quarter of it, so only a silent server trips it."""
    calm: float = 1.5
    """Normal traffic before each fault and before the checks."""
    write_interval: float = 0.15
    """Mean delay between two messages of the writer (it never waits for an answer)."""
    restart_downtime: float = 1.0
    deadline: float = 30.0
    """The whole run, checks included; past it the demo stops and fails."""
    seed: int = 0
    """Seeds the backoff jitter and the writer's pace."""
    backoff: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(
            client_initial=0.1,
            unknown_initial=0.3,
            max_backoff=2.0,
            server_errors={"SubscriptionsWorkerFullError": 1.5, "InternalServerError": 0.5},
        )
    )

    @classmethod
    def quick(cls, seed: int = 0, deadline: float = 30.0) -> DemoConfig:
        """The same faults with shorter calm periods and thresholds (about 7 s)."""
        return cls(
            inactivity_threshold=1.0,
            calm=0.4,
            write_interval=0.08,
            restart_downtime=0.5,
            deadline=deadline,
            seed=seed,
            backoff=BackoffPolicy(
                client_initial=0.05,
                unknown_initial=0.1,
                max_backoff=0.8,
                server_errors={"SubscriptionsWorkerFullError": 0.6, "InternalServerError": 0.2},
            ),
        )


# --- what happened ------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


def check(outcome: Outcome) -> list[Check]:
    """Judge an outcome against what the client promises; every check must pass."""
    checks: list[Check] = []
    sent = collections.Counter(outcome.sent)
    final = outcome.final_messages
    if final is None:
        checks.append(
            Check(
                "every message sent is in the subscription exactly once",
                False,
                "no subscription result",
            )
        )
    else:
        seen = collections.Counter(str(m.get("body")) for m in final)
        lost = sorted((sent - seen).elements())
        doubled = sorted(body for body, n in seen.items() if n > 1)
        unknown = sorted(body for body in seen if body not in sent)
        problems = [
            f"{label}: {_sample(items)}"
            for label, items in (("lost", lost), ("duplicated", doubled), ("never sent", unknown))
            if items
        ]
        checks.append(
            Check(
                "every message sent is in the subscription exactly once",
                bool(outcome.sent) and not problems,
                "; ".join(problems) or f"{len(outcome.sent)} sent, {len(final)} in the result",
            )
        )
    unresolved = [body for body in outcome.sent if outcome.resolved[body] == 0]
    twice = [body for body, n in outcome.resolved.items() if n > 1]
    problems = [
        f"{label}: {_sample(items)}"
        for label, items in (
            ("failed", sorted(outcome.errors)),
            ("never resolved", unresolved),
            ("resolved twice", twice),
        )
        if items
    ]
    checks.append(
        Check(
            "every mutation resolved exactly once",
            bool(outcome.sent) and not problems,
            "; ".join(problems) or f"{len(outcome.sent)} of {len(outcome.sent)}",
        )
    )
    recovered = [f for f in outcome.faults if f.recovered_after is not None]
    missing = [f.name for f in outcome.faults if f.recovered_after is None]
    checks.append(
        Check(
            "the client reconnected after every fault",
            len(recovered) == FAULT_COUNT,
            f"{len(recovered)} of {FAULT_COUNT}"
            + (f"; not: {', '.join(missing)}" if missing else ""),
        )
    )
    state = outcome.final_state
    authenticated = state is not None and state.is_authenticated is True
    checks.append(
        Check(
            "the expired token was rejected, then a fresh one fetched and confirmed",
            bool(outcome.rejected) and True in outcome.fetches and authenticated,
            f"server rejected {len(outcome.rejected)} ({_sample(outcome.rejected)}); "
            f"fetcher calls (force_refresh): {outcome.fetches}; "
            f"is_authenticated: {None if state is None else state.is_authenticated}",
        )
    )
    checks.append(_check_authors(outcome))
    if state is None:
        checks.append(Check("the connection is back to connected", False, "no final state"))
    else:
        connection = state.connection
        ok = (
            connection.state == "ready"
            and not connection.paused
            and connection.connection_retries == 0
            and not state.has_inflight_requests
        )
        checks.append(
            Check(
                "the connection is back to connected",
                ok,
                f"{connection_label(state)}, retries {connection.connection_retries}, "
                f"{state.inflight_mutations + state.inflight_actions} request(s) in flight",
            )
        )
    if outcome.error is not None:
        checks.append(Check("the run completed", False, outcome.error))
    checks.append(
        Check(
            f"finished within {outcome.deadline:g} s",
            not outcome.timed_out,
            f"{outcome.elapsed:.1f} s"
            + (" (stopped at the deadline)" if outcome.timed_out else ""),
        )
    )
    return checks


def _check_authors(outcome: Outcome) -> Check:
    name = f"messages sent once auth began carry the author ({AUTHOR})"
    if outcome.authored_from is None or outcome.final_messages is None:
        return Check(name, False, "auth never started, or no subscription result")
    after = set(outcome.sent[outcome.authored_from :])
    authored = [m for m in outcome.final_messages if m.get("body") in after]
    wrong = [str(m.get("body")) for m in authored if m.get("author") != AUTHOR]
    return Check(
        name,
        bool(authored) and not wrong,
        f"{len(authored) - len(wrong)} of {len(after)}"
        + (f"; without the author: {_sample(wrong)}" if wrong else ""),
    )


def _sample(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … ({len(items)} in all)" if len(items) > limit else "")


# --- the live status both views read ---------------------------------------------------


def connection_label(state: ClientConnectionState) -> str:
    """The state in a word: connected, connecting, disconnected, paused, stopped, closed."""
    connection = state.connection
    if connection.state == "ready":
        return "paused" if connection.paused else "connected"
    return {"terminated": "closed"}.get(connection.state, connection.state)


def describe_connection(state: ClientConnectionState, now: float) -> str:
    """One line: the state, connections, retries, the reconnect countdown, the last
    close, and why the socket cannot be opened, while it cannot.

    ``now`` is the event loop's time (``next_reconnect_at`` is loop time).
    """
    connection = state.connection
    parts = [connection_label(state), f"connections {connection.connection_count}"]
    parts.append(f"retries {connection.connection_retries}")
    if connection.next_reconnect_at is not None:
        parts.append(f"reconnect in {max(0.0, connection.next_reconnect_at - now):.1f} s")
    if connection.last_close_reason and connection.last_close_reason != "InitialConnect":
        parts.append(f"last close: {connection.last_close_reason}")
    if state.last_error is not None:
        parts.append(f"cannot connect: {state.last_error}")
    if state.is_authenticated is not None:
        parts.append("auth confirmed" if state.is_authenticated else "auth rejected")
    return " · ".join(parts)


def _state_key(state: ClientConnectionState) -> tuple[object, ...]:
    """What makes a state change worth a line (not the in-flight counts)."""
    c = state.connection
    return (
        c.state,
        c.paused,
        c.connection_count,
        c.connection_retries,
        state.is_authenticated,
        state.last_error,
    )


class DemoStatus:
    """What the scenario is doing now; views read it, ``on_line`` gets each event line."""

    def __init__(self, on_line: Callable[[str], None] | None = None) -> None:
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
        self._last_key: tuple[object, ...] | None = None

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
        key = _state_key(state)
        if key != self._last_key:
            self._last_key = key
            self.log(f"connection: {describe_connection(state, self.now())}")


# --- the scenario ------------------------------------------------------------------------


async def run_scenario(config: DemoConfig, status: DemoStatus | None = None) -> Outcome:
    """Run the demo once; never raises (a timeout or an error is in the outcome)."""
    status = status or DemoStatus()
    loop = asyncio.get_running_loop()
    status.started = loop.time()
    outcome = Outcome(deadline=config.deadline, seed=config.seed)
    status.outcome = outcome
    try:
        async with asyncio.timeout(config.deadline):
            await _Scenario(config, status, outcome).run()
    except TimeoutError:
        outcome.timed_out = True
        status.log(f"the deadline ({config.deadline:g} s) passed: stopping")
    except Exception as exc:  # a bug: reported as a failed check, not a traceback
        outcome.error = f"{type(exc).__name__}: {exc}"
        status.log(f"error: {outcome.error}")
    outcome.elapsed = loop.time() - status.started
    status.phase = "finished"
    return outcome


class _Scenario:
    """One run: a dev server, a client, a writer, the faults in order; fills ``outcome``."""

    def __init__(self, config: DemoConfig, status: DemoStatus, outcome: Outcome) -> None:
        self.config = config
        self.status = status
        self.outcome = outcome
        self.rng = random.Random(config.seed)  # noqa: S311 - jitter and pace, not secrets
        self.writes: set[asyncio.Task[None]] = set()
        self.close_reasons: list[tuple[float, str]] = []
        self.subscribed = False
        now = int(time.time())
        claims = {"sub": "user-ada", "name": AUTHOR, "iss": "syncwire-demo"}
        self.expired_token = make_hs256_token(
            {**claims, "iat": now - 7200, "exp": now - 3600}, SECRET
        )
        self.fresh_token = make_hs256_token({**claims, "iat": now, "exp": now + 3600}, SECRET)

    def verify(self, token: str) -> Mapping[str, Any]:
        """The dev server's HS256 check, noting each rejection for the summary."""
        try:
            return verify_hs256(token, SECRET)
        except AuthenticationError as exc:
            self.outcome.rejected.append(str(exc))
            self.status.log(f"server: rejected the token ({exc})")
            raise

    def fetch_token(self, force_refresh: bool) -> str:
        """First a cached token that has expired; a fresh one when forced to refresh."""
        outcome = self.outcome
        if outcome.authored_from is None:
            outcome.authored_from = len(outcome.sent)
        outcome.fetches.append(force_refresh)
        which = "a fresh token" if force_refresh else "the cached token (expired)"
        self.status.log(f"fetcher(force_refresh={force_refresh}) → {which}")
        return self.fresh_token if force_refresh else self.expired_token

    async def run(self) -> None:
        config, status, outcome = self.config, self.status, self.outcome
        server = DevServer(
            chat_app(), auth_verifier=self.verify, ping_interval=config.inactivity_threshold / 4
        )
        async with server:
            status.log(f"dev server listening on {server.url}")
            client = Client(
                server.url,
                inactivity_threshold=config.inactivity_threshold,
                backoff=config.backoff,
                rand=self.rng.random,
            )
            async with client:
                status.client = client
                background = [
                    asyncio.ensure_future(self.watch_states(client)),
                    asyncio.ensure_future(self.read(client)),
                ]
                writer: asyncio.Future[None] | None = None
                try:
                    status.set_phase(
                        0, "subscribing to messages:list", "the writer starts once it has a value"
                    )
                    await self.until(lambda: self.subscribed, 10.0)
                    writer = asyncio.ensure_future(self.write(client))
                    await self.faults(server, client)
                    status.set_phase(FAULT_COUNT + 1, "calm, then the checks", "the writer stops")
                    await asyncio.sleep(config.calm)
                    writer.cancel()
                    await asyncio.gather(writer, return_exceptions=True)
                    await self.settle(client)
                finally:
                    # A silenced server would hold the client's close handshake back
                    # past the deadline: let the server answer again first.
                    server.faults.lift()
                    outcome.final_state = status.final_state = client.connection_state()
                    status.client = None
                    outcome.final_messages = list(status.messages) if self.subscribed else None
                    tasks = [*background, *self.writes, *([writer] if writer else [])]
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                status.log("closing the client and the server")

    async def read(self, client: Client) -> None:
        async with client.subscribe("messages:list", {"channel": CHANNEL}) as subscription:
            async for value in subscription:
                self.status.messages = list(value)
                self.subscribed = True

    async def watch_states(self, client: Client) -> None:
        async for state in client.connection_states():
            reason = state.connection.last_close_reason
            if (
                reason
                and reason != "InitialConnect"
                and state.connection.state != "ready"
                and (not self.close_reasons or self.close_reasons[-1][1] != reason)
            ):
                self.close_reasons.append((self.status.elapsed(), reason))
            self.status.state_changed(state)

    async def write(self, client: Client) -> None:
        """Send a message every ~``write_interval``, never waiting for the answer,
        so that mutations pile up while the connection is down."""
        while True:
            body = f"msg {len(self.outcome.sent) + 1:03d}"
            self.outcome.sent.append(body)
            task = asyncio.ensure_future(self.send(client, body))
            self.writes.add(task)
            task.add_done_callback(self.writes.discard)
            await asyncio.sleep(self.config.write_interval * (0.5 + self.rng.random()))

    async def send(self, client: Client, body: str) -> None:
        try:
            await client.mutation("messages:send", {"channel": CHANNEL, "body": body})
        except Exception as exc:
            self.outcome.errors[body] = f"{type(exc).__name__}: {exc}"
            self.status.log(f"mutation {body!r} failed: {exc}")
        else:
            self.outcome.resolved[body] += 1

    async def faults(self, server: DevServer, client: Client) -> None:
        config = self.config
        silence = config.inactivity_threshold + 1.0

        async def overload() -> None:
            server.faults.close_all(1013, "SubscriptionsWorkerFullError")

        async def internal() -> None:
            server.faults.close_all(1011, "InternalServerError")

        async def silent() -> None:
            server.faults.silence(silence)

        async def restart() -> None:
            await server.restart(downtime=config.restart_downtime)

        async def bad_token() -> None:
            client.set_auth(self.fetch_token)

        steps: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [
            ("overload", "close 1013 SubscriptionsWorkerFullError", overload),
            ("internal error", "close 1011 InternalServerError", internal),
            (
                "silent server",
                f"silence {silence:g} s (no frames, no pings; the client's "
                f"inactivity threshold is {config.inactivity_threshold:g} s)",
                silent,
            ),
            (
                "kill and restart",
                f"kill (TCP dropped, 1006), listen again after {config.restart_downtime:g} s",
                restart,
            ),
            (
                "rejected token",
                "set_auth(fetcher): the cached token has expired; the server rejects it",
                bad_token,
            ),
        ]
        for number, (name, injected, inject) in enumerate(steps, start=1):
            self.status.set_phase(number, f"calm before fault {number}/{FAULT_COUNT}: {name}")
            await asyncio.sleep(config.calm)
            self.status.set_phase(number, f"fault {number}/{FAULT_COUNT}: {name}", injected)
            await self.fault(client, name, injected, inject, auth=name == "rejected token")

    async def fault(
        self,
        client: Client,
        name: str,
        injected: str,
        inject: Callable[[], Awaitable[None]],
        *,
        auth: bool = False,
    ) -> None:
        """Inject, then wait until the client has reconnected and caught up."""
        opened = client.connection_state().connection.connection_count
        at = self.status.elapsed()
        report = FaultReport(name, injected, at)
        self.outcome.faults.append(report)
        await inject()

        def recovered() -> bool:
            state = client.connection_state()
            connection = state.connection
            return (
                connection.connection_count > opened
                and connection.state == "ready"
                and not connection.paused
                and connection.connection_retries == 0
                and (not auth or state.is_authenticated is True)
            )

        if await self.until(recovered, _SETTLE + self.config.inactivity_threshold):
            report.recovered_after = self.status.elapsed() - at
        reasons = [reason for when, reason in self.close_reasons if when >= at]
        report.close_reason = reasons[0] if reasons else None
        if auth and self.outcome.rejected:
            report.close_reason = f"AuthError: {self.outcome.rejected[0]}"
        if report.recovered_after is None:
            self.status.log(f"{name}: the client did not recover in time")
        else:
            self.status.log(
                f"{name}: recovered in {report.recovered_after:.1f} s "
                f"(the client saw: {report.close_reason or 'no close'})"
            )

    async def settle(self, client: Client) -> None:
        """Wait (bounded) for the last answers, the last Transition and a reset backoff."""
        await self.until(lambda: not self.writes, 5.0)
        sent = collections.Counter(self.outcome.sent)

        def caught_up() -> bool:
            seen = collections.Counter(str(m.get("body")) for m in self.status.messages)
            state = client.connection_state()
            return (
                seen == sent
                and state.connection.state == "ready"
                and state.connection.connection_retries == 0
                and not state.has_inflight_requests
            )

        await self.until(caught_up, 5.0)

    async def until(self, predicate: Callable[[], bool], within: float) -> bool:
        """Poll ``predicate`` until it holds (``True``) or ``within`` seconds pass (``False``)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while not predicate():  # noqa: ASYNC110 - set by the client's callbacks
                    await asyncio.sleep(0.02)
                return True
        return False


# --- views ---------------------------------------------------------------------------------


def render(status: DemoStatus, width: int = 80, height: int = 24) -> Any:
    """The live view, sized to the terminal: a one-line header, the connection and
    the data side by side, then as many of the latest events as fit, wrapped.

    At 80 columns nothing in the connection panel is cut (a long value wraps), and
    the header holds on one line; the events give way, so that the whole view
    stays within ``height`` lines.
    """
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

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
    passed = all(c.passed for c in checks)
    lines.append(
        f"{'all checks passed' if passed else 'SOME CHECKS FAILED'} "
        f"in {outcome.elapsed:.1f} s (seed {outcome.seed})"
    )
    return lines


def render_summary(outcome: Outcome, checks: Sequence[Check]) -> Any:
    """The summary as rich tables (a terminal)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

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
    passed = all(c.passed for c in checks)
    verdict = Text(
        f"{'all checks passed' if passed else 'SOME CHECKS FAILED'} "
        f"in {outcome.elapsed:.1f} s (seed {outcome.seed})",
        style="bold green" if passed else "bold red",
    )
    return Group(faults, table, verdict)


class _LogLines(logging.Handler):
    """Warnings and errors the library logs during the run become event lines."""

    def __init__(self, status: DemoStatus) -> None:
        super().__init__(logging.WARNING)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: after the run
            self.status.log(f"{record.levelname.lower()}: {record.name}: {record.getMessage()}")


async def _run_live(config: DemoConfig, status: DemoStatus, live: Any) -> Outcome:
    """The scenario with the rich view refreshed four times a second, from the loop."""

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


def main(
    *,
    quick: bool = False,
    seed: int | None = None,
    deadline: float = 30.0,
    plain: bool | None = None,
) -> int:
    """``syncwire demo``: run, print the summary; 0 only if every check passed.

    ``plain`` (default: stdout is not a terminal) prints event lines instead of
    the live view. A watchdog thread ends the process if even the deadline
    cannot stop the run (a stuck event loop).
    """
    seed = random.randrange(1_000_000) if seed is None else seed  # noqa: S311 - not a secret
    config = DemoConfig.quick(seed, deadline) if quick else DemoConfig(deadline=deadline, seed=seed)
    if plain is None:
        plain = not sys.stdout.isatty()
    watchdog = threading.Timer(deadline + _WATCHDOG_GRACE, _give_up, args=(deadline,))
    watchdog.daemon = True
    watchdog.start()
    try:
        if plain:
            status = DemoStatus(on_line=write_line)
            write_line(
                f"syncwire demo (seed {seed}): a client, a writer and {FAULT_COUNT} faults "
                "against the embedded dev server"
            )
            with _library_log_to(status):
                outcome = asyncio.run(run_scenario(config, status))
            checks = check(outcome)
            for line in summary_lines(outcome, checks):
                write_line(line)
        else:
            from rich.console import Console
            from rich.live import Live

            console = Console()
            status = DemoStatus()
            with (
                _library_log_to(status),
                Live(console=console, auto_refresh=False, transient=False) as live,
            ):
                outcome = asyncio.run(_run_live(config, status, live))
            checks = check(outcome)
            console.print(render_summary(outcome, checks))
    finally:
        watchdog.cancel()
    return 0 if all(c.passed for c in checks) else 1


@contextlib.contextmanager
def _library_log_to(status: DemoStatus) -> Iterator[None]:
    """The library's warnings become event lines, and stay off stderr (and the live view)."""
    library = logging.getLogger("syncwire")
    handler, propagate = _LogLines(status), library.propagate
    library.addHandler(handler)
    library.propagate = False
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.propagate = propagate


def _give_up(deadline: float) -> None:
    """The watchdog: the run outlived its deadline by far; exit without cleaning up."""
    sys.stderr.write(
        f"syncwire demo: still running {_WATCHDOG_GRACE:g} s after the {deadline:g} s "
        "deadline; giving up (FAIL)\n"
    )
    sys.stderr.flush()
    os._exit(1)
