"""The dev server reads one wall clock, the ``clock`` it is given.

Commit timestamps, ``_creationTime``, ``serverTs``, the client's clock skew
and token expiry all come from it: a server on a frozen clock in 2023 accepts
a token that expired long ago in real time, and stamps everything with 2023.
"""

from __future__ import annotations

import uuid

import pytest

from syncwire.devserver import make_hs256_token
from syncwire.protocol import Authenticate
from syncwire.protocol import Connect
from syncwire.protocol import MutationResponse
from tests.devserver.wire import documents
from tests.devserver.wire import running
from tests.devserver.wire import send
from tests.devserver.wire import subscribe
from tests.devserver.wire import updates

NOW = 1_700_000_000_000_000_000
"""Nanoseconds since the epoch: 2023-11-14."""
SECRET = "clock-secret"


def frozen() -> int:
    return NOW


@pytest.mark.asyncio
async def test_every_timestamp_and_token_expiry_read_the_injected_clock() -> None:
    async with running(clock=frozen, auth_secret=SECRET) as (server, client):
        assert server.engine.ts == NOW
        await client.send(
            Connect(
                connection_count=0,
                last_close_reason="InitialConnect",
                client_ts=NOW // 1_000_000 + 250,
                session_id=str(uuid.uuid4()),
            )
        )
        # Valid for a minute after NOW: expired in real time, not on the server's clock.
        token = make_hs256_token({"sub": "u1", "iss": "t", "exp": NOW / 1e9 + 60}, SECRET)
        await client.send(Authenticate(base_version=0, token_type="User", value=token))
        authenticated = await client.transition()
        assert authenticated.end_version.identity == 1
        assert authenticated.server_ts == NOW
        assert authenticated.client_clock_skew == 250

        await client.send(subscribe("messages:list"))
        assert updates(await client.transition()) == {0: []}
        await client.send(send(0, "then"))
        response = await client.recv()
        assert isinstance(response, MutationResponse)
        assert response.ts == NOW + 1  # strictly after the start, the clock standing still
        [message] = documents(updates(await client.transition())[0])
        assert message["_creationTime"] == NOW / 1_000_000
        assert message["author"] == "u1"
