"""Limits at their boundary, and bounded memory wherever input can pile up.

- The message size limit, end to end, on every shipped transport: a frame of exactly
  the limit is taken, one byte more ends the socket (1009), and the client recovers
  with nothing lost.
- The TransitionChunk reassembly cap: exactly the cap is taken, one more
  character is refused before it is buffered.
- Queues a peer or a slow reader could grow: a subscription keeps one value
  however many arrive unread; the connection-state stream keeps at most 1,024.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire._core.machine import CoreConfig
from syncwire._core.machine import ManagerCore
from syncwire._core.states import Disconnected
from syncwire._core.states import Ready
from syncwire.client.client import STATE_BACKLOG
from syncwire.devserver.example import chat_app
from syncwire.devserver.server import DevServer
from syncwire.protocol import MutationResponse
from syncwire.protocol import QueryUpdated
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.testing import FakeTransport
from syncwire.transport.base import Transport
from tests.helpers import chunked
from tests.helpers import until
from tests.reliability.conftest import Figure
from tests.transports import Kind

TIMEOUT = 10.0
LIMIT = 16 * 1024
POLICY = BackoffPolicy(client_initial=0.01, unknown_initial=0.01, max_backoff=0.05)


def frame_of_size(size: int) -> str:
    """A valid MutationResponse for a request nobody made (ignored), of ``size`` bytes."""

    def build(pad: int) -> str:
        response = MutationResponse(
            request_id=10**6, success=True, result="x" * pad, ts=1, log_lines=()
        )
        return encode_server_message(response)

    frame = build(size - len(build(0)))
    assert len(frame.encode()) == size
    return frame


@pytest.mark.asyncio
async def test_the_size_limit_is_exact_and_the_client_recovers(
    transport_kind: Kind, figure: Figure
) -> None:
    transport: Transport = transport_kind.make(max_message_size=LIMIT)
    async with (
        DevServer(chat_app()) as server,
        Client(server.url, transport=transport, backoff=POLICY) as client,
    ):
        sub = client.subscribe("messages:list")
        assert await sub.next() == []

        def opened() -> int:
            return client.connection_state().connection.connection_count

        server.faults.send_raw(frame_of_size(LIMIT))
        await client.mutation("messages:send", {"body": "at the limit"})
        assert opened() == 1, "a frame of exactly the limit must be accepted"

        server.faults.send_raw(frame_of_size(LIMIT + 1))
        await client.mutation("messages:send", {"body": "after the limit"})
        await until(lambda: opened() >= 2, "the reconnect after the oversized frame")
        async with asyncio.timeout(TIMEOUT):
            values: list[dict[str, object]] = []
            while len(values) < 2:
                values = await sub.next()
        state = client.connection_state().connection
        assert state.state == "ready"
        assert [m["body"] for m in values] == ["at the limit", "after the limit"]
        sub.unsubscribe()
    figure(
        "message size limit (16 KiB here, 64 MiB by default)",
        "limit accepted; limit + 1 closed with 1009, reconnected, nothing lost",
        goal="exact boundary, recovered",
        held=True,
    )


def ready_core(max_transition_size: int) -> ManagerCore:
    core = ManagerCore(
        config=CoreConfig(max_transition_size=max_transition_size),
        rand=lambda: 0.5,
        logger=logging.getLogger("tests.reliability"),
    )
    core.start(0.0)
    core.socket_opened(1, 0.0)
    core.take_actions()
    return core


def test_the_chunk_reassembly_cap_is_exact(figure: Figure) -> None:
    version = StateVersion(query_set=0, identity=0, ts=0)
    transition = Transition(
        start_version=version,
        end_version=version,
        modifications=(QueryUpdated(query_id=0, value="v" * 1000, log_lines=(), journal=None),),
    )
    text = encode_server_message(transition)
    length, frames = len(text), chunked(text, 4, "t")

    at_cap = ready_core(max_transition_size=length)
    received = [at_cap.frame_received(1, frame, 1.0) for frame in frames]
    assert received[-1] == transition
    assert isinstance(at_cap.state, Ready)

    over_cap = ready_core(max_transition_size=length - 1)
    for frame in frames:
        over_cap.frame_received(1, frame, 1.0)
    assert isinstance(over_cap.state, Disconnected)
    assert f"exceeds {length - 1} characters" in (
        over_cap.connection_state().last_close_reason or ""
    )
    figure(
        "TransitionChunk reassembly cap",
        "cap accepted; cap + 1 refused and reconnected",
        goal="exact boundary",
        held=True,
    )


@pytest.mark.asyncio
async def test_unread_values_and_states_do_not_pile_up(figure: Figure) -> None:
    fake = FakeTransport(auto_accept=True)
    calls: list[asyncio.Task[object]] = []
    async with Client("wss://x.convex.cloud/api/sync", transport=fake) as client:
        server = await fake.next_connection()
        sub = client.subscribe("a:b")
        states = client.connection_states()
        start = StateVersion(query_set=0, identity=0, ts=0)
        count = 5_000
        for ts in range(1, count + 1):
            end = StateVersion(query_set=1, identity=0, ts=ts)
            update = QueryUpdated(query_id=0, value=float(ts), log_lines=(), journal=None)
            transition = Transition(start_version=start, end_version=end, modifications=(update,))
            server.push(encode_server_message(transition))
            start = end
            # Each mutation made changes the state (one more request in flight).
            calls.append(asyncio.ensure_future(client.mutation("m:m")))
        async with asyncio.timeout(TIMEOUT):
            while client._remote.version.ts < count:  # noqa: ASYNC110 - the reader's progress
                await asyncio.sleep(0)
        assert await sub.next() == float(count), "a slow reader skips to the newest value"
        backlog = states.mailbox.unread  # type: ignore[attr-defined]
        assert backlog == STATE_BACKLOG
        sub.unsubscribe()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert {type(outcome).__name__ for outcome in outcomes} == {"ClientClosedError"}
    figure(
        "unread subscription values / connection states kept",
        f"1 of {count:,} / {backlog:,} of {count:,}+",
        goal="bounded",
        held=True,
    )
