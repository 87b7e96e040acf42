"""Auth: token fetchers, confirmation, refresh before expiry, AuthError and giving up."""

from __future__ import annotations

import asyncio
import logging

import pytest

from syncwire.client.auth import MAX_TOKEN_CONFIRMATION_ATTEMPTS
from syncwire.errors import AuthenticationError
from syncwire.protocol import Authenticate
from syncwire.protocol import AuthError
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import QueryAdd
from tests.client.virtual.peer import TIMEOUT
from tests.client.virtual.peer import Fetcher
from tests.client.virtual.peer import client_on_fake
from tests.client.virtual.peer import jwt
from tests.client.virtual.peer import rejected
from tests.client.virtual.peer import reopen_with_auth
from tests.client.virtual.peer import reopen_with_fetcher
from tests.client.virtual.peer import updated
from tests.helpers import now

pytestmark = pytest.mark.asyncio


async def test_queries_made_while_the_token_is_fetched_go_after_authenticate() -> None:
    async with client_on_fake() as h:
        peer = await h.open()
        fetcher = Fetcher(jwt("ann"))
        fetcher.gate = asyncio.Event()
        h.client.set_auth(fetcher)
        await h.settle()
        sub = h.client.subscribe("messages:list")
        mutation = asyncio.ensure_future(h.client.mutation("messages:send"))
        await h.settle()
        assert peer.pending() == [], "the socket is paused while the token is fetched"
        fetcher.gate.set()
        auth = await peer.expect(Authenticate)
        assert (auth.base_version, auth.value) == (0, jwt("ann"))
        query_set = await peer.expect(ModifyQuerySet)
        assert isinstance(query_set.modifications[0], QueryAdd)
        assert (await peer.next()).type_name == "Mutation"
        sub.unsubscribe()
        mutation.cancel()


async def test_a_call_made_right_after_set_auth_goes_after_authenticate() -> None:
    """The pause starts in set_auth itself, not when the fetch task first runs."""
    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_auth(Fetcher(jwt("ann")))
        sub = h.client.subscribe("messages:list")  # sends at once, in this task
        await peer.expect(Authenticate)
        assert isinstance(await peer.next(), ModifyQuerySet)
        sub.unsubscribe()


async def test_a_rejected_cached_token_is_replaced_by_a_fresh_one() -> None:
    changes: list[bool] = []
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("stale"), jwt("fresh"))
        h.client.set_auth(fetcher, on_change=changes.append)
        first, auth = await reopen_with_auth(h)
        assert auth.value == jwt("stale")
        first.send(rejected(base_version=0))
        first.server.close(1000)
        second, fresh = await reopen_with_auth(h)
        assert fresh.value == jwt("fresh")
        assert [force for _, force in fetcher.calls] == [False, True]
        second.transition(identity=1, query_set=1)
        await h.settle()
        assert changes == [True]
        assert h.client.connection_state().is_authenticated is True


async def test_fresh_tokens_are_retried_twice_then_the_client_gives_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    changes: list[bool] = []
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("stale"), jwt("bad-1"), jwt("bad-2"), jwt("bad-3"), jwt("unused"))
        h.client.set_auth(fetcher, on_change=changes.append)
        first, _ = await reopen_with_auth(h)
        first.send(rejected(base_version=0))  # the cached token
        first.server.close(1000)
        for attempt in range(MAX_TOKEN_CONFIRMATION_ATTEMPTS):
            retry, auth = await reopen_with_auth(h)
            assert auth.value == jwt(f"bad-{attempt + 1}")
            retry.send(rejected(base_version=0))
            retry.server.close(1000)
        second, auth = await reopen_with_auth(h)
        assert auth.value == jwt(f"bad-{MAX_TOKEN_CONFIRMATION_ATTEMPTS + 1}")
        assert changes == []
        with caplog.at_level(logging.ERROR, "syncwire.client"):
            second.send(rejected(base_version=0, error="Invalid issuer"))
            await second.server.wait_closed()  # the client stops: no anonymous retry
        assert second.pending() == [], "the identity is never cleared by giving up"
        assert (
            'Failed to authenticate: "Invalid issuer", check your server auth config' in caplog.text
        )
        assert changes == [False]
        state = h.client.connection_state()
        assert state.is_authenticated is False
        assert state.connection.state == "stopped"
        await asyncio.sleep(TIMEOUT)
        assert h.fake.attempts == MAX_TOKEN_CONFIRMATION_ATTEMPTS + 2, "no reconnect"
        with pytest.raises(AuthenticationError, match="Invalid issuer"):
            await h.client.query("a:b")


async def test_a_rejected_static_token_gives_up_at_once(caplog: pytest.LogCaptureFixture) -> None:
    async with client_on_fake() as h:
        h.client.set_auth("not-a-valid-token")
        peer, _ = await reopen_with_auth(h)
        with caplog.at_level(logging.ERROR, "syncwire.client"):
            peer.send(rejected(base_version=0, error="Could not parse JWT"))
            await peer.server.wait_closed()
        assert peer.pending() == []
        assert "Failed to authenticate" in caplog.text
        assert h.client.connection_state().is_authenticated is False


async def test_stale_auth_errors_are_ignored() -> None:
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("one"), jwt("two"))
        peer, _ = await reopen_with_fetcher(h, fetcher)
        # Not about our update: the server had not tried it yet.
        peer.send(AuthError(error="expired", base_version=0, auth_update_attempted=False))
        h.client._state.set_auth(jwt("later"))  # identity version 2 now
        # About version 1, older than the identity we have moved on to.
        peer.send(rejected(base_version=0))
        await h.settle()
        assert [force for _, force in fetcher.calls] == [False]
        assert h.client.connection_state().connection.state == "ready"


async def test_a_token_is_refreshed_before_it_expires() -> None:
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("cached"), jwt("fresh-1"), jwt("fresh-2"))
        peer, _ = await reopen_with_fetcher(h, fetcher)
        peer.transition(identity=1, query_set=1)  # the cached token confirmed
        fresh = await peer.expect(Authenticate)  # a cached token may be old: replaced at once
        assert (fresh.base_version, fresh.value) == (1, jwt("fresh-1"))
        confirmed_at = now()
        peer.transition(identity=2)
        refresh = await peer.expect(Authenticate)
        assert (refresh.base_version, refresh.value) == (2, jwt("fresh-2"))
        when, force = fetcher.calls[-1]
        assert force
        # Valid 60 s (exp - iat), refreshed 10 s (the leeway) before the end.
        assert when - confirmed_at == pytest.approx(50.0)


async def test_a_fetcher_without_a_token_signs_out() -> None:
    changes: list[bool] = []
    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_auth(Fetcher(None), on_change=changes.append)
        sub = h.client.subscribe("a:b")
        query_set = await peer.expect(ModifyQuerySet)
        assert query_set.modifications  # no Authenticate before it
        await h.settle()
        assert changes == [False]
        sub.unsubscribe()


async def test_clear_auth_sends_a_none_identity_and_stops_refreshing() -> None:
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("cached"), jwt("fresh"))
        peer, _ = await reopen_with_fetcher(h, fetcher)
        h.client.clear_auth()
        cleared = await peer.expect(Authenticate)
        assert (cleared.base_version, cleared.token_type) == (1, "None")
        peer.transition(identity=2, query_set=1)
        await asyncio.sleep(TIMEOUT)
        assert peer.pending() == []
        assert len(fetcher.calls) == 1


async def test_admin_auth_is_sent_with_the_identity_it_acts_as() -> None:
    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_admin_auth("admin-key", acting_as={"subject": "u1"})
        auth = await peer.expect(Authenticate)
        assert (auth.token_type, auth.value, auth.impersonating) == (
            "Admin",
            "admin-key",
            {"subject": "u1"},
        )
        assert "admin-key" not in repr(auth)


async def test_an_expired_confirmed_token_is_refetched_and_subscriptions_survive() -> None:
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("cached"), jwt("fresh-1"), jwt("fresh-2"))
        h.client.set_auth(fetcher)
        sub = h.client.subscribe("messages:list")
        first, _ = await reopen_with_auth(h)
        first.transition(updated(0, ["a"]), identity=1, query_set=1)
        assert await sub.next() == ["a"]
        await first.expect(Authenticate)  # fresh-1 replaces the cached token
        first.transition(identity=2)
        # Later the server finds the token expired, outside any auth update.
        first.send(AuthError(error="Token expired", base_version=1, auth_update_attempted=False))
        first.server.close(1000)
        second, auth = await reopen_with_auth(h)
        assert auth.value == jwt("fresh-2")
        second.transition(updated(0, ["a", "b"]), identity=1, query_set=1)
        assert await sub.next() == ["a", "b"]
        sub.unsubscribe()
