"""The function engine without a socket: database, transactions, read sets, log lines."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from syncwire.devserver import App
from syncwire.devserver import Engine
from syncwire.devserver import InvalidTokenError
from syncwire.devserver import MutationCtx
from syncwire.devserver import QueryCtx
from syncwire.devserver import make_hs256_token
from syncwire.devserver import verify_hs256
from syncwire.devserver.example import chat_app
from syncwire.protocol import ConvexValue

Args = Mapping[str, ConvexValue]


def crud(ctx: MutationCtx, args: Args) -> ConvexValue:
    a = ctx.db.insert("items", {"name": "a", "n": 3})
    b = ctx.db.insert("items", {"name": "b", "n": 1})
    c = ctx.db.insert("items", {"name": "c", "n": 2})
    ctx.db.patch(a, {"n": 30})
    ctx.db.replace(b, {"name": "B"})
    ctx.db.delete(c)
    return [a, b]


def listing(ctx: QueryCtx, args: Args) -> ConvexValue:
    query = ctx.db.query("items")
    if "order" in args:
        query = query.order("desc")
    return [str(doc["name"]) for doc in query.collect()]


def by_id(ctx: QueryCtx, args: Args) -> ConvexValue:
    return ctx.db.get(str(args["id"]))


def app_under_test() -> App:
    app = App()
    app.mutation("items:crud", crud)
    app.query("items:list", listing)
    app.query("items:get", by_id)

    @app.mutation("items:half")
    def half(ctx: MutationCtx, args: Args) -> ConvexValue:
        ctx.db.insert("items", {"name": "half"})
        ctx.db.insert("other", {"name": "x"})
        raise RuntimeError("no")

    @app.query("items")  # registered as "items:default"
    async def default(ctx: QueryCtx, args: Args) -> ConvexValue:
        await asyncio.sleep(0)
        return "default"

    return app


@pytest.mark.asyncio
async def test_crud_order_and_system_fields() -> None:
    engine = Engine(app_under_test())
    before = engine.ts
    outcome = await engine.mutation("items:crud", {}, None)
    assert outcome.success, outcome.error_message
    assert outcome.ts is not None
    assert outcome.ts > before
    assert outcome.writes == frozenset({"items"})
    ids: Any = outcome.json_value
    a, b = ids

    listed = await engine.query("items:list", {}, None)
    assert listed.value == ["a", "B"]
    assert listed.reads == frozenset({"items"})
    assert (await engine.query("items:list", {"order": "desc"}, None)).value == ["B", "a"]

    doc: Any = (await engine.query("items:get", {"id": a}, None)).value
    assert doc["n"] == 30
    assert doc["_id"] == a
    assert isinstance(doc["_creationTime"], float)
    replaced: Any = (await engine.query("items:get", {"id": b}, None)).value
    assert "n" not in replaced
    assert replaced["_creationTime"] > doc["_creationTime"]


@pytest.mark.asyncio
async def test_failed_mutation_leaves_no_trace() -> None:
    engine = Engine(app_under_test())
    ts = engine.ts
    outcome = await engine.mutation("items:half", {}, None)
    assert not outcome.success
    assert "Uncaught RuntimeError: no" in outcome.error_message
    assert outcome.ts is None
    assert engine.ts == ts
    assert (await engine.query("items:list", {}, None)).value == []


@pytest.mark.asyncio
async def test_commit_listeners_get_tables_written_and_ts_increase() -> None:
    engine = Engine(chat_app())
    seen: list[tuple[int, frozenset[str]]] = []
    engine.add_listener(lambda ts, tables: seen.append((ts, tables)))
    for body in ("a", "b", "c"):
        assert (await engine.mutation("messages:send", {"body": body}, None)).success
    assert [tables for _, tables in seen] == [frozenset({"messages"})] * 3
    stamps = [ts for ts, _ in seen]
    assert stamps == sorted(set(stamps))


@pytest.mark.asyncio
async def test_names_are_canonicalized_and_kinds_checked() -> None:
    engine = Engine(app_under_test())
    assert (await engine.query("items.js:default", {}, None)).value == "default"
    wrong_kind = await engine.mutation("items:list", {}, None)
    assert not wrong_kind.success
    assert wrong_kind.error_message == (
        "Trying to execute items:list as Mutation, but it is defined as Query."
    )
    app = App()
    app.query("a:b", listing)
    with pytest.raises(ValueError, match="already registered"):
        app.mutation("a:b", crud)


def test_reserved_and_unstorable_fields_are_refused() -> None:
    async def run(fields: dict[str, Any]) -> str:
        app = App()
        app.mutation("t:insert", lambda ctx, args: ctx.db.insert("t", fields))
        return (await Engine(app).mutation("t:insert", {}, None)).error_message

    assert "reserved" in asyncio.run(run({"_secret": 1}))
    assert "Uncaught TypeError" in asyncio.run(run({"x": object()}))


def test_log_quoting_follows_node_inspect() -> None:
    from syncwire.devserver.capture import js_quote

    assert js_quote("plain") == "'plain'"
    assert js_quote("it's") == '"it\'s"'
    assert js_quote("a\nb") == "'a\\nb'"


def test_hs256_round_trip_and_rejections() -> None:
    token = make_hs256_token({"sub": "u", "iss": "i", "exp": 2000.0}, "k")
    assert verify_hs256(token, "k", now=1000.0)["sub"] == "u"
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_hs256(token, "k", now=3000.0)
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_hs256(token, "other", now=1000.0)
    with pytest.raises(InvalidTokenError, match="issuer"):
        verify_hs256(token, "k", now=1000.0, issuer="j")
    with pytest.raises(InvalidTokenError, match="three"):
        verify_hs256("nope", "k")
