"""Auth: token fetchers, confirmation, refresh before expiry, AuthError and giving up."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from syncwire.client.auth import MAX_TOKEN_CONFIRMATION_ATTEMPTS
from syncwire.errors import AuthenticationError
from syncwire.protocol import Authenticate, AuthError, Connect, ModifyQuerySet, QueryAdd
from tests.client.virtual.peer import TIMEOUT, Harness, Peer, client_on_fake, updated

pytestmark = pytest.mark.asyncio


def jwt(name: str, *, iat: int = 1_000, exp: int = 1_060) -> str:
    """An unsigned JWT the client can read ``iat``/``exp`` from (it never verifies)."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'sub': name, 'iat': iat, 'exp': exp})}.sig"


class Fetcher:
    """A token fetcher that records its calls and answers from a script."""

    def __init__(self, cached: str | None, *fresh: str | None) -> None:
        self.cached = cached
        self.fresh = list(fresh)
        self.calls: list[tuple[float, bool]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, force_refresh: bool) -> str | None:
        self.calls.append((asyncio.get_running_loop().time(), force_refresh))
        if self.gate is not None:
            await self.gate.wait()
        if not force_refresh:
            return self.cached
        return self.fresh.pop(0) if self.fresh else None


def rejected(base_version: int, error: str = "Token expired") -> AuthError:
    return AuthError(error=error, base_version=base_version, auth_update_attempted=True)


async def reopen_with_auth(h: Harness) -> tuple[Peer, Authenticate]:
    peer = await h.accept()
    await peer.expect(Connect)
    auth = await peer.expect(Authenticate)
    await peer.expect(ModifyQuerySet)
    return peer, auth


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
        h.client.set_auth(fetcher)
        peer, _ = await reopen_with_auth(h)
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
        h.client.set_auth(fetcher)
        peer, _ = await reopen_with_auth(h)
        peer.transition(identity=1, query_set=1)  # the cached token confirmed
        fresh = await peer.expect(Authenticate)  # a cached token may be old: replaced at once
        assert (fresh.base_version, fresh.value) == (1, jwt("fresh-1"))
        confirmed_at = asyncio.get_running_loop().time()
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
        h.client.set_auth(fetcher)
        peer, _ = await reopen_with_auth(h)
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
