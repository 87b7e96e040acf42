"""``Subscription.id`` names the subscriber; reading after ``unsubscribe()`` raises.

As in the official client: two subscriptions to the same query and args share
one server query (``query_id``) but are two subscribers (``id``); reading a
subscription that was dropped raises rather than waiting for a value that
will never come.
"""

from __future__ import annotations

import asyncio

import pytest

from syncwire.protocol import ModifyQuerySet
from tests.client.virtual.peer import TIMEOUT
from tests.client.virtual.peer import client_on_fake
from tests.client.virtual.peer import updated

pytestmark = pytest.mark.asyncio


async def test_each_subscriber_has_its_own_id() -> None:
    async with client_on_fake() as h:
        peer = await h.open()
        a = h.client.subscribe("messages:list", {"channel": "x"})
        b = h.client.subscribe("messages:list", {"channel": "x"})
        c = h.client.subscribe("messages:list", {"channel": "y"})
        assert a.query_id == b.query_id != c.query_id
        assert len({a.id, b.id, c.id}) == 3
        await peer.expect(ModifyQuerySet)
        await peer.expect(ModifyQuerySet)
        for sub in (a, b, c):
            sub.unsubscribe()


async def test_next_after_unsubscribe_raises_and_a_wait_in_progress_ends() -> None:
    async with client_on_fake() as h:
        peer, sub = await h.open_subscribed("messages:list")
        peer.transition(updated(0, ["a"]), query_set=1)
        assert await sub.next() == ["a"]
        waiting = asyncio.ensure_future(sub.next())
        await h.settle()
        sub.unsubscribe()  # another task stops the subscription: that wait ends the iteration
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, TIMEOUT)
        with pytest.raises(RuntimeError, match="unsubscribed"):
            await asyncio.wait_for(sub.next(), TIMEOUT)
        with pytest.raises(RuntimeError, match="unsubscribed"):
            await asyncio.wait_for(anext(sub), TIMEOUT)


async def test_a_closed_client_ends_iteration_rather_than_raising() -> None:
    async with client_on_fake() as h:
        await h.open()
        sub = h.client.subscribe("messages:list")
        await h.client.close()
        assert [value async for value in sub] == []
