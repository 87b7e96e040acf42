"""``result_type=`` and ``paginate``/``pages`` on the sync clients, against the dev server.

The async ``Client`` and the blocking ``ConvexClient`` convert each value in
the caller's task or thread; a type that can never fit fails before a
mutation is sent, and a value that does not fit fails that one read only.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from collections.abc import Mapping
from typing import Any
from typing import assert_type

import msgspec
import pytest
import pytest_asyncio

from syncwire import Client
from syncwire import ConvexClient
from syncwire.devserver import App
from syncwire.devserver import DevServer
from syncwire.devserver import DevServerThread
from syncwire.devserver import MutationCtx
from syncwire.devserver import QueryCtx
from syncwire.errors import ResultTypeError
from syncwire.pagination import Page
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue

TIMEOUT = 20.0


class Note(msgspec.Struct):
    _id: str
    text: str
    rank: float


@dataclasses.dataclass
class Counter:
    total: int


def notes_app() -> App:
    """Notes with a text and a rank; ``notes:page`` pages them by position."""
    app = App()

    @app.mutation("notes:add")
    def add(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> str:
        text = args["text"]
        return ctx.db.insert("notes", {"text": text, "rank": float(len(str(text)))})

    @app.query("notes:all")
    def every(ctx: QueryCtx, _args: Mapping[str, ConvexValue]) -> list[Any]:
        return ctx.db.query("notes").collect()

    @app.query("notes:counter")
    def counter(ctx: QueryCtx, _args: Mapping[str, ConvexValue]) -> dict[str, ConvexValue]:
        return {"total": ConvexInt64(len(ctx.db.query("notes").collect()))}

    @app.query("notes:page")
    def page(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> dict[str, ConvexValue]:
        opts = args["paginationOpts"]
        assert isinstance(opts, dict)
        start = int(str(opts["cursor"] or "0"))
        numbers = opts["numItems"]
        assert isinstance(numbers, float)
        end = start + int(numbers)
        docs = ctx.db.query("notes").collect()
        return {"page": docs[start:end], "isDone": end >= len(docs), "continueCursor": str(end)}

    return app


@pytest_asyncio.fixture
async def client() -> AsyncIterator[Client]:
    async with DevServer(notes_app()) as server, Client(server.url) as client:
        yield client


@pytest.mark.asyncio
async def test_query_mutation_and_action_results_are_converted(client: Client) -> None:
    async with asyncio.timeout(TIMEOUT):
        note_id = await client.mutation("notes:add", {"text": "hello"}, result_type=str)
        notes = await client.query("notes:all", result_type=list[Note])
        assert_type(notes, list[Note])  # mypy checks the overloads: the type flows through
        assert notes == [Note(note_id, "hello", 5.0)]
        assert await client.query("notes:counter", result_type=Counter) == Counter(1)


@pytest.mark.asyncio
async def test_a_type_that_can_never_fit_fails_before_the_mutation_is_sent(client: Client) -> None:
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(TypeError, match="result_type"):
            await client.mutation("notes:add", {"text": "never"}, result_type=42)
        assert await client.query("notes:all") == []


@pytest.mark.asyncio
async def test_a_mismatch_names_its_path_and_the_mutation_still_committed(client: Client) -> None:
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(ResultTypeError) as caught:
            await client.mutation("notes:add", {"text": "x"}, result_type=int)
        assert caught.value.path == "$"
        for text in ("a", "b", "c"):
            await client.mutation("notes:add", {"text": text})
        with pytest.raises(ResultTypeError) as caught:
            await client.query("notes:all", result_type=list[Counter])
        assert caught.value.path == "$[0]"
        assert len(await client.query("notes:all")) == 4


@pytest.mark.asyncio
async def test_a_subscription_read_that_does_not_fit_fails_alone(client: Client) -> None:
    async with asyncio.timeout(TIMEOUT):
        subscription = client.subscribe("notes:all", result_type=list[Note])
        assert await subscription.next() == []
        await client.mutation("notes:add", {"text": "fits"})
        [note] = await subscription.next()
        assert note.text == "fits"
        subscription.unsubscribe()


@pytest.mark.asyncio
async def test_paginate_walks_every_document_and_pages_gives_pages(client: Client) -> None:
    async with asyncio.timeout(TIMEOUT):
        for i in range(23):
            await client.mutation("notes:add", {"text": f"note {i}"})
        walk = client.paginate("notes:page", page_size=5, result_type=Note)
        assert_type(walk, AsyncIterator[Note])
        texts = [note.text async for note in walk]
        assert texts == [f"note {i}" for i in range(23)]
        pages: list[Page[Any]] = [page async for page in client.pages("notes:page", page_size=10)]
        assert [len(page.items) for page in pages] == [10, 10, 3]
        assert pages[-1].is_done


@pytest.mark.asyncio
async def test_paginate_refuses_bad_arguments_at_the_call(client: Client) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.paginate("notes:page", page_size=0)
    with pytest.raises(ValueError, match="paginationOpts"):
        client.pages("notes:page", {"paginationOpts": {"numItems": 1.0, "cursor": None}})


def test_the_blocking_client_converts_in_the_callers_thread() -> None:
    with (
        DevServerThread(notes_app()) as server,
        ConvexClient(server.url, timeout=TIMEOUT) as client,
    ):
        note_id = client.mutation("notes:add", {"text": "one"}, result_type=str)
        assert client.query("notes:all", result_type=list[Note]) == [Note(note_id, "one", 3.0)]
        with pytest.raises(TypeError, match="result_type"):
            client.action("notes:none", result_type=object())
        with pytest.raises(ResultTypeError):
            client.query("notes:counter", result_type=list[Note])
        subscription = client.subscribe("notes:all", result_type=list[Note])
        assert [note.text for note in subscription.next(timeout=TIMEOUT)] == ["one"]
        subscription.unsubscribe()
        for i in range(11):
            client.mutation("notes:add", {"text": f"n{i}"})
        assert len(list(client.paginate("notes:page", page_size=4, result_type=Note))) == 12
        assert [len(p.items) for p in client.pages("notes:page", page_size=5)] == [5, 5, 2]
