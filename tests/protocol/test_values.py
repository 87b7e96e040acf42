"""Convex values and u64 timestamps: the golden examples of docs/protocol.md#u64 and
docs/protocol.md#value-encoding."""

from __future__ import annotations

import array
import collections
import enum
import math
import pickle
import subprocess
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncwire.protocol import COMMIT_TS
from syncwire.protocol import CommitTs
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue
from syncwire.protocol import JSONValue
from syncwire.protocol import ProtocolError
from syncwire.protocol import convex_to_json
from syncwire.protocol import decode_u64
from syncwire.protocol import encode_u64
from syncwire.protocol import json_to_convex
from syncwire.protocol.values import enc_hook
from syncwire.protocol.values import normalize_json
from tests.strategies import convex_values
from tests.strategies import int64s
from tests.strategies import u64s

_encoder = msgspec.json.Encoder(enc_hook=enc_hook)


def wire_text(value: ConvexValue) -> str:
    """The exact text the codec writes for a Convex value."""
    return _encoder.encode(convex_to_json(value)).decode()


# --- u64 (docs/protocol.md#u64) ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "AAAAAAAAAAA="),
        (1, "AQAAAAAAAAA="),
        (255, "/wAAAAAAAAA="),
        (1000, "6AMAAAAAAAA="),
        (2**32, "AAAAAAEAAAA="),
        (1_700_000_000_000_000_000, "AAAqNv6clxc="),
    ],
)
def test_u64_golden(value: int, encoded: str) -> None:
    assert encode_u64(value) == encoded
    assert decode_u64(encoded) == value


@given(u64s)
def test_u64_round_trip_is_always_12_characters(value: int) -> None:
    encoded = encode_u64(value)
    assert len(encoded) == 12
    assert decode_u64(encoded) == value


def test_u64_decoder_accepts_the_url_safe_alphabet() -> None:
    assert decode_u64("__________8=") == decode_u64("//////////8=") == 2**64 - 1
    assert decode_u64("-wAAAAAAAAA=") == decode_u64("+wAAAAAAAAA=")


@pytest.mark.parametrize(
    ("encoded", "complaint"),
    [
        ("AAAAAAAAAA", "not a multiple of 4"),
        ("AAAA", "has 3 bytes, expected 8"),
        ("AAAAAAAAAAAAAAAA", "has 12 bytes, expected 8"),
        ("AAAAAAAA*AA=", "not valid base64"),
        ("AAAAAAAAAA==", "has 7 bytes"),
        (5, "must be a base64 string, got number"),
        (None, "got null"),
    ],
)
def test_u64_decoder_rejects_malformed_input(encoded: object, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        decode_u64(encoded)


@pytest.mark.parametrize("value", [-1, 2**64, 1.0, True, "1"])
def test_u64_encoder_rejects_non_u64(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        encode_u64(value)  # type: ignore[arg-type]


# --- Convex values (docs/protocol.md#value-encoding) ---------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (ConvexInt64(1), '{"$integer":"AQAAAAAAAAA="}'),
        (ConvexInt64(-1), '{"$integer":"//////////8="}'),
        (ConvexInt64(5), '{"$integer":"BQAAAAAAAAA="}'),
        (ConvexInt64(5151996), '{"$integer":"/JxOAAAAAAA="}'),
        (math.nan, '{"$float":"AAAAAAAA+H8="}'),
        (math.inf, '{"$float":"AAAAAAAA8H8="}'),
        (-math.inf, '{"$float":"AAAAAAAA8P8="}'),
        (-0.0, '{"$float":"AAAAAAAAAIA="}'),
        (b"\x01\x02\x03", '{"$bytes":"AQID"}'),
        (COMMIT_TS, '{"$commitTs":null}'),
    ],
)
def test_special_values_golden(value: ConvexValue, wire: str) -> None:
    assert wire_text(value) == wire
    decoded = json_to_convex(msgspec.json.decode(wire))
    if isinstance(value, float) and math.isnan(value):
        assert isinstance(decoded, float)
        assert math.isnan(decoded)
    else:
        assert decoded == value
        assert type(decoded) is type(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (5, "5"),
        (-3.0, "-3"),
        (0.0, "0"),
        (0.1, "0.1"),
        (123.456, "123.456"),
        (1e-5, "0.00001"),
        (1e-7, "1e-7"),
        (1.5e-6, "0.0000015"),
        (1e-6, "0.000001"),
        (-2.5e-4, "-0.00025"),
        (5e-324, "5e-324"),
        (2.0**53, "9007199254740992"),
        (2.0**60, "1152921504606847000"),
        (1e16, "10000000000000000"),
        (1.5e16, "15000000000000000"),
        (1e21, "1e+21"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1e21, "-1e+21"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(value: float, text: str) -> None:
    assert wire_text(value) == text


def test_objects_are_sorted_and_arrays_and_tuples_are_arrays() -> None:
    value: ConvexValue = {"b": 1, "a": [1, (2, 3)], "A": None, " ": True}
    assert wire_text(value) == '{" ":true,"A":null,"a":[1,[2,3]],"b":1}'


def test_python_int_is_a_float64_and_beyond_2_53_needs_the_wrapper() -> None:
    assert convex_to_json(2**53) == 2**53
    assert convex_to_json(-(2**53)) == -(2**53)
    with pytest.raises(ValueError, match=r"ConvexInt64") as info:
        convex_to_json({"big": [2**53 + 1]})
    assert "$.big[0]" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [{1, 2}, object(), {"k": 1j}, [frozenset()], {1: "non-str key"}],
)
def test_unsupported_types_raise_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        convex_to_json(value)


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        ("$reserved", "starts with '\\$'"),
        ("x" * 1025, "longer than 1024"),
        ("tab\there", "ASCII 32–126"),
        ("é", "ASCII 32–126"),
    ],
)
def test_bad_field_names_are_refused_both_ways(key: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        convex_to_json({key: 1})
    with pytest.raises(ProtocolError, match=complaint):
        json_to_convex({"ok": {key: 1}})


def test_longest_field_name_and_dollar_inside_are_fine() -> None:
    key = "x" * 1024
    assert convex_to_json({key: 1, "a$b": 2}) == {key: 1, "a$b": 2}
    assert json_to_convex({key: 1, "a$b": 2}) == {key: 1.0, "a$b": 2.0}


def test_received_numbers_become_float_and_int64_becomes_the_wrapper() -> None:
    decoded = json_to_convex([1, 2.5, {"$integer": "BQAAAAAAAAA="}, True, None, "s"])
    assert decoded == [1.0, 2.5, ConvexInt64(5), True, None, "s"]
    assert isinstance(decoded, list)
    assert [type(v) for v in decoded] == [float, float, ConvexInt64, bool, type(None), str]


@pytest.mark.parametrize(
    ("wire", "complaint"),
    [
        ({"$integer": "AQID"}, "has 3 bytes, expected 8"),
        ({"$integer": 5}, "must be a base64 string"),
        ({"$float": "AAAAAAAA8D8="}, "ordinary number"),  # 1.0 must be a JSON number
        ({"$float": "AAAA"}, "expected 8"),
        ({"$bytes": "A"}, "multiple of 4"),
        ({"$bytes": "****"}, "not valid base64"),
        ({"$commitTs": 1}, "must be null"),
        ({"$set": []}, "no longer Convex types"),
        ({"$map": []}, "no longer Convex types"),
        ({"$other": 1}, "reserved"),
        ({"$integer": "AQAAAAAAAAA=", "x": 1}, "reserved"),
        ([{"deep": [{"$x": 1}]}], r"\$\[0\]\.deep\[0\]"),
    ],
)
def test_malformed_received_values_raise_protocol_error(wire: Any, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        json_to_convex(wire)


def test_protocol_errors_never_quote_the_value() -> None:
    secret = "s3cr3t-payload-text"
    wires: list[Any] = [{"$bytes": secret}, {"$integer": secret + "="}]
    for wire in wires:
        with pytest.raises(ProtocolError) as info:
            json_to_convex(wire)
        assert secret not in str(info.value)


@given(convex_values)
def test_convex_values_round_trip_through_the_wire(value: ConvexValue) -> None:
    text = wire_text(value)
    decoded = json_to_convex(msgspec.json.decode(text))
    # Compare through the wire form: NaN != NaN, and tuples come back as lists.
    assert wire_text(decoded) == text


@given(int64s)
def test_int64_round_trip(n: int) -> None:
    assert json_to_convex(convex_to_json(ConvexInt64(n))) == ConvexInt64(n)


def test_convex_int64_is_a_checked_value_type() -> None:
    assert ConvexInt64(2**63 - 1).value == 2**63 - 1
    assert int(ConvexInt64(-5)) == -5
    assert ConvexInt64(3) == ConvexInt64(3)
    assert ConvexInt64(3) != 3
    assert hash(ConvexInt64(3)) == hash(ConvexInt64(3))
    assert repr(ConvexInt64(7)) == "ConvexInt64(7)"
    with pytest.raises(ValueError, match="64-bit"):
        ConvexInt64(2**63)
    with pytest.raises(TypeError):
        ConvexInt64(True)
    with pytest.raises(TypeError):
        ConvexInt64(1.0)  # type: ignore[arg-type]


def test_commit_ts_is_a_singleton_that_survives_pickle() -> None:
    assert CommitTs() is COMMIT_TS
    assert pickle.loads(pickle.dumps(COMMIT_TS)) is COMMIT_TS  # noqa: S301 - our own bytes
    assert repr(COMMIT_TS) == "COMMIT_TS"


def test_normalize_json_writes_numbers_as_json_stringify_does() -> None:
    assert normalize_json({"z": 2500.0, "a": [1.5, 2.0, -0.0]}) == {"z": 2500, "a": [1.5, 2, 0]}
    normalized = normalize_json({"z": 1, "a": 2})
    assert isinstance(normalized, dict)
    assert list(normalized) == ["z", "a"]  # order kept, unlike Convex objects
    assert normalize_json([math.nan, math.inf, -math.inf]) == [None, None, None]


def test_array_index_keys_come_first_as_in_a_javascript_object() -> None:
    value = {"a": 1, "10": 2, "9": 3, "09": 4, "-1": 5, "4294967294": 6, "4294967295": 7}
    assert wire_text(value) == ('{"9":3,"10":2,"4294967294":6,"-1":5,"09":4,"4294967295":7,"a":1}')


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_survives_the_wire(x: float) -> None:
    back = json_to_convex(msgspec.json.decode(wire_text(x)))
    assert back == x
    assert math.copysign(1.0, back) == math.copysign(1.0, x)


class _Text(str):
    pass


class _Count(enum.IntEnum):
    ONE = 1


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (range(3), [0, 1, 2]),
        (collections.deque(["a", (1, 2)]), ["a", [1, 2]]),
        (_Text("subclass"), "subclass"),
        (_Count.ONE, 1),
        (array.array("B", b"ab"), {"$bytes": "YWI="}),
        ({"nested": range(2)}, {"nested": [0, 1]}),
    ],
)
def test_sequences_and_subclasses_are_taken_as_the_official_package_takes_them(
    value: Any, wire: JSONValue
) -> None:
    assert convex_to_json(value) == wire


def test_a_bad_item_in_any_sequence_is_located() -> None:
    with pytest.raises(TypeError, match=r"^set at \$\.xs\[1\] is not a supported"):
        convex_to_json({"xs": collections.deque([1, {2}])})  # type: ignore[list-item]


def test_the_official_convex_int64_is_an_int64() -> None:
    official = pytest.importorskip("convex")
    assert convex_to_json(official.ConvexInt64(-5)) == convex_to_json(ConvexInt64(-5))
    assert convex_to_json([official.ConvexInt64(2**63 - 1)]) == [
        convex_to_json(ConvexInt64(2**63 - 1))
    ]


def test_the_official_package_is_not_imported_to_check_for_its_int64() -> None:
    code = (
        "import sys; from syncwire import convex_to_json; "
        "convex_to_json({'a': [1, range(2), 'x', ('y',)]}); "
        "sys.exit('convex' in sys.modules)"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
