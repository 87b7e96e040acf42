"""Order and time: the mutation queue, timeouts, pagination, closing while calls wait."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from syncwire import ClientClosedError
from syncwire import ConvexHttpClient
from syncwire import HttpClient
from syncwire import Page
from syncwire import ResultTypeError
from tests.helpers import until
from tests.http.support import URL
from tests.http.support import Deployment
from tests.http.support import Driver
from tests.http.support import Seen
from tests.http.support import ok

Drive = Callable[..., Driver]


class Gated:
    """An async handler that holds each request until the test opens its gate."""

    def __init__(self) -> None:
        self.arrived: list[Any] = []
        self.gates: dict[Any, asyncio.Event] = {}

    def gate(self, key: Any) -> asyncio.Event:
        return self.gates.setdefault(key, asyncio.Event())

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        key = json.loads(request.content)["args"][0]["i"]
        self.arrived.append(key)
        await self.gate(key).wait()
        return ok(key)


@pytest.mark.asyncio
async def test_mutations_go_one_at_a_time_in_call_order_and_skip_queue_overlaps() -> None:
    handler = Gated()
    async with HttpClient(URL, transport=httpx.MockTransport(handler)) as client:
        first = asyncio.create_task(client.mutation("m", {"i": 1}))
        second = asyncio.create_task(client.mutation("m", {"i": 2}))
        third = asyncio.create_task(client.mutation("m", {"i": 3}))
        await until(lambda: handler.arrived == [1], "the first mutation sent")
        skipping = asyncio.create_task(client.mutation("m", {"i": 9}, skip_queue=True))
        action = asyncio.create_task(client.action("m", {"i": 8}))
        await until(lambda: handler.arrived == [1, 9, 8], "the skipper and the action sent")
        for _ in range(20):  # nothing else goes out while the first waits
            await asyncio.sleep(0)
        assert handler.arrived == [1, 9, 8]
        handler.gate(1).set()
        assert await first == 1
        await until(lambda: handler.arrived == [1, 9, 8, 2], "the second sent after the first")
        handler.gate(2).set()
        handler.gate(3).set()
        handler.gate(9).set()
        handler.gate(8).set()
        assert list(await asyncio.gather(second, third, skipping, action)) == [2, 3, 9, 8]
        assert handler.arrived == [1, 9, 8, 2, 3]


def test_blocking_mutations_from_threads_go_one_at_a_time() -> None:
    inside = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def answer(seen: Seen) -> httpx.Response:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        release.wait(5)
        with lock:
            inside -= 1
        return ok(seen.body["args"][0]["i"])

    with ConvexHttpClient(URL, transport=httpx.MockTransport(Deployment(answer))) as client:
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda i=i: results.append(client.mutation("m", {"i": i})))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        release.set()
        for thread in threads:
            thread.join(10)
        assert sorted(results) == [0, 1, 2, 3]
        assert most == 1


@pytest.mark.asyncio
async def test_a_timeout_says_whether_the_call_was_sent() -> None:
    handler = Gated()
    transport = httpx.MockTransport(handler)
    async with HttpClient(URL, transport=transport, timeout=0.2) as client:
        with pytest.raises(TimeoutError) as sent:
            await client.mutation("messages:send", {"i": 1})
        assert str(sent.value) == (
            "the mutation 'messages:send' got no answer within 0.2 s; "
            "it was sent, so it may still commit"
        )
        with pytest.raises(TimeoutError, match="the action may still run"):
            await client.action("a", {"i": 2})
        with pytest.raises(TimeoutError, match=r"within 0\.05 s; it was sent, and changes nothing"):
            await client.query("q", {"i": 3}, timeout=0.05)
        # A mutation still queued when its time runs out was never sent.
        blocker = asyncio.create_task(client.mutation("m", {"i": 4}, timeout=None))
        await until(lambda: 4 in handler.arrived, "the first mutation sent")
        with pytest.raises(TimeoutError, match="it was never sent, so it never runs"):
            await client.mutation("m", {"i": 5}, timeout=0.05)
        handler.gate(4).set()
        assert await blocker == 4
        assert 5 not in handler.arrived
        # A per-call timeout overrides the client's.
        handler.gate(6).set()
        assert await client.query("q", {"i": 6}, timeout=5) == 6


def test_a_blocking_timeout_says_the_same() -> None:
    never = threading.Event()

    def answer(seen: Seen) -> httpx.Response:
        never.wait(1)
        return ok(None)

    # MockTransport answers in the calling thread: the deadline is seen once it does.
    with (
        ConvexHttpClient(URL, transport=httpx.MockTransport(Deployment(answer))) as client,
        pytest.raises(TimeoutError, match="may still commit"),
    ):
        client.mutation("m", timeout=0.05)


@pytest.mark.parametrize("bad", [0, -1, "5", True])
def test_a_bad_timeout_is_refused(drive: Drive, bad: object) -> None:
    deployment = Deployment()
    driver = drive(deployment)
    with pytest.raises((TypeError, ValueError)):
        driver.call("query", "q", timeout=bad)
    with pytest.raises((TypeError, ValueError)):
        type(driver.client)(URL, timeout=bad)  # type: ignore[arg-type]
    assert deployment.requests == []


@pytest.mark.asyncio
async def test_closing_fails_queued_and_waiting_calls() -> None:
    handler = Gated()
    client = HttpClient(URL, transport=httpx.MockTransport(handler))
    first = asyncio.create_task(client.mutation("m", {"i": 1}))
    queued = asyncio.create_task(client.mutation("m", {"i": 2}))
    await until(lambda: handler.arrived == [1], "the first mutation sent")
    await client.aclose()
    handler.gate(1).set()
    await asyncio.gather(first, return_exceptions=True)
    with pytest.raises(ClientClosedError):
        await queued
    assert handler.arrived == [1]


# --------------------------------------------------------------------------- pagination


def paged(total: int) -> Deployment:
    """A paginated query over ``total`` documents; the cursor is the next index."""

    def answer(seen: Seen) -> httpx.Response:
        opts = seen.body["args"][0]["paginationOpts"]
        start = int(opts["cursor"] or 0)
        end = min(start + int(opts["numItems"]), total)
        page = [{"author": f"a{i}", "body": f"b{i}"} for i in range(start, end)]
        return ok({"page": page, "isDone": end == total, "continueCursor": str(end)})

    return Deployment(answer)


class Message(msgspec.Struct):
    author: str
    body: str


def test_paginate_walks_every_page(drive: Drive) -> None:
    deployment = paged(25)
    driver = drive(deployment)
    documents = driver.collect("paginate", "messages:page", {"channel": "c"}, page_size=10)
    assert [d["author"] for d in documents] == [f"a{i}" for i in range(25)]
    assert [seen.body["args"][0] for seen in deployment.requests] == [
        {"channel": "c", "paginationOpts": {"numItems": 10, "cursor": None}},
        {"channel": "c", "paginationOpts": {"numItems": 10, "cursor": "10"}},
        {"channel": "c", "paginationOpts": {"numItems": 10, "cursor": "20"}},
    ]
    assert set(deployment.paths) == {"/api/query"}


def test_pages_are_typed(drive: Drive) -> None:
    driver = drive(paged(5))
    pages = driver.collect("pages", "messages:page", page_size=2, result_type=Message)
    assert [type(p) for p in pages] == [Page, Page, Page]
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert pages[-1].is_done
    assert pages[-1].continue_cursor == "5"
    assert pages[0].items[0] == Message("a0", "b0")
    documents = driver.collect("paginate", "messages:page", result_type=Message)
    assert documents[4] == Message("a4", "b4")


def test_a_document_that_does_not_fit_names_its_path(drive: Drive) -> None:
    driver = drive(paged(5))
    with pytest.raises(ResultTypeError) as caught:
        driver.collect("paginate", "messages:page", page_size=5, result_type=int)
    assert caught.value.path == "$.page[0]"


@pytest.mark.parametrize(
    ("args", "options", "error"),
    [
        ({"paginationOpts": {}}, {}, ValueError),
        ([1], {}, TypeError),
        ({"x": object()}, {}, TypeError),
        ({}, {"page_size": 0}, ValueError),
        ({}, {"result_type": object()}, TypeError),
        ({}, {"timeout": -1}, ValueError),
    ],
)
def test_bad_pagination_args_raise_at_the_call(
    drive: Drive, args: Any, options: dict[str, Any], error: type[Exception]
) -> None:
    deployment = paged(5)
    driver = drive(deployment)
    for method in ("paginate", "pages"):
        with pytest.raises(error):
            driver.call(method, "messages:page", args, **options)  # not iterated
    assert deployment.requests == []
