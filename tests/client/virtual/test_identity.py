"""Identity is never silently dropped (issue 11, point 2), on virtual time.

When the server rejects the identity the user gave and nothing replaces it,
the client stops its socket and every pending and later call raises
``AuthenticationError``, until ``set_auth`` or ``clear_auth``: nothing is
sent, or re-sent, without the identity. On the wire the ``Authenticate``
frame precedes every call made after ``set_auth``, and the server acts on no
frame after an ``Authenticate`` it rejects (it answers ``AuthError`` and
closes), so a call sent before the rejection was known never ran either.
"""

from __future__ import annotations

import asyncio

import pytest

from syncwire.errors import AuthenticationError
from syncwire.protocol import Action
from syncwire.protocol import Authenticate
from syncwire.protocol import Connect
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import QueryAdd
from tests.client.virtual.peer import TIMEOUT
from tests.client.virtual.peer import Harness
from tests.client.virtual.peer import Peer
from tests.client.virtual.peer import client_on_fake
from tests.client.virtual.peer import jwt
from tests.client.virtual.peer import rejected
from tests.client.virtual.peer import updated

pytestmark = pytest.mark.asyncio


async def reconnects(h: Harness) -> Peer:
    peer = await h.accept()
    await peer.expect(Connect)
    return peer


async def closed(peer: Peer) -> None:
    """The connection ended (the client closes it after a rejection), bounded."""
    async with asyncio.timeout(TIMEOUT):
        await peer.server.wait_closed()


async def fails_with_authentication_error(h: Harness) -> None:
    """Every kind of call fails at once (no virtual time passes), and goes on failing."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(TIMEOUT):
        for _ in range(2):
            with pytest.raises(AuthenticationError):
                await h.client.query("messages:list")
            with pytest.raises(AuthenticationError):
                h.client.subscribe("messages:list")
            with pytest.raises(AuthenticationError):
                await h.client.mutation("messages:send", {"body": "x"})
            with pytest.raises(AuthenticationError):
                await h.client.action("messages:act")
    assert loop.time() == started


async def test_a_rejected_token_fails_every_call_and_nothing_runs_without_it() -> None:
    token = jwt("mallory")
    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_auth(token)
        sub = h.client.subscribe("messages:list")
        mutation = asyncio.ensure_future(h.client.mutation("messages:send", {"body": "hi"}))
        action = asyncio.ensure_future(h.client.action("messages:act"))
        # The order on the wire: the identity first, then the calls made after it.
        auth = await peer.expect(Authenticate)
        assert auth.value == token
        await peer.expect(ModifyQuerySet)
        await peer.expect(Mutation)
        await peer.expect(Action)
        peer.send(rejected(error="Invalid signature"))
        with pytest.raises(AuthenticationError) as failed:
            await asyncio.wait_for(mutation, TIMEOUT)
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(action, TIMEOUT)
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(sub.next(), TIMEOUT)
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(sub.next(), TIMEOUT)  # as long as it lasts, not once
        await fails_with_authentication_error(h)
        assert "Invalid signature" in str(failed.value)
        assert token not in str(failed.value)
        assert token not in repr(failed.value)
        # The client closed the socket itself and opens no other: no anonymous retry.
        await closed(peer)
        assert peer.pending() == []
        await asyncio.sleep(TIMEOUT)
        assert h.fake.attempts == 1
        state = h.client.connection_state()
        assert (state.is_authenticated, state.connection.state) == (False, "stopped")
        assert (state.inflight_mutations, state.inflight_actions) == (0, 0)

        # A new token: the socket opens again, the token first; the failed calls
        # are not re-sent; the subscription resumes under the new identity.
        h.client.set_auth(jwt("alice"))
        again = await reconnects(h)
        assert (await again.expect(Authenticate)).value == jwt("alice")
        query_set = await again.expect(ModifyQuerySet)
        assert query_set.modifications == (QueryAdd(query_id=0, udf_path="messages:list", args={}),)
        again.transition(updated(0, ["from alice"]), identity=1, query_set=1)
        assert await asyncio.wait_for(sub.next(), TIMEOUT) == ["from alice"]
        await asyncio.sleep(TIMEOUT)
        assert again.pending() == [], "the failed mutation and action are never re-sent"
        sub.unsubscribe()


async def test_clear_auth_after_a_rejection_runs_signed_out_on_purpose() -> None:
    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_auth(jwt("mallory"))
        await peer.expect(Authenticate)
        peer.send(rejected(error="Invalid signature"))
        await closed(peer)
        await fails_with_authentication_error(h)
        h.client.clear_auth()
        again = await reconnects(h)
        assert isinstance(await again.next(), ModifyQuerySet), "no Authenticate: signed out"
        mutation = asyncio.ensure_future(h.client.mutation("messages:send", {"body": "anon"}))
        assert (await again.expect(Mutation)).udf_path == "messages:send"
        mutation.cancel()


async def test_an_admin_key_the_server_rejects_is_not_dropped_either() -> None:
    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_admin_auth("not-an-admin-key")
        await peer.expect(Authenticate)
        peer.send(rejected(error="bad admin key"))
        await closed(peer)
        await fails_with_authentication_error(h)
        assert peer.pending() == []


async def test_a_fetcher_whose_fresh_tokens_are_rejected_ends_in_the_error() -> None:
    tokens = iter([jwt("cached"), jwt("fresh-1"), jwt("fresh-2"), jwt("fresh-3")])

    async def fetcher(force_refresh: bool) -> str:
        return next(tokens)

    async with client_on_fake() as h:
        h.client.set_auth(fetcher)
        mutation = asyncio.ensure_future(h.client.mutation("messages:send", {"body": "hi"}))
        for attempt in range(4):
            peer = await reconnects(h)
            await peer.expect(Authenticate)
            await peer.expect(ModifyQuerySet)
            assert isinstance(await peer.next(), Mutation)  # behind the token, every time
            peer.send(rejected(error="Invalid signature"))
            if attempt < 3:
                peer.server.close(1000)
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(mutation, TIMEOUT)
        await closed(peer)
        await asyncio.sleep(TIMEOUT)
        assert h.fake.attempts == 4
        await fails_with_authentication_error(h)


async def test_a_fetcher_that_raises_is_an_error_not_a_sign_out() -> None:
    async def fetcher(force_refresh: bool) -> str:
        raise ConnectionError("the identity provider is down")

    changes: list[bool] = []
    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_auth(fetcher, on_change=changes.append)
        with pytest.raises(AuthenticationError, match="fetcher raised ConnectionError"):
            await asyncio.wait_for(h.client.mutation("messages:send", {"body": "hi"}), TIMEOUT)
        assert changes == [False]
        await closed(peer)
        assert peer.pending() == [], "nothing was sent without the identity"


async def test_a_fetcher_that_gives_back_the_rejected_token_ends_in_the_error() -> None:
    async def fetcher(force_refresh: bool) -> str:
        return jwt("stale")

    async with client_on_fake() as h:
        h.client.set_auth(fetcher)
        peer = await reconnects(h)
        await peer.expect(Authenticate)
        peer.send(rejected(error="Invalid signature"))
        peer.server.close(1000)
        with pytest.raises(AuthenticationError, match="the token the server had rejected"):
            await asyncio.wait_for(h.client.query("messages:list"), TIMEOUT)


async def test_on_change_may_set_a_new_token_at_once() -> None:
    """``on_change(False)`` comes after the failure is in place, so a new
    ``set_auth`` from it ends the failure instead of being undone by it."""
    async with client_on_fake() as h:
        peer = await h.open()

        def on_change(ok: bool) -> None:
            if not ok:
                h.client.set_auth(jwt("second"))

        h.client.set_auth(jwt("first"), on_change=on_change)
        await peer.expect(Authenticate)
        peer.send(rejected(error="Invalid signature"))
        again = await reconnects(h)
        assert (await again.expect(Authenticate)).value == jwt("second")
        sub = h.client.subscribe("messages:list")  # no error: the failure ended
        sub.unsubscribe()
