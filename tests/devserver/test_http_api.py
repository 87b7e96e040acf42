"""The dev server's HTTP API (docs/protocol.md#http-api), driven with a plain HTTP client.

httpx against ``DevServer`` on 127.0.0.1: every endpoint, values and failures, auth,
bad requests (status and JSON code), keep-alive, the WebSocket on the same
port, the snapshot reads, faults and the server's kill/restart/stop. Waits are
bounded; nothing sleeps and then asserts a tight bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from syncwire.devserver import ActionCtx
from syncwire.devserver import App
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver import console
from syncwire.devserver import make_hs256_token
from syncwire.devserver.example import chat_app
from syncwire.devserver.front import HttpLimits
from syncwire.devserver.http_api import decode_ts
from syncwire.devserver.http_api import encode_ts
from syncwire.protocol import ConvexValue
from tests.devserver.wire import TIMEOUT
from tests.devserver.wire import documents
from tests.devserver.wire import running
from tests.devserver.wire import send
from tests.devserver.wire import subscribe
from tests.devserver.wire import updates
from tests.helpers import until

SECRET = "test-secret"


class Gates:
    """``extra:wait`` sets ``started``, then waits for ``gate``."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()


def app_with_extras(gates: Gates | None = None) -> App:
    """The chat app plus functions that log, fail after writing, and wait."""
    app = chat_app()
    events = gates or Gates()

    def noisy(ctx: Any, args: dict[str, ConvexValue]) -> str:
        console.log("hello", args.get("x"))
        return "ok"

    def write_then_fail(ctx: MutationCtx, args: dict[str, ConvexValue]) -> None:
        ctx.db.insert("messages", {"channel": "general", "body": "never"})
        raise RuntimeError("boom")

    async def wait(ctx: ActionCtx, args: dict[str, ConvexValue]) -> str:
        events.started.set()
        await events.gate.wait()
        return "done"

    app.query("extra:noisy", noisy)
    app.mutation("extra:writeThenFail", write_then_fail)
    app.action("extra:wait", wait)
    return app


@contextlib.asynccontextmanager
async def serving(
    gates: Gates | None = None, **options: Any
) -> AsyncIterator[tuple[DevServer, httpx.AsyncClient]]:
    async with (
        DevServer(app_with_extras(gates), ws_ping_interval=None, **options) as server,
        httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http,
    ):
        yield server, http


def call(path: str, args: Any, **fields: Any) -> dict[str, Any]:
    return {"path": path, "format": "convex_encoded_json", "args": args, **fields}


async def post(http: httpx.AsyncClient, url: str, body: Any, **kw: Any) -> httpx.Response:
    return await http.post(url, json=body, **kw)


# -- functions --


@pytest.mark.asyncio
async def test_query_mutation_action_and_function_answer_200_with_values() -> None:
    async with serving() as (_, http):
        sent = await post(http, "/api/mutation", call("messages:send", [{"body": "hi"}]))
        assert sent.status_code == 200
        assert sent.json()["status"] == "success"
        assert isinstance(sent.json()["value"], str)
        # The official Python client sends args as an object, npm as a list of one.
        for args in ({"channel": "general"}, [{"channel": "general"}]):
            listed = await post(http, "/api/query", call("messages:list", args))
            assert listed.status_code == 200
            assert [m["body"] for m in listed.json()["value"]] == ["hi"]
        stats = await post(http, "/api/action", call("messages:stats", [{}]))
        # No logLines when there are none, as a deployment; numbers written as floats.
        assert stats.json() == {"status": "success", "value": {"channel": "general", "count": 1.0}}
        assert b'"count":1.0' in stats.content
        # /api/function runs any kind, by the registry's word.
        counted = await post(http, "/api/function", call("messages:count", [{}]))
        again = await post(http, "/api/function", call("messages:send", [{"body": "2"}]))
        assert counted.json()["value"] == 1.0
        assert again.status_code == 200
        page = await post(
            http,
            "/api/query",
            call("messages:page", [{"paginationOpts": {"numItems": 1, "cursor": None}}]),
        )
        assert [m["body"] for m in page.json()["value"]["page"]] == ["hi"]
        assert page.json()["value"]["isDone"] is False


@pytest.mark.asyncio
async def test_log_lines_are_those_of_the_sync_protocol() -> None:
    async with serving() as (_, http):
        answer = await post(http, "/api/query", call("extra:noisy", [{"x": 1.5}]))
        assert answer.json() == {
            "status": "success",
            "value": "ok",
            "logLines": ["[LOG] 'hello' 1.5"],
        }


@pytest.mark.asyncio
async def test_a_failed_function_answers_200_with_the_error_and_its_data() -> None:
    async with serving() as (server, http):
        empty = await post(http, "/api/mutation", call("messages:send", [{"body": ""}]))
        assert empty.status_code == 200
        body = empty.json()
        assert body["status"] == "error"
        assert "Uncaught ConvexError" in body["errorMessage"]
        assert body["errorData"] == {"code": "EmptyBody", "message": "a message needs a body"}
        unknown = await post(http, "/api/query", call("nothing:here", [{}]))
        assert unknown.status_code == 200
        assert "Could not find public function for 'nothing:here'" in unknown.json()["errorMessage"]
        assert "errorData" not in unknown.json()
        wrong = await post(http, "/api/query", call("messages:send", [{"body": "x"}]))
        assert wrong.status_code == 200
        assert wrong.json()["errorMessage"] == (
            "Trying to execute messages:send as Query, but it is defined as Mutation."
        )
        assert server.database.documents("messages") == []


@pytest.mark.asyncio
async def test_a_failing_mutation_commits_nothing() -> None:
    async with serving() as (server, http):
        ts = server.engine.ts
        failed = await post(http, "/api/mutation", call("extra:writeThenFail", [{}]))
        assert failed.status_code == 200
        assert "Uncaught RuntimeError: boom" in failed.json()["errorMessage"]
        assert server.database.documents("messages") == []
        assert server.engine.ts == ts


# -- one port, keep-alive, subscribers --


@pytest.mark.asyncio
async def test_http_mutations_reach_websocket_subscribers_on_the_same_port() -> None:
    async with (
        running() as (server, client),
        httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http,
    ):
        await client.send(subscribe())
        assert updates(await client.transition()) == {0: []}
        answer = await post(http, "/api/mutation", call("messages:send", [{"body": "over http"}]))
        assert answer.status_code == 200
        assert [m["body"] for m in documents(updates(await client.transition())[0])] == [
            "over http"
        ]
        await client.send(send(0, "over ws"))  # the socket still works alongside
        listed = await post(http, "/api/query", call("messages:list", [{}]))
        await until(lambda: server.session_count == 1, "the session")
        assert server.session_count == 1
        assert listed.json()["value"][0]["body"] == "over http"


@pytest.mark.asyncio
async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with serving() as (server, http):
        for i in range(5):
            answer = await post(http, "/api/mutation", call("messages:send", [{"body": str(i)}]))
            assert answer.status_code == 200
            assert server.http_connection_count == 1
        assert len(server.database.documents("messages")) == 5


# -- auth --


@pytest.mark.asyncio
async def test_a_valid_token_is_the_callers_identity() -> None:
    token = make_hs256_token({"sub": "u1", "iss": "test", "name": "Ada"}, SECRET)
    async with serving(auth_secret=SECRET) as (server, http):
        headers = {"Authorization": f"Bearer {token}"}
        answer = await post(
            http, "/api/mutation", call("messages:send", [{"body": "x"}]), headers=headers
        )
        assert answer.status_code == 200
        assert server.database.documents("messages")[0]["author"] == "Ada"


@pytest.mark.asyncio
async def test_a_rejected_token_is_401_and_nothing_runs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = make_hs256_token({"sub": "u1", "iss": "test"}, "another secret")
    async with serving(auth_secret=SECRET) as (server, http):
        for header, code in [
            (f"Bearer {bad}", "InvalidAuthHeader"),
            ("Bearer", "InvalidAuthHeader"),
            (f"Basic {bad}", "InvalidAuthHeader"),
            ("Convex some-admin-key", "BadAdminKey"),
        ]:
            answer = await post(
                http,
                "/api/mutation",
                call("messages:send", [{"body": "x"}]),
                headers={"Authorization": header},
            )
            assert answer.status_code == 401, header
            assert answer.json()["code"] == code
            assert bad not in answer.text
        assert server.database.documents("messages") == []
    assert bad not in caplog.text
    assert bad.split(".")[2] not in caplog.text


# -- bad requests --


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("url", "content", "headers", "status", "code"),
    [
        ("/api/query", b"{not json", {"content-type": "application/json"}, 400, "BadJsonBody"),
        ("/api/query", b"[1]", {"content-type": "application/json"}, 400, "BadJsonBody"),
        ("/api/query", b'{"args": {}}', {"content-type": "application/json"}, 400, "BadJsonBody"),
        (
            "/api/query",
            b'{"path": "messages:list"}',
            {"content-type": "application/json"},
            400,
            "BadJsonBody",
        ),
        (
            "/api/query",
            b'{"path": 5, "args": {}}',
            {"content-type": "application/json"},
            400,
            "BadJsonBody",
        ),
        (
            "/api/query",
            b'{"path": "a:b", "args": 5}',
            {"content-type": "application/json"},
            400,
            "BadJsonBody",
        ),
        (
            "/api/query",
            b'{"path": "", "args": {}}',
            {"content-type": "application/json"},
            400,
            "InvalidConvexFunction",
        ),
        (
            "/api/query",
            b'{"path": "a:b", "args": {}}',
            {"content-type": "text/plain"},
            400,
            "BadJsonBody",
        ),
        (
            "/api/query",
            b'{"path": "a:b", "args": {}, "format": "yaml"}',
            {"content-type": "application/json"},
            400,
            "BadFormat",
        ),
        (
            "/api/query_at_ts",
            b'{"path": "messages:list", "args": {}}',
            {"content-type": "application/json"},
            400,
            "BadJsonBody",
        ),
        (
            "/api/query_at_ts",
            b'{"path": "messages:list", "args": {}, "ts": "bm9wZQ=="}',
            {"content-type": "application/json"},
            500,
            "InternalServerError",
        ),
    ],
)
async def test_bad_requests_get_a_status_and_a_json_code(
    url: str, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    async with serving() as (_, http):
        answer = await http.post(url, content=content, headers=headers)
        assert answer.status_code == status
        assert answer.json()["code"] == code
        assert answer.json()["message"]


@pytest.mark.asyncio
async def test_unknown_paths_and_methods() -> None:
    async with serving() as (_, http):
        assert (await http.post("/api/nope", json={})).status_code == 404
        put = await http.put("/api/query", json=call("messages:list", {}))
        assert put.status_code == 405
        assert put.headers["allow"] == "POST"
        assert (await http.get("/api/query")).status_code == 405  # through the upgrade path
        assert (await http.get("/elsewhere")).status_code == 404


@pytest.mark.asyncio
async def test_bodies_over_the_limit_are_413() -> None:
    async with serving(http_limits=HttpLimits(max_body_bytes=100)) as (_, http):
        answer = await post(http, "/api/mutation", call("messages:send", [{"body": "x" * 200}]))
        assert answer.status_code == 413
        assert answer.json()["code"] == "RequestTooLarge"


@pytest.mark.asyncio
async def test_a_slow_request_is_answered_408_and_closed() -> None:
    limits = HttpLimits(request_timeout=0.2, idle_timeout=0.2)
    async with serving(http_limits=limits) as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /api/query HTTP/1.1\r\nhost: x\r\ncontent-length: 50\r\n\r\n{")
        await writer.drain()
        async with asyncio.timeout(TIMEOUT):
            answer = await reader.read()  # until the server closes
        assert answer.startswith(b"HTTP/1.1 408 ")
        writer.close()
        # A client that says nothing at all is dropped too.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(TIMEOUT):
            assert await reader.read() == b""
        writer.close()


# -- snapshots --


@pytest.mark.asyncio
async def test_query_at_ts_sees_exactly_the_commits_up_to_ts() -> None:
    async with serving() as (_, http):
        await post(http, "/api/mutation", call("messages:send", [{"body": "before"}]))
        ts = (await http.post("/api/query_ts")).json()["ts"]
        assert isinstance(ts, str)
        await post(http, "/api/mutation", call("messages:send", [{"body": "after"}]))
        then = await post(http, "/api/query_at_ts", call("messages:list", [{}], ts=ts))
        assert then.status_code == 200
        assert [m["body"] for m in then.json()["value"]] == ["before"]
        now = await post(http, "/api/query", call("messages:list", [{}]))
        assert [m["body"] for m in now.json()["value"]] == ["before", "after"]


@pytest.mark.asyncio
async def test_query_at_ts_refuses_a_ts_older_than_the_history() -> None:
    clock = [1_000 * 10**9]
    async with serving(clock=lambda: clock[0]) as (_, http):
        ts = (await http.post("/api/query_ts")).json()["ts"]
        clock[0] += 31 * 10**9
        await post(http, "/api/mutation", call("messages:send", [{"body": "later"}]))
        clock[0] += 1
        await post(http, "/api/mutation", call("messages:send", [{"body": "later still"}]))
        old = await post(http, "/api/query_at_ts", call("messages:list", [{}], ts=ts))
        assert old.status_code == 500
        assert old.json()["code"] == "InternalServerError"
        future = encode_ts(decode_ts(ts) + 10**12)
        ahead = await post(http, "/api/query_at_ts", call("messages:list", [{}], ts=future))
        assert ahead.status_code == 500


# -- faults --


@pytest.mark.asyncio
async def test_refuse_answers_http_requests_and_counts_them() -> None:
    async with serving() as (server, http):
        server.faults.refuse(30, count=2, status=503)
        for _ in range(2):
            refused = await post(http, "/api/query", call("messages:list", [{}]))
            assert refused.status_code == 503
            assert refused.json()["code"] == "ServiceUnavailable"
        assert (await post(http, "/api/query", call("messages:list", [{}]))).status_code == 200


@pytest.mark.asyncio
async def test_silence_and_delay_hold_http_answers() -> None:
    async with serving() as (server, http):
        server.faults.silence(30)
        answer = asyncio.create_task(
            post(http, "/api/mutation", call("messages:send", [{"body": "held"}]))
        )
        await until(lambda: len(server.database.documents("messages")) == 1, "the commit")
        assert not answer.done()
        server.faults.lift()
        assert (await answer).status_code == 200
        server.faults.delay(0.3, duration=30)
        started = asyncio.get_running_loop().time()
        late = await post(http, "/api/query", call("messages:count", [{}]))
        assert late.status_code == 200
        assert asyncio.get_running_loop().time() - started >= 0.3


@pytest.mark.asyncio
async def test_drop_leaves_http_requests_unanswered_and_unrun() -> None:
    async with serving() as (server, http):
        server.faults.drop(30)
        with pytest.raises(httpx.ReadTimeout):
            await post(
                http,
                "/api/mutation",
                call("messages:send", [{"body": "lost"}]),
                timeout=0.5,
            )
        assert server.database.documents("messages") == []
        server.faults.lift()
        assert (await post(http, "/api/query", call("messages:count", [{}]))).json()["value"] == 0


# -- the server's life --


@pytest.mark.asyncio
async def test_kill_drops_http_connections_and_restart_serves_again() -> None:
    gates = Gates()
    async with serving(gates) as (server, http):
        assert (await post(http, "/api/query", call("messages:count", [{}]))).status_code == 200
        waiting = asyncio.create_task(post(http, "/api/action", call("extra:wait", [{}])))
        async with asyncio.timeout(TIMEOUT):
            await gates.started.wait()
        await server.kill()
        assert server.http_connection_count == 0
        with pytest.raises(httpx.TransportError):
            await waiting
        await server.start()
        assert (await post(http, "/api/query", call("messages:count", [{}]))).status_code == 200
        await server.restart()
        assert (await post(http, "/api/query", call("messages:count", [{}]))).status_code == 200


@pytest.mark.asyncio
async def test_stop_closes_keep_alive_connections_and_leaves_no_task() -> None:
    server = DevServer(app_with_extras(), ws_ping_interval=None)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        assert (await post(http, "/api/query", call("messages:count", [{}]))).status_code == 200
        # A connection that has not said what it wants yet is closed too.
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert server.http_connection_count == 1
        async with asyncio.timeout(TIMEOUT):
            await server.stop()
        assert server.http_connection_count == 0
        writer.close()
    leftover = [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "_serve" in repr(t.get_coro())
    ]
    assert leftover == []


@pytest.mark.asyncio
async def test_stop_lets_an_answer_being_made_go_out() -> None:
    gates = Gates()
    server = DevServer(app_with_extras(gates), ws_ping_interval=None)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        waiting = asyncio.create_task(post(http, "/api/action", call("extra:wait", [{}])))
        async with asyncio.timeout(TIMEOUT):
            await gates.started.wait()
        stopping = asyncio.create_task(server.stop())
        for _ in range(20):  # let stop() begin (no I/O on its way: a few loop turns)
            await asyncio.sleep(0)
        gates.gate.set()
        answer = await waiting
        assert answer.status_code == 200
        assert answer.headers["connection"] == "close"
        async with asyncio.timeout(TIMEOUT):
            await stopping
