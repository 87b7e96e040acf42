"""Failure made visible and bounded, on virtual time (issue 11, point 1).

A socket that cannot open is logged once per cause, at WARNING, and named in
``connection_state().last_error``; a handshake nobody answers is bounded by
the inactivity threshold. Calls cancelled by ``asyncio.timeout()`` leave
nothing behind; a mutation cancelled before it was sent is withdrawn, one
cancelled after stays in flight and commits exactly once.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from syncwire.errors import ConnectError
from syncwire.errors import TransportError
from syncwire.protocol import Authenticate
from syncwire.protocol import Connect
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import QueryRemove
from syncwire.testing import FakeTransport
from tests.client.virtual.peer import TIMEOUT
from tests.client.virtual.peer import Peer
from tests.client.virtual.peer import client_on_fake
from tests.helpers import URL
from tests.helpers import now

pytestmark = pytest.mark.asyncio

SECRET_URL = "wss://happy-animal-123.convex.cloud/api/sync?token=hunter2"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("syncwire")
    ]


async def test_connect_failures_are_logged_once_per_cause_and_named_in_the_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = "connection refused by example:443: is the server running?"
    not_found = "DNS failure: the name example was not found"
    causes = [refused, refused, not_found, not_found, not_found]
    with caplog.at_level(logging.WARNING, "syncwire"):
        async with client_on_fake() as h:
            assert h.client.connection_state().last_error is None
            for cause in causes:
                server = await h.fake.next_connection()
                server.refuse(ConnectError("the transport's own text", cause=cause))
                await h.settle()
                assert h.client.connection_state().last_error == cause
            await h.open()
            assert h.client.connection_state().last_error is None
    assert warnings_of(caplog) == [
        f"cannot connect to {URL}: {refused} (retrying in the background)",
        f"cannot connect to {URL}: {not_found} (retrying in the background)",
        f"connected to {URL} after 5 failed attempts",
    ]


async def test_a_transport_error_without_a_cause_is_still_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "syncwire"):
        async with client_on_fake() as h:
            server = await h.fake.next_connection()
            server.refuse(TransportError("no route (scripted)"))
            await h.settle()
            assert h.client.connection_state().last_error == "cannot connect: no route (scripted)"
    assert len(warnings_of(caplog)) == 1


async def test_the_url_s_query_string_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    from syncwire import Client

    fake = FakeTransport()
    with caplog.at_level(logging.DEBUG):
        client = Client(SECRET_URL, transport=fake)
        try:
            server = await fake.next_connection()
            server.refuse(ConnectError("refused", cause="connection refused"))
            for _ in range(10):
                await asyncio.sleep(0)
            state = client.connection_state()
            assert state.last_error == "connection refused"
        finally:
            await client.close()
    assert warnings_of(caplog), "the failure was logged"
    assert "hunter2" not in caplog.text
    assert "hunter2" not in repr(state)


async def test_an_unanswered_handshake_is_a_timeout_after_the_inactivity_threshold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "syncwire"):
        async with client_on_fake(inactivity_threshold=60.0) as h:
            silent = await h.fake.next_connection()  # accepted by TCP, never answered
            started = now()
            async with asyncio.timeout(TIMEOUT):
                await silent.wait_closed()
            assert now() - started == 60.0
            await h.settle()
            timed_out = "timed out: no answer to the WebSocket handshake within 60 s"
            assert h.client.connection_state().last_error == timed_out
    assert warnings_of(caplog) == [
        f"cannot connect to {URL}: {timed_out} (retrying in the background)"
    ]


async def test_a_query_cut_off_by_asyncio_timeout_leaves_nothing_behind() -> None:
    async with client_on_fake() as h:
        peer = await h.open()
        tasks = asyncio.all_tasks()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5.0):
                await h.client.query("messages:list")
        await peer.expect(ModifyQuerySet)  # the add
        remove = await peer.expect(ModifyQuerySet)
        assert remove.modifications == (QueryRemove(query_id=0),)
        assert asyncio.all_tasks() == tasks
        # The query is gone: subscribing again is a new query, added anew.
        sub = h.client.subscribe("messages:list")
        again = await peer.expect(ModifyQuerySet)
        assert again.modifications[0].query_id == 1
        sub.unsubscribe()


async def test_a_mutation_cancelled_before_it_was_sent_is_withdrawn() -> None:
    async with client_on_fake() as h:
        hanging = await h.fake.next_connection()  # the socket is not open yet
        tasks = asyncio.all_tasks()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5.0):
                await h.client.mutation("messages:send", {"body": "never"})
        state = h.client.connection_state()
        assert (state.inflight_mutations, state.oldest_inflight_since) == (0, None)
        assert asyncio.all_tasks() == tasks
        hanging.accept()
        peer = Peer(hanging)
        await peer.expect(Connect)
        await peer.expect(ModifyQuerySet)
        await asyncio.sleep(30.0)
        assert peer.pending() == [], "a withdrawn mutation is never sent"


async def test_a_mutation_cancelled_while_auth_is_fetched_is_withdrawn() -> None:
    gate = asyncio.Event()

    async def fetcher(force_refresh: bool) -> str:
        await gate.wait()
        return "header.e30.sig"

    async with client_on_fake() as h:
        peer = await h.open()
        h.client.set_auth(fetcher)  # the socket pauses until the token comes
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5.0):
                await h.client.mutation("messages:send", {"body": "never"})
        gate.set()
        await peer.expect(Authenticate)
        await asyncio.sleep(30.0)
        assert peer.pending() == [], "a withdrawn mutation is never sent"
        assert h.client.connection_state().inflight_mutations == 0


async def test_a_mutation_cancelled_after_it_was_sent_still_commits_exactly_once() -> None:
    async with client_on_fake() as h:
        peer = await h.open()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5.0):
                await h.client.mutation("messages:send", {"body": "once"})
        sent = await peer.expect(Mutation)
        assert h.client.connection_state().inflight_mutations == 1, "still in flight"
        peer.server.close(1011, "InternalServerError")
        again = await h.open(expect=(ModifyQuerySet, Mutation))
        # Re-sent with the same request id: the server commits it once.
        (resent,) = [m for m in again.server.sent if '"Mutation"' in m]
        assert f'"requestId":{sent.request_id}' in resent
        again.send(
            MutationResponse(
                request_id=sent.request_id, success=True, result=None, ts=5, log_lines=()
            )
        )
        again.transition(ts=5)
        await h.settle()
        assert h.client.connection_state().inflight_mutations == 0
        await asyncio.sleep(30.0)
        assert again.pending() == []
