"""Both HTTP clients against the dev server on 127.0.0.1: the real HTTP API, end to end.

``HttpClient`` (awaited) and ``ConvexHttpClient`` (on a worker thread) call the
example chat app served by ``DevServer`` in the test's own loop: every verb and
the same values the sync ``Client`` gets, typed results, a 10,000-document walk
with concurrent inserts, keep-alive (connections counted by a ``ChaosProxy`` in
front), the mutation queue, auth, the server's faults, kill and restart, and
dead or bad URLs. Every wait is bounded by ``WAIT``, a deadline only a real
failure misses; nothing sleeps and then asserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Final
from typing import Literal
from typing import TypedDict

import msgspec
import pytest

from syncwire import Client
from syncwire import ConnectionLostError
from syncwire import ConvexError
from syncwire import ConvexHttpClient
from syncwire import FunctionError
from syncwire import HttpClient
from syncwire import HttpError
from syncwire import ResultTypeError
from syncwire.devserver import App
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver import make_hs256_token
from syncwire.devserver.example import chat_app
from syncwire.errors import AuthenticationError
from syncwire.errors import ConnectError
from syncwire.protocol import ConvexValue
from syncwire.testing import ChaosProxy
from tests.helpers import until

WAIT: Final = 20.0
"""Seconds a test waits for what must happen: only a real failure runs out of it."""
SECRET: Final = "http-against-devserver-secret"
Kind = Literal["HttpClient", "ConvexHttpClient"]
KINDS: Final[tuple[Kind, ...]] = ("HttpClient", "ConvexHttpClient")
EMPTY_BODY: Final = {"code": "EmptyBody", "message": "a message needs a body"}


class Gate:
    """``test:hold`` sets ``entered``, then waits for ``open`` before it writes."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()


def app(gate: Gate | None = None) -> App:
    """The chat app, plus ``test:seed {bodies}`` (many messages in one mutation),
    ``test:hold {body}`` (a mutation that waits for the gate, holding the engine, then
    writes) and ``test:writeThenHold`` (writes, then waits for the gate)."""
    served = chat_app()
    held = gate or Gate()

    def seed(ctx: MutationCtx, args: Mapping[str, Any]) -> None:
        for body in args["bodies"]:
            ctx.db.insert("messages", {"channel": args.get("channel", "general"), "body": body})

    async def hold(ctx: MutationCtx, args: Mapping[str, Any]) -> str:
        held.entered.set()
        await held.open.wait()
        return ctx.db.insert("messages", {"channel": "general", "body": args["body"]})

    async def write_then_hold(ctx: MutationCtx, args: Mapping[str, Any]) -> None:
        ctx.db.insert("messages", {"channel": "general", "body": "partial"})
        held.entered.set()
        await held.open.wait()

    served.mutation("test:seed", seed)
    served.mutation("test:hold", hold)
    served.mutation("test:writeThenHold", write_then_hold)
    return served


@contextlib.asynccontextmanager
async def serving(gate: Gate | None = None, **options: Any) -> AsyncIterator[DevServer]:
    async with asyncio.timeout(WAIT), DevServer(app(gate), ws_ping_interval=None, **options) as s:
        yield s


class Caller:
    """Either HTTP client, called from a coroutine (the blocking one on a worker thread)."""

    def __init__(self, kind: Kind, url: str, **options: Any) -> None:
        self.client: HttpClient | ConvexHttpClient
        if kind == "HttpClient":
            self.client = HttpClient(url, **options)
        else:
            self.client = ConvexHttpClient(url, **options)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(self.client, method)
        if isinstance(self.client, HttpClient):
            return await bound(*args, **kwargs)
        return await asyncio.to_thread(bound, *args, **kwargs)

    async def collect(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Everything ``paginate`` or ``pages`` yields."""
        iterator = getattr(self.client, method)(*args, **kwargs)
        if isinstance(self.client, HttpClient):
            return [item async for item in iterator]
        return await asyncio.to_thread(list, iterator)

    async def aclose(self) -> None:
        if isinstance(self.client, HttpClient):
            await self.client.aclose()
        else:
            self.client.close()


@contextlib.asynccontextmanager
async def calling(kind: Kind, url: str, **options: Any) -> AsyncIterator[Caller]:
    caller = Caller(kind, url, **options)
    try:
        yield caller
    finally:
        await caller.aclose()


def bodies(server: DevServer) -> list[str]:
    return [str(m["body"]) for m in server.database.documents("messages")]


class Message(msgspec.Struct):
    channel: str
    body: str


class Misfit(msgspec.Struct):
    channel: str
    body: int


class Stats(TypedDict):
    channel: str
    count: float


# -- 1. every verb, and the values the sync client gets --


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_every_verb_gives_what_the_sync_client_gets(kind: Kind) -> None:
    async with serving() as server, Client(server.url) as sync, calling(kind, server.url) as http:
        first = await http("mutation", "messages:send", {"body": "one"})
        second = await sync.mutation("messages:send", {"body": "two"})
        third = await http("function", "messages:send", {"body": "three"})  # a mutation
        assert bodies(server) == ["one", "two", "three"]
        listed = await http("query", "messages:list")
        assert [m["_id"] for m in listed] == [first, second, third]
        calls: list[tuple[str, dict[str, ConvexValue]]] = [
            ("messages:list", {}),
            ("messages:list", {"n": 2.0}),
            ("messages:count", {}),
            ("messages:count", {"channel": "elsewhere"}),
        ]
        for name, args in calls:
            expected = await sync.query(name, args)
            assert await http("query", name, args) == expected, name
            assert await http("function", name, args) == expected, name
        stats = await sync.action("messages:stats", {})
        assert stats == {"channel": "general", "count": 3.0}
        assert await http("action", "messages:stats") == stats
        assert await http("function", "messages:stats") == stats
        # A ConvexError's data, as the socket gives it; nothing committed.
        with pytest.raises(ConvexError) as over_http:
            await http("mutation", "messages:send", {"body": ""})
        with pytest.raises(ConvexError) as over_socket:
            await sync.mutation("messages:send", {"body": ""})
        assert over_http.value.data == over_socket.value.data == EMPTY_BODY
        with pytest.raises(FunctionError, match="defined as Mutation"):
            await http("query", "messages:send", {"body": "not run"})
        with pytest.raises(FunctionError, match="Could not find public function"):
            await http("function", "nothing:here")
        assert bodies(server) == ["one", "two", "three"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_consistent_queries_read_one_snapshot_across_a_commit(kind: Kind) -> None:
    async with serving() as server, Client(server.url) as sync, calling(kind, server.url) as http:
        await sync.mutation("messages:send", {"body": "before"})
        then = await http("consistent_query", "messages:list")
        await sync.mutation("messages:send", {"body": "after"})  # commits between the two
        assert bodies(server) == ["before", "after"]
        assert await http("consistent_query", "messages:count") == 1.0
        assert [m["body"] for m in then] == ["before"]
        assert [m["body"] for m in await http("consistent_query", "messages:list")] == ["before"]
        assert await http("query", "messages:count") == 2.0  # a plain query reads now
        async with calling(kind, server.url) as fresh:  # a new client, a new snapshot
            assert await fresh("consistent_query", "messages:count") == 2.0


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_paginate_and_pages_walk_what_the_sync_client_walks(kind: Kind) -> None:
    async with serving() as server, Client(server.url) as sync, calling(kind, server.url) as http:
        names = [f"m{i:02d}" for i in range(25)]
        await sync.mutation("test:seed", {"bodies": names})
        await sync.mutation("test:seed", {"bodies": ["x", "y"], "channel": "other"})
        documents = await http.collect("paginate", "messages:page", page_size=7)
        assert [d["body"] for d in documents] == names
        assert documents == [d async for d in sync.paginate("messages:page", page_size=7)]
        assert documents == await sync.query("messages:list")
        pages = await http.collect("pages", "messages:page", {"channel": "general"}, page_size=7)
        assert [len(p.items) for p in pages] == [7, 7, 7, 4]
        assert [p.is_done for p in pages] == [False, False, False, True]
        assert [d for p in pages for d in p.items] == documents
        sync_pages = [p async for p in sync.pages("messages:page", page_size=7)]
        assert [p.continue_cursor for p in pages] == [p.continue_cursor for p in sync_pages]
        other = await http.collect("paginate", "messages:page", {"channel": "other"}, page_size=1)
        assert [d["body"] for d in other] == ["x", "y"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_result_type_converts_and_a_misfit_names_its_path(kind: Kind) -> None:
    async with serving() as server, Client(server.url) as sync, calling(kind, server.url) as http:
        sent = await http("mutation", "messages:send", {"body": "a"}, result_type=str)
        assert isinstance(sent, str)
        await http("mutation", "messages:send", {"body": "b"})
        typed = await http("query", "messages:list", result_type=list[Message])
        assert typed == [Message("general", "a"), Message("general", "b")]
        assert typed == await sync.query("messages:list", result_type=list[Message])
        assert await http("consistent_query", "messages:list", result_type=list[Message]) == typed
        walked = await http.collect("paginate", "messages:page", page_size=1, result_type=Message)
        assert walked == typed
        stats = await http("action", "messages:stats", result_type=Stats)
        assert stats == {"channel": "general", "count": 2.0}
        with pytest.raises(ResultTypeError) as caught:
            await http("query", "messages:list", result_type=list[Misfit])
        assert caught.value.path == "$[0].body"
        with pytest.raises(ResultTypeError) as in_a_page:
            await http.collect("paginate", "messages:page", page_size=1, result_type=Misfit)
        assert in_a_page.value.path.endswith(".body")


# -- 2. pagination at scale, with inserts during the walk --


PAGE: Final = 250


@pytest.mark.asyncio
async def test_a_walk_through_10000_documents_with_concurrent_inserts_sees_each_once() -> None:
    async with serving() as server:
        seeded = await server.engine.mutation(
            "test:seed", {"bodies": [f"seed-{i:05d}" for i in range(10_000)]}, None
        )
        assert seeded.success, seeded.error_message
        at_start = {str(d["_id"]) for d in server.database.documents("messages")}
        assert len(at_start) == 10_000
        async with HttpClient(server.url) as walker, HttpClient(server.url) as writer:
            inserted: list[str] = []
            walked = asyncio.Event()

            async def insert() -> None:
                for i in range(5_000):  # bounded; the walk ends it far sooner
                    if walked.is_set():
                        return
                    inserted.append(await writer.mutation("messages:send", {"body": f"new-{i}"}))

            inserting = asyncio.create_task(insert())

            def grown(before: int) -> Callable[[], bool]:
                return lambda: len(inserted) > before or inserting.done()

            seen: list[str] = []
            try:
                async for document in walker.paginate("messages:page", page_size=PAGE):
                    seen.append(str(document["_id"]))
                    if len(seen) % PAGE == 0:  # a page's last: an insert commits before the next
                        await until(grown(len(inserted)), "an insert meanwhile", deadline=WAIT)
                    assert len(seen) <= 20_000, "the walk does not end"
            finally:
                walked.set()
                await inserting
    assert len(inserted) >= 10_000 // PAGE - 1  # inserts really landed during the walk
    assert len(seen) == len(set(seen)), "a document was returned twice"
    assert at_start <= set(seen), "a document present at the start was skipped"
    assert set(seen) - at_start <= set(inserted)


# -- 3. keep-alive --


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_many_calls_on_one_client_use_one_tcp_connection(kind: Kind) -> None:
    async with (
        serving() as server,
        ChaosProxy(server.port) as proxy,
        calling(kind, proxy.url) as http,
    ):
        for i in range(10):
            await http("mutation", "messages:send", {"body": str(i)})
            await http("query", "messages:count")
            await http("action", "messages:stats")
            await http("function", "messages:list", {"n": 1.0})
            await http("consistent_query", "messages:count")
        assert await http.collect("paginate", "messages:page", page_size=3) != []
        assert proxy.accepted == 1
        assert server.http_connection_count == 1
        assert len(bodies(server)) == 10


# -- 4. the mutation queue --


@pytest.mark.asyncio
async def test_queued_mutations_commit_in_call_order_one_connection_after_another() -> None:
    gate = Gate()
    async with (
        serving(gate) as server,
        ChaosProxy(server.port) as proxy,
        HttpClient(proxy.url) as client,
    ):
        held = asyncio.create_task(client.mutation("test:hold", {"body": "held"}))
        await asyncio.wait_for(gate.entered.wait(), WAIT)
        queued = [
            asyncio.create_task(client.mutation("messages:send", {"body": f"{i:02d}"}))
            for i in range(20)
        ]
        # Out of time while queued behind the held one: never sent, so it never runs.
        with pytest.raises(TimeoutError, match="never sent"):
            await client.mutation("messages:send", {"body": "timed out"}, timeout=0.2)
        gate.open.set()
        ids = await asyncio.gather(held, *queued)
        after = await client.mutation("messages:send", {"body": "after"})
        assert bodies(server) == ["held", *(f"{i:02d}" for i in range(20)), "after"]
        assert [str(d["_id"]) for d in server.database.documents("messages")] == [*ids, after]
        # Each went out once the one before had its answer: the held connection carried all.
        assert proxy.accepted == 1


@pytest.mark.asyncio
async def test_skip_queue_mutations_are_sent_while_another_waits() -> None:
    gate = Gate()
    async with (
        serving(gate) as server,
        ChaosProxy(server.port) as proxy,
        HttpClient(proxy.url) as client,
    ):
        held = asyncio.create_task(client.mutation("test:hold", {"body": "held"}))
        await asyncio.wait_for(gate.entered.wait(), WAIT)
        skipping = asyncio.create_task(
            client.mutation("messages:send", {"body": "skipper"}, skip_queue=True)
        )
        # The skipper is at the server (on a second connection) while the held one waits.
        await until(lambda: server.http_connection_count == 2, "the skipper sent", deadline=WAIT)
        assert proxy.accepted == 2
        assert not held.done()
        gate.open.set()
        await asyncio.gather(held, skipping)
        assert bodies(server) == ["held", "skipper"]  # the engine ran them in arrival order


@pytest.mark.asyncio
async def test_blocking_mutations_from_threads_go_one_at_a_time_on_one_connection() -> None:
    async with serving() as server, ChaosProxy(server.port) as proxy:
        with ConvexHttpClient(proxy.url) as client:

            async def send(i: int) -> object:
                return await asyncio.to_thread(
                    client.mutation, "messages:send", {"body": f"{i:02d}"}
                )

            ids = await asyncio.gather(*(send(i) for i in range(16)))
        assert len(set(ids)) == 16
        assert sorted(bodies(server)) == [f"{i:02d}" for i in range(16)]
        assert proxy.accepted == 1  # never two at once, so never a second connection


# -- 5. auth --


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_token_is_accepted_as_its_user_and_a_rejected_one_commits_nothing(
    kind: Kind,
) -> None:
    good = make_hs256_token({"sub": "u1", "iss": "test", "name": "Ada"}, SECRET)
    forged = make_hs256_token({"sub": "u1", "iss": "test", "name": "Eve"}, "another secret")
    async with serving(auth_secret=SECRET) as server, calling(kind, server.url, auth=good) as http:
        await http("mutation", "messages:send", {"body": "signed"})
        assert [m.get("author") for m in server.database.documents("messages")] == ["Ada"]
        http.client.set_auth(forged)
        for method in ("mutation", "function", "query", "action"):
            with pytest.raises(AuthenticationError, match="HTTP 401 InvalidAuthHeader") as caught:
                await http(method, "messages:send", {"body": "forged"})
            assert forged not in str(caught.value)
        http.client.clear_auth()
        await http("mutation", "messages:send", {"body": "anonymous"})
        assert [m.get("author") for m in server.database.documents("messages")] == ["Ada", None]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_admin_keys_are_refused_by_the_dev_server_as_authentication_error_401_bad_admin_key(
    kind: Kind,
) -> None:
    async with serving(auth_secret=SECRET) as server, calling(kind, server.url) as http:
        http.client.set_admin_auth("dev-admin-key|secret", {"subject": "s1"})
        with pytest.raises(AuthenticationError) as caught:
            await http("mutation", "messages:send", {"body": "as admin"})
        assert "rejected the admin key (HTTP 401 BadAdminKey)" in str(caught.value)
        assert "secret" not in str(caught.value)
        assert bodies(server) == []


# -- 6. faults --


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_refusal_is_an_http_error_with_its_status_and_code(kind: Kind) -> None:
    async with serving() as server, calling(kind, server.url) as http:
        server.faults.refuse(30, count=2, status=503)
        with pytest.raises(HttpError) as refused:
            await http("query", "messages:count")
        assert (refused.value.status, refused.value.code) == (503, "ServiceUnavailable")
        with pytest.raises(HttpError) as mutation:
            await http("mutation", "messages:send", {"body": "refused"})
        assert mutation.value.status == 503
        assert bodies(server) == []
        assert await http("mutation", "messages:send", {"body": "let in"}) is not None
        assert bodies(server) == ["let in"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_drop_times_calls_out_and_commits_nothing(kind: Kind) -> None:
    async with serving() as server, calling(kind, server.url) as http:
        assert await http("query", "messages:count") == 0.0  # a kept-alive connection
        server.faults.drop(30)
        async with asyncio.timeout(WAIT):  # the client's own timeout ends each call
            with pytest.raises(TimeoutError, match=r"got no answer within 0\.3 s; it was sent"):
                await http("query", "messages:count", timeout=0.3)
            with pytest.raises(TimeoutError, match="it may still commit"):
                await http("mutation", "messages:send", {"body": "dropped"}, timeout=0.3)
        server.faults.lift()
        assert await http("query", "messages:count") == 0.0
        assert bodies(server) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_delayed_answer_still_comes_within_the_timeout(kind: Kind) -> None:
    async with serving() as server, calling(kind, server.url, timeout=WAIT) as http:
        server.faults.delay(0.3, duration=30)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await http("mutation", "messages:send", {"body": "late"})
        assert await http("query", "messages:list", {"n": 1.0}) != []
        assert loop.time() - started >= 0.6  # two answers, each held 0.3 s
        assert bodies(server) == ["late"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_after_a_restart_the_next_call_works_and_nothing_commits_twice(kind: Kind) -> None:
    async with serving() as server, calling(kind, server.url) as http:
        await http("mutation", "messages:send", {"body": "before"})  # a kept-alive connection
        await server.restart()
        # The kept-alive connection died with the server: the call works anyway (the pool
        # sees it closed, or the query is sent again: see the reset tests below).
        assert await http("query", "messages:count") == 1.0
        await server.restart()
        try:
            await http("mutation", "messages:send", {"body": "after"})
        except ConnectionLostError:
            assert bodies(server) in (["before"], ["before", "after"])  # it may have committed
        else:
            assert bodies(server) == ["before", "after"]
        count = len(bodies(server))
        await http("mutation", "messages:send", {"body": "again"})
        assert bodies(server)[count:] == ["again"]  # exactly once, never twice


@contextlib.asynccontextmanager
async def reset_under_a_call(
    kind: Kind, method: str, args: dict[str, Any]
) -> AsyncIterator[tuple[DevServer, ChaosProxy, Caller, Gate, asyncio.Task[Any]]]:
    """A call on a kept-alive connection (through a proxy), at the server behind a held
    mutation (sent by another client, straight to the server) when the proxy resets the
    connection; yields while the call is still unanswered, then opens the gate."""
    gate = Gate()
    async with (
        serving(gate) as server,
        ChaosProxy(server.port) as proxy,
        calling(kind, proxy.url) as http,
        HttpClient(server.url) as holder,
    ):
        assert await http("query", "messages:count") == 0.0  # the connection, kept alive
        holding = asyncio.create_task(holder.mutation("test:hold", {"body": "held"}))
        await asyncio.wait_for(gate.entered.wait(), WAIT)
        (connection,) = proxy.connections
        before = connection.bytes_to_server
        call = asyncio.create_task(http(method, "messages:" + args.pop("name"), args))
        await until(lambda: connection.bytes_to_server > before, "the call sent", deadline=WAIT)
        proxy.reset()
        try:
            yield server, proxy, http, gate, call
        finally:
            gate.open.set()
            await holding
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_query_whose_kept_alive_connection_breaks_is_sent_again_once(kind: Kind) -> None:
    args: dict[str, Any] = {"name": "count"}
    async with reset_under_a_call(kind, "query", args) as (_, proxy, _http, gate, query):
        await until(lambda: proxy.accepted == 2 or query.done(), "a retry", deadline=WAIT)
        if query.done():
            query.result()  # its error, if it failed instead of being sent again
        gate.open.set()
        assert await asyncio.wait_for(query, WAIT) == 1.0  # after the held mutation


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_mutation_whose_connection_breaks_is_lost_and_never_sent_again(kind: Kind) -> None:
    args: dict[str, Any] = {"name": "send", "body": "reset"}
    async with reset_under_a_call(kind, "mutation", args) as (server, proxy, http, gate, sent):
        await until(lambda: sent.done() or proxy.accepted > 1, "its end", deadline=WAIT)
        assert proxy.accepted == 1  # no connection opened to send it again
        with pytest.raises(ConnectionLostError, match="may have committed"):
            await sent
        gate.open.set()
        # Read after whatever the server had of it: at most one commit.
        assert await http("query", "messages:count") in (1.0, 2.0)
        assert bodies(server)[0] == "held"
        assert bodies(server).count("reset") <= 1


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_mutation_in_flight_when_the_server_is_killed_is_lost_and_not_committed(
    kind: Kind,
) -> None:
    gate = Gate()
    async with serving(gate) as server, calling(kind, server.url) as http:
        held = asyncio.create_task(http("mutation", "test:hold", {"body": "killed"}))
        await asyncio.wait_for(gate.entered.wait(), WAIT)
        await server.kill()
        with pytest.raises(ConnectionLostError, match="may have committed"):
            await held
        await server.start()
        gate.open.set()
        assert await http("query", "messages:count") == 0.0
        await http("mutation", "messages:send", {"body": "after"})
        assert bodies(server) == ["after"]


@pytest.mark.asyncio
async def test_a_mutation_cut_off_mid_run_by_a_kill_leaves_no_write() -> None:
    gate = Gate()
    async with serving(gate) as server, HttpClient(server.url) as client:
        held = asyncio.create_task(client.mutation("test:writeThenHold"))
        await asyncio.wait_for(gate.entered.wait(), WAIT)
        await server.kill()
        with pytest.raises(ConnectionLostError):
            await held
        await server.start()
        assert await client.query("messages:count") == 0.0


# -- 7. dead and bad URLs --


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_dead_url_is_a_connect_error_with_its_cause(kind: Kind) -> None:
    port = closed_port()
    cause = f"connection refused by 127.0.0.1:{port}: is the server running?"
    async with calling(kind, f"http://127.0.0.1:{port}") as http:
        for method in ("query", "mutation", "action", "function", "consistent_query"):
            with pytest.raises(ConnectError) as caught:
                await http(method, "messages:count")
            assert caught.value.cause == cause, method
            assert str(caught.value).endswith(f"was not sent: {cause}")
        with pytest.raises(ConnectError):
            await http.collect("paginate", "messages:page")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "url",
    [
        "",
        "127.0.0.1:3210",
        "ftp://127.0.0.1:3210",
        "http://",
        "http://127.0.0.1:99999",
        "http://user:password@127.0.0.1:3210",
        "http://127.0.0.1:3210/api/query?x=1",
        "ws://127.0.0.1:3210/elsewhere",
    ],
)
def test_a_bad_url_is_a_value_error_at_construction(kind: Kind, url: str) -> None:
    make = HttpClient if kind == "HttpClient" else ConvexHttpClient
    with pytest.raises(ValueError, match=r"\S") as caught:
        make(url)
    if "password" in url:
        assert "password" not in str(caught.value)
