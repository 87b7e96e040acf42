"""Every promise through every fault kind, on real sockets against the dev server.

A subscriber and a writer share one ``Client`` while the server is hit, round
after round, by each fault the dev server can inject. At the end: every
message sent is in the subscription exactly once, every mutation resolved
exactly once, every action either ran or failed with ``ConnectionLostError``
exactly once, and the client is connected with its backoff reset.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping

import pytest

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire import ConnectionLostError
from syncwire.devserver import ActionCtx
from syncwire.devserver import App
from syncwire.devserver.example import chat_app
from syncwire.devserver.server import DevServer
from syncwire.protocol import ConvexValue
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import CLOSE_NO_STATUS
from tests.helpers import until

pytestmark = pytest.mark.asyncio

TIMEOUT = 20.0
INACTIVITY = 0.5
POLICY = BackoffPolicy(
    client_initial=0.01,
    unknown_initial=0.02,
    max_backoff=0.2,
    server_errors={
        "InternalServerError": 0.02,
        "SubscriptionsWorkerFullError": 0.05,
        "TooManyConcurrentRequests": 0.02,
    },
)
CHANNEL = {"channel": "faults"}


def app_with_slow_action() -> App:
    app = chat_app()

    async def slow_echo(ctx: ActionCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        await asyncio.sleep(0.05)
        return args.get("n")

    app.action("work:slowEcho", slow_echo)
    return app


Fault = Callable[[DevServer], Awaitable[None]]


async def close_with(server: DevServer, code: int, reason: str = "") -> None:
    server.faults.close_all(code, reason)


async def silence(server: DevServer) -> None:
    server.faults.silence(INACTIVITY * 3)  # past the client's inactivity threshold
    await asyncio.sleep(INACTIVITY * 2)


async def kill_and_restart(server: DevServer) -> None:
    await server.restart(downtime=0.1)


async def refuse_then_close(server: DevServer) -> None:
    server.faults.refuse(0.2)
    server.faults.close_all(1011, "InternalServerError")
    await asyncio.sleep(0.2)


async def garbage(server: DevServer) -> None:
    server.faults.send_garbage()


async def unknown_type(server: DevServer) -> None:
    server.faults.send_unknown_type()


FAULTS: dict[str, Fault] = {
    "overload 1013": lambda s: close_with(s, 1013, "SubscriptionsWorkerFullError"),
    "internal 1011": lambda s: close_with(s, 1011, "InternalServerError"),
    "too many requests 1013": lambda s: close_with(s, 1013, "TooManyConcurrentRequests"),
    "unknown reason 1001": lambda s: close_with(s, 1001, "going away"),
    "no status 1005": lambda s: close_with(s, CLOSE_NO_STATUS),
    "abort 1006": lambda s: close_with(s, CLOSE_ABNORMAL),
    "silence": silence,
    "kill and restart": kill_and_restart,
    "refused reconnects": refuse_then_close,
    "garbage frame": garbage,
    "unknown message type": unknown_type,
}


@contextlib.asynccontextmanager
async def running(app: App) -> AsyncIterator[tuple[DevServer, Client]]:
    async with (
        DevServer(app, ping_interval=INACTIVITY / 4) as server,
        Client(server.url, inactivity_threshold=INACTIVITY, backoff=POLICY) as client,
    ):
        yield server, client


@pytest.mark.parametrize("rounds", [2])
async def test_nothing_promised_is_lost_through_every_fault(rounds: int) -> None:
    async with running(app_with_slow_action()) as (server, client):
        sub = client.subscribe("messages:list", CHANNEL)
        latest: list[object] = await asyncio.wait_for(sub.next(), TIMEOUT)
        resolved: collections.Counter[str] = collections.Counter()
        action_outcomes: collections.Counter[str] = collections.Counter()
        sent: list[str] = []

        async def write(body: str) -> None:
            sent.append(body)
            await client.mutation("messages:send", {**CHANNEL, "body": body})
            resolved[body] += 1

        async def act(n: float) -> None:
            try:
                assert await client.action("work:slowEcho", {"n": n}) == n
            except ConnectionLostError:
                action_outcomes["lost"] += 1
            else:
                action_outcomes["ran"] += 1

        async def read() -> None:
            nonlocal latest
            async for value in sub:
                latest = value

        reader = asyncio.ensure_future(read())
        calls: list[asyncio.Future[None]] = []
        reconnects_before = client.connection_state().connection.connection_count
        for round_number in range(rounds):
            for name, fault in FAULTS.items():
                # Calls in flight as the fault hits, and more while it lasts.
                for i in range(3):
                    calls.append(asyncio.ensure_future(write(f"{round_number}/{name}/{i}")))
                calls.append(asyncio.ensure_future(act(float(len(calls)))))
                opened = client.connection_state().connection.connection_count
                await fault(server)
                for i in range(3, 5):
                    calls.append(asyncio.ensure_future(write(f"{round_number}/{name}/{i}")))

                def reconnected(opened: int = opened) -> bool:
                    state = client.connection_state().connection
                    return state.connection_count > opened and state.state == "ready"

                await until(reconnected, f"a reconnect after {name}")
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(*calls)

        await until(
            lambda: [m["body"] for m in latest] == sent,  # type: ignore[index]
            "the subscription to show every message",
        )
        bodies = [m["body"] for m in latest]  # type: ignore[index]
        assert collections.Counter(bodies) == collections.Counter(sent), "lost or duplicated"
        assert set(resolved.values()) == {1}
        assert len(resolved) == len(sent)
        assert sum(action_outcomes.values()) == rounds * len(FAULTS)
        assert action_outcomes["lost"] > 0, "no action was in flight when a fault hit"
        opened = client.connection_state().connection.connection_count - reconnects_before
        assert opened >= rounds * len(FAULTS)
        await until(
            lambda: client.connection_state().connection.connection_retries == 0,
            "the backoff to reset",
        )
        assert not client.connection_state().has_inflight_requests
        sub.unsubscribe()
        await asyncio.wait_for(reader, TIMEOUT)
