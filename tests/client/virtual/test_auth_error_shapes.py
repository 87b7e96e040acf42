"""AuthError as every backend writes it: ``authUpdateAttempted`` may be missing.

Backends from before the field existed leave it out. The official client
(convex 1.48, ``authentication_manager.js``) only ignores an AuthError whose
``authUpdateAttempted`` is exactly ``false`` while it waits for a confirmation;
a missing (or null) field is acted on as ``true``: the token is replaced by a
fresh one. These frames are pushed as raw text, as a server sends them.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from syncwire.protocol import Authenticate, Connect, ModifyQuerySet
from tests.client.virtual.peer import Harness, Peer, client_on_fake

pytestmark = pytest.mark.asyncio


def jwt(name: str) -> str:
    """An unsigned JWT valid for 60 s (the client reads ``iat``/``exp``, never verifies)."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'sub': name, 'iat': 1_000, 'exp': 1_060})}.sig"


class Fetcher:
    """Answers ``cached`` when a cached token will do, else the next of ``fresh``."""

    def __init__(self, cached: str, *fresh: str) -> None:
        self.cached = cached
        self.fresh = list(fresh)
        self.calls: list[bool] = []

    async def __call__(self, force_refresh: bool) -> str | None:
        self.calls.append(force_refresh)
        await asyncio.sleep(0)
        if not force_refresh:
            return self.cached
        return self.fresh.pop(0) if self.fresh else None


async def reopen_with_auth(h: Harness) -> tuple[Peer, Authenticate]:
    peer = await h.accept()
    await peer.expect(Connect)
    auth = await peer.expect(Authenticate)
    await peer.expect(ModifyQuerySet)
    return peer, auth


_REJECTED_CACHED_TOKEN = '{"type":"AuthError","error":"Token expired","baseVersion":0%s}'


@pytest.mark.parametrize(
    "attempted",
    ["", ',"authUpdateAttempted":null', ',"authUpdateAttempted":true'],
    ids=["absent", "null", "true"],
)
async def test_an_auth_error_without_an_explicit_false_replaces_the_token(attempted: str) -> None:
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("stale"), jwt("fresh"))
        h.client.set_auth(fetcher)
        first, auth = await reopen_with_auth(h)
        assert auth.value == jwt("stale")
        first.server.push(_REJECTED_CACHED_TOKEN % attempted)
        first.server.close(1000)
        second, fresh = await reopen_with_auth(h)
        assert fresh.value == jwt("fresh")
        assert fetcher.calls == [False, True]
        second.transition(identity=1, query_set=1)
        await h.settle()
        assert h.client.connection_state().is_authenticated is True


async def test_an_auth_error_with_false_while_waiting_is_ignored() -> None:
    """The control: only an explicit false is about a token before our update."""
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("stale"), jwt("fresh"))
        h.client.set_auth(fetcher)
        first, _ = await reopen_with_auth(h)
        first.server.push(_REJECTED_CACHED_TOKEN % ',"authUpdateAttempted":false')
        await h.settle()
        assert fetcher.calls == [False]
        assert h.client.connection_state().connection.state == "ready"
        assert first.pending() == []
