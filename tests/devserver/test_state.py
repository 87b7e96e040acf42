"""The dev server's state file: data, mutation answers and the clock survive a killed server.

A new ``DevServer`` on the same file stands for a new process; the last test
kills a real ``syncwire serve`` process with SIGKILL.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from syncwire.devserver import Database
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver.example import chat_app
from syncwire.devserver.state import DurableState
from syncwire.devserver.state import load_state
from syncwire.devserver.state import save_state
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import MutationResponse
from syncwire.protocol import json_to_convex
from tests.devserver.wire import TIMEOUT
from tests.devserver.wire import Client
from tests.devserver.wire import add
from tests.devserver.wire import documents
from tests.devserver.wire import hello
from tests.devserver.wire import send
from tests.devserver.wire import updates
from tests.helpers import serving


def sample_database() -> Database:
    """Every kind of Convex value, and an id that was issued then deleted."""
    db = Database()
    kept = db.new_id("messages")
    db.put(
        "messages",
        {
            "_id": kept,
            "_creationTime": db.next_creation_time(time.time() * 1000),
            "body": "hi",
            "n": ConvexInt64(-5),
            "f": 1.5,
            "raw": b"\x00\xff",
            "list": [None, True, {"nested": "yes"}],
        },
    )
    db.new_id("messages")  # deleted: never issued again, still "messages"
    return db


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    db = sample_database()
    answers: OrderedDict[str, OrderedDict[int, MutationResponse]] = OrderedDict()
    answers["s1"] = OrderedDict(
        [
            (0, MutationResponse(request_id=0, success=True, result="x", ts=7, log_lines=())),
            (
                3,
                MutationResponse(
                    request_id=3, success=False, result="boom", ts=None, log_lines=("[LOG] 'a'",)
                ),
            ),
        ]
    )
    answers["s2"] = OrderedDict()
    save_state(path, DurableState(db, answers, ts=123))

    loaded = load_state(path)
    assert loaded is not None
    assert loaded.ts == 123
    assert loaded.answers == answers
    assert list(loaded.answers) == ["s1", "s2"]  # least recently used first, kept
    assert loaded.database.tables() == db.tables() == ["messages"]
    assert loaded.database.documents("messages") == db.documents("messages")
    assert loaded.database.issued_ids() == db.issued_ids()
    assert loaded.database.last_creation_time == db.last_creation_time
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left


def test_missing_file_is_no_state_and_garbage_is_an_error(tmp_path: Path) -> None:
    assert load_state(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a state"}')
    with pytest.raises(ValueError, match="not a dev server state file"):
        load_state(bad)
    with pytest.raises(ValueError, match="not both"):
        DevServer(chat_app(), database=Database(), state_file=bad)


@pytest.mark.asyncio
async def test_a_restarted_server_keeps_data_and_answers_a_resend_as_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    session_id = str(uuid.uuid4())
    subscribe = ModifyQuerySet(
        base_version=0, new_version=1, modifications=(add(0, "messages:list"),)
    )

    first = DevServer(chat_app(), ws_ping_interval=None, state_file=path)
    await first.start()
    try:
        async with connect(first.ws_url, open_timeout=TIMEOUT) as ws:
            client = Client(ws)
            await client.send(hello(session_id), send(0, "once"))
            original = await client.recv()
            assert isinstance(original, MutationResponse)
            assert original.success
            assert original.ts is not None
            port = first.port
    finally:
        await first.kill()  # no clean stop: what is durable was written already

    # A new server on the file: a new process, with nothing in memory.
    second = DevServer(chat_app(), port=port, ws_ping_interval=None, state_file=path)
    await second.start()
    try:
        assert second.engine.ts >= original.ts
        async with connect(second.ws_url, open_timeout=TIMEOUT) as ws:
            client = Client(ws)
            # The client re-sends the mutation whose answer it may have lost.
            await client.send(
                hello(session_id, 1, max_observed_timestamp=original.ts),
                subscribe,
                send(0, "once"),
            )
            [only] = documents(updates(await client.transition())[0])
            assert only["body"] == "once"
            again = await client.recv()
            assert again == original  # the same answer: it did not run again
            await client.transition()  # the one covering it

            await client.send(send(1, "twice"))
            later = await client.recv()
            assert isinstance(later, MutationResponse)
            assert later.ts is not None
            assert later.ts > original.ts
            after = documents(updates(await client.transition())[0])
            assert [m["body"] for m in after] == ["once", "twice"]
    finally:
        await second.stop()


@pytest.mark.asyncio
async def test_timestamps_never_go_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    future = time.time_ns() + 3600 * 10**9  # as if the last server's clock ran ahead
    save_state(path, DurableState(Database(), OrderedDict(), ts=future))
    async with DevServer(chat_app(), ws_ping_interval=None, state_file=path) as server:
        assert server.engine.ts >= future
        async with connect(server.ws_url, open_timeout=TIMEOUT) as ws:
            client = Client(ws)
            # A client that saw ``future`` is welcome (no 1011 for a ts from the future).
            await client.send(hello(str(uuid.uuid4()), 1, max_observed_timestamp=future))
            await client.send(send(0, "later"))
            response = await client.recv()
            assert isinstance(response, MutationResponse)
            assert response.ts is not None
            assert response.ts > future
    reloaded = load_state(path)
    assert reloaded is not None
    assert reloaded.ts == response.ts


@pytest.mark.asyncio
async def test_commits_made_by_actions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    app = chat_app()

    def bump(ctx: MutationCtx, _args: object) -> None:
        ctx.db.insert("counters", {"n": 1.0})

    app.mutation("counters:bump", bump)
    async with DevServer(app, ws_ping_interval=None, state_file=path) as server:
        await server.engine.mutation("counters:bump", {}, None)
    loaded = load_state(path)
    assert loaded is not None
    assert [doc["n"] for doc in loaded.database.documents("counters")] == [1.0]


@pytest.mark.asyncio
async def test_serve_state_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    async with serving("--state", str(path)) as served:
        port = served.url.rpartition(":")[2]
        async with connect(served.ws_url, open_timeout=TIMEOUT) as ws:
            client = Client(ws)
            await client.send(hello(str(uuid.uuid4())), send(0, "kept"))
            response = await client.recv()
            assert isinstance(response, MutationResponse)
            assert response.success
        served.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(served.process.wait(), TIMEOUT)
    async with (
        serving("--port", port, "--state", str(path)) as served,
        connect(served.ws_url, open_timeout=TIMEOUT) as ws,
    ):
        client = Client(ws)
        await client.send(
            hello(str(uuid.uuid4())),
            ModifyQuerySet(base_version=0, new_version=1, modifications=(add(0, "messages:list"),)),
        )
        [message] = documents(updates(await client.transition())[0])
        assert message["body"] == "kept"
        assert message["_id"] == json_to_convex(response.result)
