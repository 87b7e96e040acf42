"""The run itself: a dev server in-process, a client subscribed to the chat app, a
writer that keeps sending messages, and the faults, one after another.

Everything goes through the client's real code paths; only the thresholds are
shortened (``DemoConfig``). ``run_scenario`` fills an ``Outcome`` and a
``DemoStatus`` and never raises.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Final

from syncwire.client import Client
from syncwire.demo.config import AUTHOR
from syncwire.demo.config import CHANNEL
from syncwire.demo.config import FAULT_COUNT
from syncwire.demo.config import SECRET
from syncwire.demo.config import DemoConfig
from syncwire.demo.outcome import FaultReport
from syncwire.demo.outcome import Outcome
from syncwire.demo.status import DemoStatus
from syncwire.devserver import DevServer
from syncwire.devserver import make_hs256_token
from syncwire.devserver import verify_hs256
from syncwire.devserver.example import chat_app
from syncwire.errors import InvalidTokenError

__all__ = ["run_scenario"]

_SETTLE: Final = 8.0
"""Seconds a fault may take to recover before the demo moves on (it is then a FAIL)."""


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
        except InvalidTokenError as exc:
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
