"""AuthError as every backend writes it: ``authUpdateAttempted`` may be missing.

Backends from before the field existed leave it out. The official client
(convex 1.48, ``authentication_manager.js``) only ignores an AuthError whose
``authUpdateAttempted`` is exactly ``false`` while it waits for a confirmation;
a missing (or null) field is acted on as ``true``: the token is replaced by a
fresh one. These frames are pushed as raw text, as a server sends them.
"""

from __future__ import annotations

import pytest

from tests.client.virtual.peer import Fetcher
from tests.client.virtual.peer import client_on_fake
from tests.client.virtual.peer import jwt
from tests.client.virtual.peer import reopen_with_auth
from tests.client.virtual.peer import reopen_with_fetcher

pytestmark = pytest.mark.asyncio


_REJECTED_CACHED_TOKEN = '{"type":"AuthError","error":"Token expired","baseVersion":0%s}'


@pytest.mark.parametrize(
    "attempted",
    ["", ',"authUpdateAttempted":null', ',"authUpdateAttempted":true'],
    ids=["absent", "null", "true"],
)
async def test_an_auth_error_without_an_explicit_false_replaces_the_token(attempted: str) -> None:
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("stale"), jwt("fresh"))
        first, auth = await reopen_with_fetcher(h, fetcher)
        assert auth.value == jwt("stale")
        first.server.push(_REJECTED_CACHED_TOKEN % attempted)
        first.server.close(1000)
        second, fresh = await reopen_with_auth(h)
        assert fresh.value == jwt("fresh")
        assert fetcher.forced == [False, True]
        second.transition(identity=1, query_set=1)
        await h.settle()
        assert h.client.connection_state().is_authenticated is True


async def test_an_auth_error_with_false_while_waiting_is_ignored() -> None:
    """The control: only an explicit false is about a token before our update."""
    async with client_on_fake() as h:
        fetcher = Fetcher(jwt("stale"), jwt("fresh"))
        first, _ = await reopen_with_fetcher(h, fetcher)
        first.server.push(_REJECTED_CACHED_TOKEN % ',"authUpdateAttempted":false')
        await h.settle()
        assert fetcher.forced == [False]
        assert h.client.connection_state().connection.state == "ready"
        assert first.pending() == []
