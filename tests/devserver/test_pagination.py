"""``Query.paginate``: stable cursors through inserts and deletes, filter and order, bad opts.

Run through the ``Engine`` (the functions as a deployment runs them), with
10,000 documents and inserts between page reads.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from syncwire.devserver import App
from syncwire.devserver import Engine
from syncwire.devserver import MutationCtx
from syncwire.devserver import QueryCtx
from syncwire.protocol import ConvexValue


def items_app() -> App:
    app = App()

    def seed(ctx: MutationCtx, args: Mapping[str, Any]) -> None:
        for rank in args["ranks"]:
            ctx.db.insert("items", {"rank": rank, "even": int(rank) % 2 == 0})

    def remove(ctx: MutationCtx, args: Mapping[str, Any]) -> None:
        for doc_id in args["ids"]:
            ctx.db.delete(doc_id)

    def page(ctx: QueryCtx, args: Mapping[str, Any]) -> Any:
        query = ctx.db.query("items")
        if args.get("even"):
            query = query.filter(lambda d: d["even"] is True)
        if "by" in args:
            query = query.order(args["order"], by=args["by"])
        elif "order" in args:
            query = query.order(args["order"])
        return query.paginate(args["paginationOpts"])

    app.mutation("items:seed", seed)
    app.mutation("items:remove", remove)
    app.query("items:page", page)
    return app


async def seed(engine: Engine, ranks: list[float]) -> None:
    outcome = await engine.mutation("items:seed", {"ranks": list(ranks)}, None)
    assert outcome.success, outcome.error_message


async def read_page(engine: Engine, cursor: str | None, size: int, **args: ConvexValue) -> Any:
    opts = {"numItems": float(size), "cursor": cursor}
    outcome = await engine.query("items:page", {**args, "paginationOpts": opts}, None)
    assert outcome.success, outcome.error_message
    return outcome.value


def ids(engine: Engine) -> set[str]:
    return {str(d["_id"]) for d in engine.db.documents("items")}


@pytest.mark.asyncio
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("by", [None, "rank"])
async def test_a_walk_through_10000_documents_with_inserts_sees_each_once(
    order: str, by: str | None
) -> None:
    engine = Engine(items_app())
    rng = random.Random(14)  # noqa: S311 - test data, not secrets
    await seed(engine, [float(rng.randrange(1000)) for _ in range(10_000)])
    at_start = ids(engine)
    args: dict[str, ConvexValue] = {"order": order}
    if by is not None:
        args["by"] = by
    seen: list[str] = []
    cursor = None
    for _ in range(1_000):  # bounded: 10,000 / 97 pages, and a few more for the inserts
        value = await read_page(engine, cursor, 97, **args)
        seen += [str(d["_id"]) for d in value["page"]]
        cursor = value["continueCursor"]
        if value["isDone"]:
            break
        # Inserts between page reads, before and after the cursor (by rank) and at the end.
        await seed(engine, [float(rng.randrange(1000)) for _ in range(3)])
    else:
        pytest.fail("the walk did not end")
    assert len(seen) == len(set(seen)), "a document was returned twice"
    assert at_start <= set(seen), "a document that existed at the start was skipped"
    if by is None and order == "asc":
        assert set(seen) == ids(engine)  # inserts land at the end: all seen


@pytest.mark.asyncio
async def test_deleting_documents_already_past_shifts_nothing() -> None:
    engine = Engine(items_app())
    await seed(engine, [float(i) for i in range(50)])
    first = await read_page(engine, None, 10)
    await engine.mutation("items:remove", {"ids": [d["_id"] for d in first["page"][:5]]}, None)
    second = await read_page(engine, first["continueCursor"], 10)
    assert [d["rank"] for d in second["page"]] == [float(i) for i in range(10, 20)]


@pytest.mark.asyncio
async def test_filter_and_descending_order_by_a_field() -> None:
    engine = Engine(items_app())
    await seed(engine, [3.0, 8.0, 1.0, 6.0, 4.0, 2.0])
    pages = []
    cursor = None
    for _ in range(5):
        value = await read_page(engine, cursor, 2, even=True, order="desc", by="rank")
        pages.append([d["rank"] for d in value["page"]])
        cursor = value["continueCursor"]
        if value["isDone"]:
            break
    assert pages == [[8.0, 6.0], [4.0, 2.0]]
    done = await read_page(engine, cursor, 2, even=True, order="desc", by="rank")
    assert done == {"page": [], "isDone": True, "continueCursor": cursor}


@pytest.mark.asyncio
async def test_an_empty_table_is_done_at_once_with_a_cursor_to_go_on_from() -> None:
    engine = Engine(items_app())
    value = await read_page(engine, None, 5)
    assert value["page"] == []
    assert value["isDone"] is True
    await seed(engine, [1.0])
    later = await read_page(engine, value["continueCursor"], 5)
    assert [d["rank"] for d in later["page"]] == [1.0]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("opts", "words"),
    [
        (None, "paginationOpts must be an object"),
        ({"cursor": None}, "numItems is missing"),
        ({"numItems": 0.0, "cursor": None}, "positive number"),
        ({"numItems": -1.0, "cursor": None}, "positive number"),
        ({"numItems": float("inf"), "cursor": None}, "positive number"),
        ({"numItems": "5", "cursor": None}, "must be a number"),
        ({"numItems": True, "cursor": None}, "must be a number"),
        ({"numItems": 5.0, "cursor": 5.0}, "cursor must be a string or null"),
        ({"numItems": 5.0, "cursor": "not a cursor!"}, "is not a cursor"),
    ],
)
async def test_bad_pagination_opts_fail_the_function_clearly(opts: Any, words: str) -> None:
    engine = Engine(items_app())
    outcome = await engine.query("items:page", {"paginationOpts": opts}, None)
    assert not outcome.success
    assert words in outcome.error_message


@pytest.mark.asyncio
async def test_a_cursor_from_another_order_is_refused() -> None:
    engine = Engine(items_app())
    await seed(engine, [1.0, 2.0, 3.0])
    asc = await read_page(engine, None, 1)
    opts = {"numItems": 1.0, "cursor": asc["continueCursor"]}
    outcome = await engine.query("items:page", {"paginationOpts": opts, "order": "desc"}, None)
    assert not outcome.success
    assert "belongs to another query" in outcome.error_message


@pytest.mark.asyncio
async def test_a_paginated_query_records_its_reads() -> None:
    engine = Engine(items_app())
    opts = {"numItems": 1.0, "cursor": None}
    outcome = await engine.query("items:page", {"paginationOpts": opts}, None)
    assert outcome.reads == frozenset({"items"})
