"""The dev server against docs/protocol.md#server-behaviour and docs/protocol.md#first-frames,
driven by a plain ``websockets`` client.

Frames are built and read with syncwire's own codec, so these tests check the
server's behaviour, not its JSON spelling (the codec has its own golden tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from syncwire.devserver import App
from syncwire.devserver import AppError
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver import QueryCtx
from syncwire.devserver import console
from syncwire.devserver import make_hs256_token
from syncwire.devserver.example import chat_app
from syncwire.protocol import ActionResponse
from syncwire.protocol import Authenticate
from syncwire.protocol import AuthError
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue
from syncwire.protocol import FatalError
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryRemove
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_server_message
from syncwire.protocol.chunks import TransitionChunkAssembler
from syncwire.protocol.messages import Action
from tests.devserver.wire import TIMEOUT
from tests.devserver.wire import Client
from tests.devserver.wire import add
from tests.devserver.wire import documents
from tests.devserver.wire import first_query_set
from tests.devserver.wire import running
from tests.devserver.wire import send
from tests.devserver.wire import subscribe
from tests.devserver.wire import updates

SECRET = "test-secret"
ZERO = StateVersion(query_set=0, identity=0, ts=0)


@pytest.mark.asyncio
async def test_first_frames_of_the_official_client() -> None:
    """Connect, ModifyQuerySet 0→1, Mutation — back to back, as captured.

    See docs/protocol.md#first-frames.
    """
    async with running(path="/api/1.48.0/sync") as (_, client):
        await client.connect()
        await client.send(
            first_query_set(add(0, "messages:list", {"channel": "general", "n": ConvexInt64(5)})),
            Mutation(request_id=0, udf_path="messages:send", args={"body": "hi"}),
        )
        first = await client.transition()
        assert first.start_version == ZERO
        assert (first.end_version.query_set, first.end_version.identity) == (1, 0)
        assert updates(first) == {0: []}
        assert first.client_clock_skew is not None

        response = await client.recv()
        assert isinstance(response, MutationResponse)
        assert response.success, response.result
        assert response.request_id == 0
        assert response.ts is not None
        assert response.ts > first.end_version.ts

        second = await client.transition()
        assert second.start_version == first.end_version
        assert second.end_version.ts >= response.ts
        [message] = documents(updates(second)[0])
        assert message["body"] == "hi"
        assert message["channel"] == "general"
        assert message["_id"] == json_to_convex(response.result)
        assert isinstance(message["_creationTime"], float)


@pytest.mark.asyncio
async def test_versions_chain_and_only_changed_queries_appear() -> None:
    async with running() as (_, client):
        await client.connect()
        await client.send(
            first_query_set(
                add(0, "messages:list", {"channel": "general"}),
                add(1, "messages:list", {"channel": "random"}),
                add(2, "messages:count"),
            )
        )
        first = await client.transition()
        assert updates(first) == {0: [], 1: [], 2: 0.0}

        previous = first.end_version
        for request_id, body in enumerate(["a", "b"]):
            await client.send(send(request_id, body))
            response = await client.recv()
            assert isinstance(response, MutationResponse)
            assert response.success
            transition = await client.transition()
            assert transition.start_version == previous
            assert transition.end_version.ts >= (response.ts or 0) > previous.ts
            changed = updates(transition)
            assert sorted(changed) == [0, 2]  # the "random" channel did not change
            assert changed[2] == float(request_id + 1)
            previous = transition.end_version

        await client.send(
            ModifyQuerySet(base_version=1, new_version=2, modifications=(QueryRemove(query_id=0),))
        )
        removed = await client.transition()
        assert removed.start_version == previous
        assert removed.end_version.query_set == 2
        assert removed.modifications == (QueryRemoved(query_id=0),)


@pytest.mark.asyncio
async def test_other_sessions_see_commits() -> None:
    async with (
        running() as (server, writer),
        connect(server.ws_url, open_timeout=TIMEOUT) as ws,
    ):
        reader = Client(ws)
        await reader.connect()
        await reader.send(subscribe("messages:count"))
        assert updates(await reader.transition()) == {0: 0.0}
        await writer.connect()
        await writer.send(send(0, "hello"))
        response = await writer.recv()
        assert isinstance(response, MutationResponse)
        assert response.ts is not None
        seen = await reader.transition()
        assert updates(seen) == {0: 1.0}
        assert seen.end_version.ts >= response.ts


@pytest.mark.asyncio
async def test_base_version_mismatch_is_fatal() -> None:
    async with running() as (_, client):
        await client.connect()
        await client.send(ModifyQuerySet(base_version=0, new_version=1, modifications=()))
        assert (await client.transition()).end_version.query_set == 1
        await client.send(ModifyQuerySet(base_version=0, new_version=2, modifications=()))
        error = await client.recv()
        assert isinstance(error, FatalError)
        assert error.error.startswith("BaseVersionMismatch")
        assert await client.closed() == 1005


@pytest.mark.asyncio
async def test_invalid_json_is_fatal() -> None:
    async with running() as (_, client):
        await client.ws.send("{not json")
        error = await client.recv()
        assert isinstance(error, FatalError)
        assert error.error.startswith("Received Invalid JSON on websocket: ")
        assert await client.closed() == 1005


def whoami(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    return None if ctx.auth is None else str(ctx.auth["tokenIdentifier"])


@pytest.mark.asyncio
async def test_good_token_sets_the_identity_and_reruns_queries() -> None:
    app = chat_app()
    app.query("auth:whoami", whoami)
    async with running(app, auth_secret=SECRET) as (_, client):
        assert updates(await client.subscribed("auth:whoami")) == {0: None}
        token = make_hs256_token({"sub": "u1", "iss": "test", "exp": time.time() + 60}, SECRET)
        await client.send(Authenticate(base_version=0, token_type="User", value=token))
        transition = await client.transition()
        assert transition.end_version.identity == 1
        assert updates(transition) == {0: "test|u1"}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("secret", "exp_offset", "reason"),
    [("wrong-secret", 60.0, "signature"), (SECRET, -60.0, "expired")],
)
async def test_bad_token_is_an_auth_error_then_close(
    secret: str, exp_offset: float, reason: str
) -> None:
    async with running(auth_secret=SECRET) as (_, client):
        await client.connect()
        token = make_hs256_token({"sub": "u1", "exp": time.time() + exp_offset}, secret)
        await client.send(Authenticate(base_version=0, token_type="User", value=token))
        error = await client.recv()
        assert isinstance(error, AuthError)
        assert error.auth_update_attempted
        assert error.base_version == 0
        assert reason in error.error.lower()
        assert await client.closed() == 1005


def failing_send(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    ctx.db.insert("messages", {"channel": "general", "body": "never committed"})
    console.log("about to fail")
    raise RuntimeError("boom")


def failing_query(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    raise ValueError("bad query")


def user_error(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    raise AppError({"code": "taken"})


@pytest.mark.asyncio
async def test_failing_mutation_is_rolled_back_and_reported() -> None:
    app = chat_app()
    app.mutation("messages:fail", failing_send)
    app.mutation("messages:userError", user_error)
    async with running(app) as (_, client):
        assert updates(await client.subscribed("messages:count")) == {0: 0.0}
        await client.send(Mutation(request_id=0, udf_path="messages:fail", args={}))
        response = await client.recv()
        assert isinstance(response, MutationResponse)
        assert not response.success
        assert response.ts is None
        assert isinstance(response.result, str)
        assert "Uncaught RuntimeError: boom" in response.result
        assert response.log_lines == ("[LOG] 'about to fail'",)

        await client.send(Mutation(request_id=1, udf_path="messages:userError", args={}))
        response = await client.recv()
        assert isinstance(response, MutationResponse)
        assert not response.success
        assert response.error_data == {"code": "taken"}

        # Nothing was committed: the next successful mutation counts 1, not 2.
        await client.send(send(2, "ok"))
        assert isinstance(await client.recv(), MutationResponse)
        assert updates(await client.transition()) == {0: 1.0}


@pytest.mark.asyncio
async def test_failing_query_is_query_failed() -> None:
    app = chat_app()
    app.query("messages:broken", failing_query)
    async with running(app) as (_, client):
        transition = await client.subscribed("messages:broken", "messages:nope")
        failed = {m.query_id: m for m in transition.modifications if isinstance(m, QueryFailed)}
        assert "Uncaught ValueError: bad query" in failed[0].error_message
        assert "Could not find public function for 'messages:nope'" in failed[1].error_message


def chatty(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
    console.log("hello")
    print("printed")
    logging.getLogger("tests.devserver.chatty").warning("logged")
    console.warn("careful")
    console.info("n =", 3.0)
    return "done"


@pytest.mark.asyncio
async def test_log_lines_come_from_console_and_print_and_logging_are_left_alone(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """As in Convex, a function logs with ``console``. ``print`` and ``logging``
    go where they always go: the dev server swaps no ``sys.stdout`` and adds
    no logging handler (process-wide state, shared by every thread)."""
    app = App()
    app.query("logs:chatty", chatty)
    async with running(app) as (_, client):
        [update] = (await client.subscribed("logs:chatty")).modifications
        assert isinstance(update, QueryUpdated)
        assert update.log_lines == ("[LOG] 'hello'", "[WARN] 'careful'", "[INFO] 'n =' 3")
    assert "printed\n" in capsys.readouterr().out
    assert "logged" in [r.getMessage() for r in caplog.records]


async def relay(ctx: Any, args: Mapping[str, ConvexValue]) -> ConvexValue:
    await ctx.run_mutation("messages:send", {"body": args["body"]})
    return await ctx.run_query("messages:count", {})  # type: ignore[no-any-return]


@pytest.mark.asyncio
async def test_action_runs_mutations_and_queries() -> None:
    app = chat_app()
    app.action("messages:relay", relay)
    async with running(app) as (_, client):
        await client.subscribed("messages:count")
        await client.send(Action(request_id=0, udf_path="messages:relay", args={"body": "x"}))
        received = [await client.recv(), await client.recv()]
        [response] = [m for m in received if isinstance(m, ActionResponse)]
        [transition] = [m for m in received if isinstance(m, Transition)]
        assert response.success
        assert response.result == 1
        assert updates(transition) == {0: 1.0}


async def recv_chunked(client: Client, threshold: int) -> tuple[Transition, list[str], str]:
    """Reassemble one chunked Transition; also its chunk texts and ``transitionId``."""
    assembler = TransitionChunkAssembler()
    texts: list[str] = []
    while True:
        chunk = await client.recv()
        assert isinstance(chunk, TransitionChunk)
        assert len(chunk.chunk.encode("utf-8")) <= threshold
        texts.append(chunk.chunk)
        result = assembler.add(chunk)
        if result is not None:
            assert chunk.transition_id == str(result[1])
            return result[0], texts, chunk.transition_id


@pytest.mark.asyncio
async def test_large_transitions_are_chunked_on_character_boundaries() -> None:
    threshold = 64
    body = "héllo wörld 🎉 " * 20
    async with running(chunk_threshold=threshold) as (_, client):
        await client.connect()
        await client.send(send(0, body))
        response = await client.recv()
        assert isinstance(response, MutationResponse)
        covering, _, _ = await recv_chunked(client, threshold)  # empty, but > 64 bytes
        assert covering.modifications == ()
        assert covering.end_version.ts >= (response.ts or 0)

        await client.send(subscribe("messages:list"))
        transition, texts, _ = await recv_chunked(client, threshold)
        assert len(texts) > 10
        assert parse_server_message("".join(texts)) == transition
        assert transition.start_version == covering.end_version
        [message] = documents(updates(transition)[0])
        assert message["body"] == body


@pytest.mark.asyncio
async def test_ping_after_idle_interval() -> None:
    async with running(ping_interval=0.05) as (_, client):
        await client.connect()
        assert isinstance(await client.recv(), Ping)
        assert isinstance(await client.recv(), Ping)


@pytest.mark.asyncio
async def test_observed_timestamp_ahead_of_server_closes_1011() -> None:
    async with running() as (server, client):
        await client.connect(max_observed_timestamp=server.engine.ts + 10**12)
        assert await client.closed() == 1011
        assert client.ws.close_reason == "InternalServerError"


@pytest.mark.asyncio
async def test_unknown_path_is_404() -> None:
    async with DevServer(chat_app()) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        with pytest.raises(InvalidStatus) as info:
            await connect(f"ws://127.0.0.1:{server.port}/other", open_timeout=TIMEOUT)
        assert info.value.response.status_code == 404


@pytest.mark.asyncio
async def test_reconnect_with_an_observed_timestamp_is_accepted() -> None:
    """The captured reconnect (docs/protocol.md#first-frames): a ``maxObservedTimestamp`` the
    server has reached is fine."""
    async with running() as (server, client):
        await client.send(send(0, "before"))
        committed = await client.recv()
        assert isinstance(committed, MutationResponse)
        assert committed.ts == server.engine.ts
        await client.connect(max_observed_timestamp=committed.ts)
        await client.send(subscribe("messages:count"))
        transitions = [await client.transition(), await client.transition()]
        assert transitions[1].start_version == transitions[0].end_version
        assert updates(transitions[1]) == {0: 1.0}


@pytest.mark.asyncio
async def test_stop_closes_sessions_going_away() -> None:
    server = DevServer(chat_app(), ws_ping_interval=None)
    await server.start()
    try:
        async with connect(server.ws_url, open_timeout=TIMEOUT) as ws:
            client = Client(ws)
            await client.connect()
            await asyncio.wait_for(server.stop(), TIMEOUT)
            assert await client.closed() == 1001
    finally:
        await server.stop()
    assert server.session_count == 0
