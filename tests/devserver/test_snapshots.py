"""``Engine.query_at``: a read at ``ts`` sees every commit up to it and none after,
whatever the later commits did (insert, patch, replace, delete, several to one document)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from syncwire.devserver import App
from syncwire.devserver import Engine
from syncwire.devserver import MutationCtx
from syncwire.devserver import QueryCtx
from syncwire.devserver.database import SnapshotUnavailableError
from syncwire.protocol import ConvexValue

pytestmark = pytest.mark.asyncio


def notes_app() -> App:
    app = App()

    @app.mutation("notes:add")
    def add(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> str:
        return ctx.db.insert("notes", {"text": args["text"]})

    @app.mutation("notes:patch")
    def patch(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> None:
        ctx.db.patch(str(args["id"]), {"text": args["text"]})

    @app.mutation("notes:replace")
    def replace(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> None:
        ctx.db.replace(str(args["id"]), {"text": args["text"], "replaced": True})

    @app.mutation("notes:delete")
    def delete(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> None:
        ctx.db.delete(str(args["id"]))

    @app.query("notes:all")
    def every(ctx: QueryCtx, _args: Mapping[str, ConvexValue]) -> list[Any]:
        return [{k: v for k, v in d.items() if k != "_creationTime"} for d in ctx.db.query("notes")]

    return app


async def run(engine: Engine, name: str, **args: ConvexValue) -> Any:
    outcome = await engine.mutation(name, args, None)
    assert outcome.success, outcome.error_message
    return outcome.value


async def read(engine: Engine, ts: int | None = None) -> Any:
    if ts is None:
        outcome = await engine.query("notes:all", {}, None)
    else:
        outcome = await engine.query_at(ts, "notes:all", {}, None)
    assert outcome.success, outcome.error_message
    return outcome.value


async def test_each_snapshot_sees_exactly_its_commits() -> None:
    engine = Engine(notes_app())
    a = await run(engine, "notes:add", text="a")
    b = await run(engine, "notes:add", text="b")
    snapshots: list[tuple[int, Any]] = [(engine.ts, await read(engine))]
    for name, args in [
        ("notes:patch", {"id": a, "text": "a2"}),
        ("notes:delete", {"id": b}),
        ("notes:add", {"text": "c"}),
        ("notes:replace", {"id": a, "text": "a3"}),
        ("notes:patch", {"id": a, "text": "a4"}),
    ]:
        await run(engine, name, **args)
        snapshots.append((engine.ts, await read(engine)))
    assert [len(value) for _, value in snapshots] == [2, 2, 1, 2, 2, 2]
    for ts, seen_then in snapshots:
        assert await read(engine, ts) == seen_then, ts
    assert await read(engine, snapshots[0][0]) == [
        {"_id": a, "text": "a"},
        {"_id": b, "text": "b"},
    ]


async def test_a_failed_mutation_leaves_no_trace_in_any_snapshot() -> None:
    engine = Engine(notes_app())
    a = await run(engine, "notes:add", text="a")
    ts = engine.ts
    failed = await engine.mutation("notes:patch", {"id": "no-such-id", "text": "x"}, None)
    assert not failed.success
    assert engine.ts == ts  # nothing committed
    assert await read(engine, ts) == await read(engine) == [{"_id": a, "text": "a"}]


async def test_a_snapshot_outside_the_history_is_refused() -> None:
    engine = Engine(notes_app())
    await run(engine, "notes:add", text="a")
    with pytest.raises(SnapshotUnavailableError):
        await engine.query_at(engine.ts + 1, "notes:all", {}, None)
    with pytest.raises(SnapshotUnavailableError):
        await engine.query_at(0, "notes:all", {}, None)
