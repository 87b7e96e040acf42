"""Both HTTP clients over real sockets: a refused connection, keep-alive, and no secret
anywhere (our logs, httpx's and httpcore's at DEBUG, exception texts, reprs)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from syncwire import AuthenticationError
from syncwire import ConvexHttpClient
from syncwire import FunctionError
from syncwire import HttpClient
from syncwire import HttpError
from syncwire.errors import ConnectError
from tests.helpers import ExceptionTexts
from tests.helpers import fragments
from tests.helpers import leaks
from tests.http.support import ADMIN_KEY
from tests.http.support import TOKEN
from tests.http.support import LocalServer
from tests.http.support import Seen
from tests.http.support import json_answer

REFUSED = "connection refused by 127.0.0.1:1: is the server running?"


@pytest.mark.asyncio
async def test_a_refused_connection_is_a_connect_error_with_its_cause() -> None:
    async with HttpClient("http://127.0.0.1:1") as client:
        for call in (client.query, client.mutation, client.action):
            with pytest.raises(ConnectError) as caught:
                await call("messages:send")
            assert caught.value.cause == REFUSED
            assert str(caught.value).endswith(f"was not sent: {REFUSED}")
    with ConvexHttpClient("http://127.0.0.1:1") as blocking:
        with pytest.raises(ConnectError) as refused:
            blocking.mutation("messages:send")
        assert refused.value.cause == REFUSED


def counting(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    return json_answer(200, {"status": "success", "value": len(seen.path)})


@pytest.mark.asyncio
async def test_one_connection_serves_many_calls() -> None:
    async with LocalServer(counting) as server:
        async with HttpClient(server.url) as client:
            for _ in range(20):
                await client.query("q")
                await client.mutation("m")
        assert server.connections == 1
        assert len(server.requests) == 40

        def blocking_calls() -> None:
            with ConvexHttpClient(server.url) as blocking:
                for _ in range(20):
                    blocking.action("a")

        await asyncio.to_thread(blocking_calls)
        assert server.connections == 2


@pytest.mark.asyncio
async def test_a_query_is_retried_once_on_a_kept_alive_connection_the_server_closed() -> None:
    served = 0

    async def close_after_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers one request with keep-alive promised, then closes at the next one's start.
        nonlocal served
        try:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(_length))
            served += 1
            body = b'{"status": "success", "value": 1}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")  # the next request comes: hang up unanswered
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    _length = str(len(b'{"path":"q","format":"convex_encoded_json","args":[{}]}'))
    server = await asyncio.start_server(close_after_each, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with HttpClient(f"http://127.0.0.1:{port}") as client:
            assert await client.query("q") == 1
            assert await client.query("q") == 1  # its first try met the closed connection
        assert served == 2
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_no_secret_in_any_log_error_or_repr(
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    def echoing(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        quoted = seen.headers.get("authorization", "")
        name = seen.body["path"] if seen.body else ""
        if name == "rejected":
            return json_answer(401, {"code": "InvalidAuthHeader", "message": f"bad {quoted}"})
        if name == "failing":
            return json_answer(560, {"status": "error", "errorMessage": f"saw {quoted}"})
        if name == "proxy":
            return 502, {"Content-Type": "text/html"}, f"<html>{quoted}</html>".encode()
        return json_answer(200, {"status": "success", "value": 1, "logLines": ["[LOG] hi"]})

    texts: list[str] = []
    with ExceptionTexts() as raised:
        async with LocalServer(echoing) as server:
            async with HttpClient(server.url, auth=TOKEN) as client:
                await client.query("fine")
                for name, error in [
                    ("rejected", AuthenticationError),
                    ("failing", FunctionError),
                    ("proxy", HttpError),
                ]:
                    with pytest.raises(error) as caught:
                        await client.mutation(name)
                    texts += [str(caught.value), repr(caught.value)]
                client.set_admin_auth(ADMIN_KEY, {"subject": "s"})
                await client.action("fine")
                with pytest.raises(AuthenticationError) as admin:
                    await client.action("rejected")
                texts += [str(admin.value), repr(client)]

            def blocking() -> list[Any]:
                with ConvexHttpClient(server.url, auth=TOKEN) as sync_client:
                    sync_client.query("fine")
                    with pytest.raises(AuthenticationError) as caught:
                        sync_client.query("rejected")
                    return [str(caught.value), repr(sync_client)]

            texts += await asyncio.to_thread(blocking)
        async with HttpClient("http://127.0.0.1:1", auth=TOKEN) as refused:
            with pytest.raises(ConnectError) as failed:
                await refused.query("q")
            texts.append(str(failed.value))
    assert "HTTP Request: POST" in every_logger_at_debug.text  # httpx logged, at INFO
    assert "send_request_headers" in every_logger_at_debug.text  # httpcore, at DEBUG
    pieces = fragments(TOKEN) | fragments(ADMIN_KEY)
    assert leaks(every_logger_at_debug.text, pieces) == []
    assert leaks(" ".join(texts), pieces) == []
    assert leaks(" ".join(raised.texts), pieces) == []
    assert raised.failures == []
