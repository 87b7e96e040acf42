"""The session rules of docs/client.md#on-open, frame by frame, on virtual time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from syncwire import ConnectionLostError
from syncwire import ConvexError
from syncwire import FunctionError
from syncwire.protocol import Action
from syncwire.protocol import ActionResponse
from syncwire.protocol import Authenticate
from syncwire.protocol import Connect
from syncwire.protocol import ConvexInt64
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryRemove
from syncwire.protocol import QueryUpdated
from syncwire.protocol import StateVersion
from tests.client.virtual.peer import TIMEOUT
from tests.client.virtual.peer import client_on_fake
from tests.client.virtual.peer import failed
from tests.client.virtual.peer import removed
from tests.client.virtual.peer import updated

pytestmark = pytest.mark.asyncio
T = TypeVar("T")


async def immediately(awaitable: Awaitable[T]) -> T:
    """Await something that must not wait: virtual time may not move."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await asyncio.wait_for(awaitable, TIMEOUT)
    assert loop.time() == start, "it waited"
    return result


def ok(request_id: int, result: JSONValue, ts: int) -> MutationResponse:
    return MutationResponse(request_id=request_id, success=True, result=result, ts=ts, log_lines=())


async def test_first_open_sends_connect_then_an_empty_query_set() -> None:
    async with client_on_fake() as h:
        peer = await h.accept()
        connect = await peer.expect(Connect)
        assert connect.session_id == h.client.session_id
        assert connect.connection_count == 0
        assert connect.last_close_reason == "InitialConnect"
        assert connect.max_observed_timestamp is None  # never a timestamp not received
        query_set = await peer.expect(ModifyQuerySet)
        assert (query_set.base_version, query_set.new_version) == (0, 1)
        assert query_set.modifications == ()


async def test_reopen_rebuilds_the_session_in_spec_order() -> None:
    """Connect, Authenticate, ModifyQuerySet 0→1 with every query and journal, then
    re-sent mutations with their ids, unsent actions; in-flight actions fail."""
    async with client_on_fake() as h:
        client = h.client
        client.set_auth("header.e30.signature")
        first = await h.open(expect=(Authenticate, ModifyQuerySet))
        sub = client.subscribe("messages:list", {"channel": "a"})
        add = await first.expect(ModifyQuerySet)
        assert (add.base_version, add.new_version) == (1, 2)
        first.transition(updated(0, [], journal="j-1"), query_set=2, identity=1, ts=10)
        assert await sub.next() == []
        mutation = asyncio.ensure_future(client.mutation("messages:send", {"body": "x"}))
        action = asyncio.ensure_future(client.action("work:run", {}))
        await first.expect(Mutation)
        await first.expect(Action)
        first.server.close(1011, "InternalServerError")
        await h.settle()
        assert not action.done(), "an action fails when the next socket opens"
        unsent = asyncio.ensure_future(client.action("work:later", {}))
        await h.settle()

        second = await h.accept()
        connect = await second.expect(Connect)
        assert connect.session_id == client.session_id
        assert connect.connection_count == 1
        assert connect.last_close_reason == "InternalServerError"
        assert connect.max_observed_timestamp == 10
        auth = await second.expect(Authenticate)
        assert (auth.base_version, auth.token_type, auth.value) == (
            0,
            "User",
            "header.e30.signature",
        )
        query_set = await second.expect(ModifyQuerySet)
        assert (query_set.base_version, query_set.new_version) == (0, 1)
        (readd,) = query_set.modifications
        assert isinstance(readd, QueryAdd)
        assert (readd.query_id, readd.udf_path, readd.journal) == (0, "messages:list", "j-1")
        resent = await second.expect(Mutation)
        assert resent.request_id == 0
        later = await second.expect(Action)
        assert (later.request_id, later.udf_path) == (2, "work:later")
        with pytest.raises(ConnectionLostError, match="Connection lost while action was in flight"):
            await asyncio.wait_for(action, TIMEOUT)
        second.send(ActionResponse(request_id=2, success=True, result=7, log_lines=()))
        assert await asyncio.wait_for(unsent, TIMEOUT) == 7
        second.send(ok(0, "id-1", ts=11))
        second.transition(updated(0, ["x"]), query_set=1, identity=1, ts=11)
        assert await asyncio.wait_for(mutation, TIMEOUT) == "id-1"
        sub.unsubscribe()


async def test_a_mutation_resolves_only_once_its_effects_are_visible() -> None:
    async with client_on_fake() as h:
        client = h.client
        peer, sub = await h.open_subscribed("messages:list")
        peer.transition(updated(0, []), query_set=1, ts=5)
        assert await sub.next() == []
        mutation = asyncio.ensure_future(client.mutation("messages:send", {"body": "x"}))
        sent = await peer.expect(Mutation)
        peer.send(ok(sent.request_id, "id-1", ts=7))
        await h.settle()
        assert not mutation.done(), "resolved before a Transition covered ts 7"
        peer.transition(ts=6)  # an unrelated commit, still before the mutation
        await h.settle()
        assert not mutation.done()
        peer.transition(updated(0, ["x"]), ts=7)
        assert await asyncio.wait_for(mutation, TIMEOUT) == "id-1"
        # Read-your-writes: the subscriber already holds the value with the write.
        assert await immediately(sub.next()) == ["x"]
        sub.unsubscribe()


async def test_an_answered_mutation_is_resent_until_observed_and_resolves_once() -> None:
    async with client_on_fake() as h:
        client = h.client
        first = await h.open()
        settled: list[object] = []
        mutation = asyncio.ensure_future(client.mutation("messages:send", {"body": "x"}))
        mutation.add_done_callback(lambda f: settled.append(f.result()))
        sent = await first.expect(Mutation)
        first.send(ok(sent.request_id, "id-1", ts=7))
        await h.settle()
        first.server.drop()  # before the Transition that would have covered it

        second = await h.open()
        resent = await second.expect(Mutation)
        assert resent.request_id == sent.request_id
        assert resent.args == sent.args
        second.send(ok(sent.request_id, "id-1", ts=7))  # the server deduplicates
        second.transition(ts=7)
        assert await asyncio.wait_for(mutation, TIMEOUT) == "id-1"
        second.transition(ts=8)
        await h.settle()
        assert settled == ["id-1"]


async def test_a_resent_mutation_answered_after_a_covering_transition_resolves() -> None:
    """The new socket's first Transition may already cover the re-sent mutation."""
    async with client_on_fake() as h:
        client = h.client
        first = await h.open()
        mutation = asyncio.ensure_future(client.mutation("messages:send", {"body": "x"}))
        sent = await first.expect(Mutation)
        first.server.drop()
        second = await h.open()
        await second.expect(Mutation)
        second.transition(query_set=1, ts=20)
        await h.settle()
        second.send(ok(sent.request_id, "id-1", ts=7))
        assert await asyncio.wait_for(mutation, TIMEOUT) == "id-1"


async def test_function_errors_are_typed_and_carry_error_data() -> None:
    async with client_on_fake() as h:
        client = h.client
        peer = await h.open()
        plain = asyncio.ensure_future(client.mutation("messages:send", {}))
        data = asyncio.ensure_future(client.action("work:run"))
        await peer.take(2)
        peer.send(
            MutationResponse(
                request_id=0, success=False, result="Uncaught Error: no body", ts=None, log_lines=()
            )
        )
        peer.send(
            ActionResponse(
                request_id=1,
                success=False,
                result="Uncaught ConvexError: too busy",
                log_lines=(),
                error_data={"code": "busy", "retry": {"$integer": "AwAAAAAAAAA="}},
            )
        )
        with pytest.raises(FunctionError, match="no body") as plain_error:
            await asyncio.wait_for(plain, TIMEOUT)
        assert not isinstance(plain_error.value, ConvexError)
        assert plain_error.value.data is None
        with pytest.raises(ConvexError) as data_error:
            await asyncio.wait_for(data, TIMEOUT)
        assert data_error.value.message == "Uncaught ConvexError: too busy"
        assert data_error.value.data == {"code": "busy", "retry": ConvexInt64(3)}


async def test_subscribers_share_one_query_and_the_last_one_removes_it() -> None:
    async with client_on_fake() as h:
        client = h.client
        peer = await h.open()
        one = client.subscribe("messages", {"n": 1.0})  # canonical path messages:default
        add = await peer.expect(ModifyQuerySet)
        (query,) = add.modifications
        assert isinstance(query, QueryAdd)
        assert query.udf_path == "messages:default"
        two = client.subscribe("messages:default", {"n": 1.0})
        assert two.query_id == one.query_id == 0
        peer.transition(updated(0, "v1"), query_set=1)
        assert await one.next() == "v1"
        assert await two.next() == "v1"
        late = client.subscribe("messages", {"n": 1.0})
        assert await immediately(late.next()) == "v1"  # the shared current value
        one.unsubscribe()
        late.unsubscribe()
        await h.settle()
        assert peer.pending() == []
        two.unsubscribe()
        remove = await peer.expect(ModifyQuerySet)
        assert (remove.base_version, remove.new_version) == (2, 3)
        assert remove.modifications == (QueryRemove(query_id=0),)


async def test_a_failed_query_raises_and_the_subscription_goes_on() -> None:
    async with client_on_fake() as h:
        peer, sub = await h.open_subscribed("broken:query")
        peer.transition(failed(0, "Uncaught Error: boom"), query_set=1)
        with pytest.raises(FunctionError, match="boom"):
            await sub.next()
        peer.transition(updated(0, 1))
        assert await sub.next() == 1
        sub.unsubscribe()


async def test_each_reader_of_a_failed_query_gets_its_own_exception() -> None:
    """Shared results, not shared tracebacks: a raise must not grow another's."""
    async with client_on_fake() as h:
        peer = await h.open()
        one, two = h.client.subscribe("broken:query"), h.client.subscribe("broken:query")
        await peer.expect(ModifyQuerySet)
        peer.transition(failed(0, "boom"), query_set=1)
        errors = []
        for sub in (one, two):
            with pytest.raises(FunctionError) as caught:
                await sub.next()
            errors.append(caught.value)
        assert errors[0] is not errors[1]
        assert errors[0].message == errors[1].message == "boom"
        one.unsubscribe()
        two.unsubscribe()


async def test_a_slow_reader_skips_to_the_newest_value() -> None:
    async with client_on_fake() as h:
        peer, sub = await h.open_subscribed("counter:get")
        peer.transition(updated(0, 1), query_set=1)
        for value in (2, 3, 4):
            peer.transition(updated(0, value))
        await h.settle()
        assert await sub.next() == 4
        sub.unsubscribe()


async def test_an_out_of_step_transition_resyncs_on_a_new_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client_on_fake() as h:
        peer, sub = await h.open_subscribed("counter:get")
        peer.transition(updated(0, 1), query_set=1, ts=3)
        assert await sub.next() == 1
        with caplog.at_level(logging.ERROR, "syncwire.manager"):
            peer.transition(updated(0, 2), start=StateVersion(query_set=1, identity=0, ts=2))
            again = await h.open()
        assert "ProtocolError" in caplog.text
        assert peer.server.closed_by_client is not None
        again.transition(updated(0, 5), query_set=1, ts=9)
        assert await sub.next() == 5
        sub.unsubscribe()


async def test_changes_while_paused_are_collapsed_and_sent_on_resume() -> None:
    async with client_on_fake() as h:
        client = h.client
        peer, keep = await h.open_subscribed("a:keep")
        h.client._state.pause()
        client._manager.pause()
        gone = client.subscribe("a:gone")
        gone.unsubscribe()
        stays = client.subscribe("a:stays")
        keep.unsubscribe()
        mutation = asyncio.ensure_future(client.mutation("m:m"))
        await h.settle()
        assert peer.pending() == [], "nothing is sent while paused"
        client._manager.resume()
        query_set = await peer.expect(ModifyQuerySet)
        assert (query_set.base_version, query_set.new_version) == (2, 3)
        assert query_set.modifications == (
            QueryAdd(query_id=2, udf_path="a:stays", args={}),
            QueryRemove(query_id=0),
        )
        await peer.expect(Mutation)
        stays.unsubscribe()
        mutation.cancel()


async def test_the_backoff_resets_only_once_everything_resent_is_answered() -> None:
    """has_synced_past_last_reconnect = requests AND queries AND auth."""
    async with client_on_fake() as h:
        client = h.client
        client.set_auth("header.e30.signature")
        first = await h.open(expect=(Authenticate, ModifyQuerySet))
        sub = client.subscribe("a:one")
        await first.expect(ModifyQuerySet)
        mutation = asyncio.ensure_future(client.mutation("m:m"))
        await first.expect(Mutation)
        first.server.close(1013, "SubscriptionsWorkerFullError")

        second = await h.open(expect=(Authenticate, ModifyQuerySet, Mutation))

        def retries() -> int:
            return client.connection_state().connection.connection_retries

        assert retries() == 1
        # The query answered, but auth not yet confirmed and the mutation pending.
        second.transition(updated(0, 1), query_set=1, ts=4)
        await h.settle()
        assert retries() == 1
        # Auth confirmed; the mutation is still pending.
        second.transition(identity=1, ts=5)
        await h.settle()
        assert retries() == 1
        second.send(ok(0, None, ts=6))
        second.transition(ts=6)
        await asyncio.wait_for(mutation, TIMEOUT)
        await h.settle()
        assert retries() == 0
        sub.unsubscribe()


async def test_every_reopen_asks_again_whether_the_session_caught_up() -> None:
    """Synced once, a later reconnect is not synced until its re-sent query is answered."""
    async with client_on_fake() as h:
        client = h.client

        def retries() -> int:
            return client.connection_state().connection.connection_retries

        first, sub = await h.open_subscribed("a:one")
        first.server.close(1013, "SubscriptionsWorkerFullError")
        second = await h.open()
        second.transition(updated(0, 1), query_set=1)
        await h.settle()
        assert retries() == 0, "the re-sent query is answered: synced"
        second.server.close(1013, "SubscriptionsWorkerFullError")
        third = await h.open()
        assert retries() == 1
        third.transition(query_set=1)  # the query set, but not yet the query's value
        await h.settle()
        assert retries() == 1, "the query re-sent on this socket is still unanswered"
        third.transition(updated(0, 2))
        await h.settle()
        assert retries() == 0
        sub.unsubscribe()


async def test_an_idle_client_is_synced_at_once() -> None:
    async with client_on_fake() as h:
        first = await h.open()
        first.server.close(1011, "InternalServerError")
        second = await h.open()
        second.transition(query_set=1)  # any message lets the manager ask
        await h.settle()
        assert h.client.connection_state().connection.connection_retries == 0


async def test_an_unsubscribed_query_no_longer_holds_back_the_sync() -> None:
    async with client_on_fake() as h:
        client = h.client
        first = await h.open()
        sub = client.subscribe("a:one")
        await first.expect(ModifyQuerySet)
        first.server.close(1013, "SubscriptionsWorkerFullError")
        second = await h.open()
        sub.unsubscribe()
        await second.expect(ModifyQuerySet)
        second.transition(removed(0), query_set=2)
        await h.settle()
        assert client.connection_state().connection.connection_retries == 0


async def test_function_log_lines_are_logged_with_their_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client_on_fake() as h:
        peer, sub = await h.open_subscribed("messages:list")
        with caplog.at_level(logging.DEBUG, "syncwire.function_logs"):
            peer.transition(
                QueryUpdated(query_id=0, value=[], log_lines=("[LOG] 'listing'",), journal=None),
                query_set=1,
            )
            await sub.next()
            mutation = asyncio.ensure_future(h.client.mutation("messages:send"))
            await peer.expect(Mutation)
            peer.send(
                MutationResponse(
                    request_id=0,
                    success=True,
                    result=None,
                    ts=2,
                    log_lines=("[WARN] 'slow'", "no level"),
                )
            )
            peer.transition()
            await asyncio.wait_for(mutation, TIMEOUT)
        records = [
            (r.levelname, r.getMessage())
            for r in caplog.records
            if r.name == "syncwire.function_logs"  # a stable name the docs turn on
        ]
        assert ("INFO", "[CONVEX Q(messages:list)] [LOG] 'listing'") in records
        assert ("WARNING", "[CONVEX M(messages:send)] [WARN] 'slow'") in records
        assert ("ERROR", "[CONVEX M(messages:send)] Could not parse console.log") in records
        sub.unsubscribe()
