"""Ending well: FatalError, close(), the connection-state stream, bad input."""

from __future__ import annotations

import asyncio
import logging

import pytest

from syncwire import Client
from syncwire import ClientClosedError
from syncwire import FatalServerError
from syncwire.protocol import FatalError
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from tests.client.virtual.peer import TIMEOUT
from tests.client.virtual.peer import client_on_fake
from tests.client.virtual.peer import updated

pytestmark = pytest.mark.asyncio


async def test_a_fatal_error_fails_every_pending_call_and_ends_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client_on_fake() as h:
        client = h.client
        peer = await h.open()
        sub = client.subscribe("messages:list")
        query = asyncio.ensure_future(client.query("messages:count"))
        mutation = asyncio.ensure_future(client.mutation("messages:send"))
        await peer.take(3)
        with caplog.at_level(logging.ERROR, "syncwire.client"):
            peer.send(FatalError(error="Client version too old"))
            for pending in (query, mutation):
                with pytest.raises(FatalServerError, match="Client version too old"):
                    await asyncio.wait_for(pending, TIMEOUT)
        with pytest.raises(FatalServerError):
            await sub.next()
        assert "Client version too old" in caplog.text
        with pytest.raises(FatalServerError):
            client.subscribe("messages:list")
        with pytest.raises(FatalServerError):
            await client.action("a:b")
        await h.settle()
        assert client.connection_state().connection.state == "terminated"
        await client.close()  # still fine: idempotent


async def test_close_fails_pending_calls_ends_subscriptions_and_leaves_no_task() -> None:
    async with client_on_fake() as h:
        client = h.client
        peer, sub = await h.open_subscribed("messages:list")
        peer.transition(updated(0, []), query_set=1)
        values: list[object] = []

        async def read() -> None:
            async for value in sub:
                values.append(value)

        reader = asyncio.ensure_future(read())
        mutation = asyncio.ensure_future(client.mutation("messages:send"))
        query = asyncio.ensure_future(client.query("messages:count"))
        await peer.expect(Mutation)
        await client.close()
        await asyncio.wait_for(reader, TIMEOUT)  # iteration just ends
        assert values == [[]]
        with pytest.raises(ClientClosedError):
            await mutation
        with pytest.raises(ClientClosedError):
            await query
        with pytest.raises(ClientClosedError):
            client.subscribe("messages:list")
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert peer.server.closed_by_client is not None


async def test_cancelling_a_call_does_not_disturb_the_client() -> None:
    async with client_on_fake() as h:
        client = h.client
        peer = await h.open()
        mutation = asyncio.ensure_future(client.mutation("messages:send"))
        sent = await peer.expect(Mutation)
        mutation.cancel()
        peer.send(
            MutationResponse(request_id=sent.request_id, success=True, result=1, ts=1, log_lines=())
        )
        peer.transition(query_set=1, ts=1)
        await h.settle()
        assert client.connection_state().inflight_mutations == 0
        assert await_nothing_pending(client)


def await_nothing_pending(client: Client) -> bool:
    state = client.connection_state()
    return not state.has_inflight_requests and state.oldest_inflight_since is None


async def test_connection_states_stream_every_change_until_close() -> None:
    async with client_on_fake() as h:
        client = h.client
        states = client.connection_states()
        seen: list[str] = []

        async def watch() -> None:
            async for snapshot in states:
                seen.append(snapshot.connection.state)

        watcher = asyncio.ensure_future(watch())
        first = await h.open()
        first.server.close(1013, "SubscriptionsWorkerFullError")
        await h.open()
        await client.close()
        await asyncio.wait_for(watcher, TIMEOUT)
        collapsed = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
        assert collapsed == [
            "connecting",
            "ready",
            "disconnected",
            "connecting",
            "ready",
            "terminated",
        ]


async def test_bad_arguments_fail_the_call_not_the_connection() -> None:
    async with client_on_fake() as h:
        client = h.client
        peer = await h.open()
        with pytest.raises(TypeError, match="args must be a dict"):
            client.subscribe("a:b", ["not", "a", "dict"])  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await client.mutation("a:b", {"x": object()})  # type: ignore[dict-item]
        with pytest.raises(ValueError, match=r"\$bad"):
            await client.action("a:b", {"$bad": 1.0})
        with pytest.raises(TypeError, match="function name"):
            await client.mutation("")
        with pytest.raises(TypeError, match="set_auth takes"):
            client.set_auth(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="empty"):
            client.set_auth("")
        await h.settle()
        assert peer.pending() == []
        assert client.connection_state().connection.state == "ready"


async def test_repr_hides_secrets_in_the_url() -> None:
    async with Client("wss://user:hunter2secret@x.convex.cloud/api/sync?token=hunter2secret") as c:
        assert "hunter2secret" not in repr(c)
