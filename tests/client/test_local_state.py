"""``LocalState``: which subscriptions share a query (path and args as the key)."""

from __future__ import annotations

import pytest

from syncwire.client import local_state
from syncwire.client.local_state import LocalState
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue
from syncwire.protocol import convex_to_json


def test_args_given_as_json_make_the_same_key_as_args_converted_here() -> None:
    state = LocalState()
    args: dict[str, ConvexValue] = {"n": ConvexInt64(3), "tags": ["a"]}
    first, add = state.subscribe("messages", args)
    second, again = state.subscribe("messages:default", args, convex_to_json(dict(args)))
    assert add is not None
    assert again is None
    assert second is first
    assert first.subscribers == 2
    assert first.udf_path == "messages:default"


def test_the_json_given_is_the_key() -> None:
    state = LocalState()
    a, _ = state.subscribe("m:f", {"x": 1.0, "y": 2.0})
    b, _ = state.subscribe("m:f", {"x": 1.0, "y": 2.0}, convex_to_json({"x": 1.0, "y": 3.0}))
    c, _ = state.subscribe("m:g", {"x": 1.0, "y": 2.0})
    assert len({a.query_id, b.query_id, c.query_id}) == 3


def test_canonical_paths_past_the_remembered_ones_are_still_canonical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_state, "_PATHS_KEPT", 2)
    state = LocalState()
    paths = [state.subscribe(f"mod{i}.js", {})[0].udf_path for i in range(5)]
    assert paths == [f"mod{i}:default" for i in range(5)]
    again, add = state.subscribe("mod4", {})
    assert add is None
    assert again.udf_path == "mod4:default"
    with pytest.raises(TypeError):
        state.subscribe("mod5", {"bad": object()})  # type: ignore[dict-item]
