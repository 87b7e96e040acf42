"""Convex values at the edges: what is refused and how it is named, deep values, float
spellings only JavaScript's rules decide, and the bound on the field-name cache."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncwire.protocol import ConvexInt64
from syncwire.protocol import Event
from syncwire.protocol import ProtocolError
from syncwire.protocol import convex_to_json
from syncwire.protocol import decode_u64
from syncwire.protocol import encode_client_message
from syncwire.protocol import json_to_convex
from syncwire.protocol import values as values_module
from syncwire.protocol.values import _js_number_text


def test_a_convex_int64_is_an_int() -> None:
    assert int(ConvexInt64(-5)) == -5
    assert [10, 20, 30][ConvexInt64(1)] == 20


@pytest.mark.parametrize(
    ("encoded", "kind"),
    [(None, "null"), (True, "bool"), (5, "number"), (1.5, "number"), ([], "array"), ({}, "object")],
)
def test_a_u64_that_is_not_text_is_refused_by_its_json_kind(encoded: object, kind: str) -> None:
    with pytest.raises(ProtocolError, match=f"^u64 must be a base64 string, got {kind}$"):
        decode_u64(encoded)


class _Text(str):
    pass


class _Number(float):
    pass


class _Items(list[Any]):
    pass


class _Fields(dict[str, Any]):
    pass


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ((1, 2), "tuple"),
        ({1.0}, "set"),
        (b"raw", "bytes"),
        (_Text("x"), "string"),
        (_Number(1.0), "number"),
        (_Items([1.0]), "array"),
        (_Fields(a=1.0), "object"),
    ],
)
def test_a_received_value_a_json_decoder_never_makes_is_refused(value: Any, kind: str) -> None:
    """``json_to_convex`` takes what a JSON decoder gives: exact types only."""
    with pytest.raises(ProtocolError, match=rf"^{kind} at \$\.a\[1\] is not a JSON value$"):
        json_to_convex({"a": [0.0, value]})


def test_a_value_nested_beyond_the_recursion_limit_is_refused() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match=r"^value is nested too deeply for Convex$"):
        convex_to_json(deep)


def test_a_bad_item_in_nested_arrays_is_located_level_by_level() -> None:
    with pytest.raises(TypeError, match=r"^object at \$\[1\]\[0\]\[2\] is not a supported"):
        convex_to_json([[1], [[1, 2, object()]]])  # type: ignore[list-item]


def test_a_float_subclass_is_sent_as_the_float_it_is() -> None:
    sent = convex_to_json({"a": _Number(2.5), "b": _Number(3.0), "c": _Number(-0.0)})
    assert sent == {"a": 2.5, "b": 3, "c": {"$float": "AAAAAAAAAIA="}}
    assert isinstance(sent, dict)
    assert type(sent["a"]) is float


@pytest.mark.parametrize("inner", [2**63, -(2**63) - 1, 1.5, "5"])
def test_an_official_convex_int64_holding_no_int64_is_refused(inner: object) -> None:
    """Its ``value`` is a plain attribute: one changed after construction is not sent."""
    official = pytest.importorskip("convex")
    value = official.ConvexInt64(5)
    value.value = inner
    with pytest.raises(TypeError, match=r"^ConvexInt64 at \$ is not a supported Convex type"):
        convex_to_json(value)


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (1e21, "1e+21"),  # exponent form from 1e21 on
        (123e20, "1.23e+22"),
        (1e20, "100000000000000000000"),  # integral: digits padded with zeros
        (123.456, "123.456"),  # the decimal point inside the digits
        (0.5, "0.5"),  # and before them, from 1e-6 on
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (-2.5e-7, "-2.5e-7"),
    ],
)
def test_floats_are_spelled_by_ecmascript_number_to_string(x: float, text: str) -> None:
    assert _js_number_text(x) == text


@given(st.floats(allow_nan=False, allow_infinity=False).filter(bool))
def test_an_ecmascript_spelling_reads_back_as_the_same_float(x: float) -> None:
    assert float(_js_number_text(x)) == x


def test_a_non_json_value_in_an_event_is_refused_when_encoded() -> None:
    event = Event(event_type="ClientConnect", event={"at": object()})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"^object is not a JSON value$"):
        encode_client_message(event)


def test_the_cache_of_valid_field_names_is_bounded() -> None:
    """Documents repeat a few names; a flood of new ones must not grow memory."""
    limit = values_module._MAX_REMEMBERED_FIELD_NAMES
    convex_to_json({f"field{i}": 0.0 for i in range(limit + 100)})
    assert len(values_module._VALID_FIELD_NAMES) == limit
    assert json_to_convex({"never-seen-before": 1}) == {"never-seen-before": 1.0}
    assert "never-seen-before" not in values_module._VALID_FIELD_NAMES


def test_function_args_is_a_fresh_dict_of_a_mapping_and_refuses_anything_else() -> None:
    from types import MappingProxyType

    from syncwire.protocol import function_args

    assert function_args(None) == {}
    given = {"n": 1.0}
    taken = function_args(MappingProxyType(given))
    assert taken == given
    assert type(taken) is dict
    assert function_args(given) is not given  # the caller's dict is never the client's
    with pytest.raises(TypeError, match="args must be a dict, not list"):
        function_args([1])  # type: ignore[arg-type]
