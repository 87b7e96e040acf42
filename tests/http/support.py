"""What the HTTP client tests share: a scripted deployment for ``httpx.MockTransport``,
and one way to drive either client (``HttpClient`` on a loop of its own, or
``ConvexHttpClient``) from a plain test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import Final

import httpx

from syncwire import ConvexHttpClient
from syncwire import HttpClient

URL: Final = "https://happy-otter-123.convex.cloud"
TOKEN: Final = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2VjcmV0LXNpZ25hdHVyZS1vZi10aGUtdG9rZW4"
)
ADMIN_KEY: Final = "prod:happy-otter-123|eyJ2MiI6ImFkbWluLWtleS1zZWNyZXQtcGFydCJ9"


@dataclass(frozen=True)
class Seen:
    """One request the deployment got."""

    path: str
    headers: httpx.Headers
    body: Any


def ok(value: Any, log_lines: list[str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"status": "success", "value": value}
    if log_lines is not None:
        body["logLines"] = log_lines
    return httpx.Response(200, json=body)


def failed(message: str, **more: Any) -> httpx.Response:
    return httpx.Response(560, json={"status": "error", "errorMessage": message, **more})


class Deployment:
    """An ``httpx.MockTransport`` handler: records each request, answers with ``answer``."""

    def __init__(self, answer: Callable[[Seen], httpx.Response] | None = None) -> None:
        self.requests: list[Seen] = []
        self.answer = answer or (lambda seen: ok(None))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        seen = Seen(request.url.path, request.headers, json.loads(content) if content else None)
        self.requests.append(seen)
        return self.answer(seen)

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]


class Driver:
    """Either client, driven from a plain (blocking) test: ``call("query", name, ...)``."""

    def __init__(self, kind: str, deployment: Deployment, **options: Any) -> None:
        self.kind = kind
        transport = httpx.MockTransport(deployment)
        self._runner: asyncio.Runner | None = None
        self.client: HttpClient | ConvexHttpClient
        if kind == "HttpClient":
            self._runner = asyncio.Runner()
            self.client = HttpClient(URL, transport=transport, **options)
        else:
            self.client = ConvexHttpClient(URL, transport=transport, **options)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if self._runner is not None and asyncio.iscoroutine(result):
            return self._runner.run(result)
        return result

    def collect(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Everything an iterator method (``paginate``, ``pages``) yields."""
        iterator = getattr(self.client, method)(*args, **kwargs)
        if self._runner is None:
            return list(iterator)

        async def drain() -> list[Any]:
            return [item async for item in iterator]

        return self._runner.run(drain())

    def close(self) -> None:
        """Close the client (again: a no-op)."""
        if isinstance(self.client, HttpClient):
            assert self._runner is not None
            self._runner.run(self.client.aclose())
        else:
            self.client.close()

    def finish(self) -> None:
        """Close the client, and the loop of an ``HttpClient``."""
        self.close()
        if self._runner is not None:
            self._runner.close()


Answer = Callable[[Seen], tuple[int, dict[str, str], bytes]]


class LocalServer:
    """A minimal HTTP/1.1 server on 127.0.0.1 with keep-alive, for real sockets: it counts
    the connections it accepts and answers each request with ``answer(seen)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> LocalServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = httpx.Headers(
                    [
                        (name, value)
                        for name, _, value in (line.partition(": ") for line in lines[1:])
                        if value
                    ]
                )
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(path, headers, json.loads(body) if body else None)
                self.requests.append(seen)
                status, answer_headers, content = self.answer(seen)
                out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}"]
                out += [f"{name}: {value}" for name, value in answer_headers.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + content)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


def json_answer(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
