"""The codec's rarer paths: large frames decoded with the collector paused, refusals
near the recursion limit, long reasons, and the wire forms ``dec_hook`` reads."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from syncwire.protocol import ClientMessage
from syncwire.protocol import JSONValue
from syncwire.protocol import ProtocolError
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message
from syncwire.protocol.codec import _GC_PAUSE_FROM
from syncwire.protocol.codec import _describe_integer
from syncwire.protocol.messages import WireArgs
from syncwire.protocol.messages import WireU64

# --- large frames: decoded with the cyclic GC paused (docs/benchmarks.md) -------------------


def _large_transition() -> str:
    """A Transition over the pause threshold made of 60,000 small objects (containers)."""
    version = StateVersion(query_set=0, identity=0, ts=1)
    rows: list[JSONValue] = [{"_id": f"{i:012d}", "n": i} for i in range(60_000)]
    update = QueryUpdated(query_id=0, value=rows, log_lines=())
    frame = encode_server_message(
        Transition(start_version=version, end_version=version, modifications=(update,))
    )
    assert len(frame) >= _GC_PAUSE_FROM
    return frame


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every collection that starts, with gen-0 collections made frequent."""
    started: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    thresholds = gc.get_threshold()
    gc.set_threshold(100)
    gc.callbacks.append(record)
    try:
        yield started
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*thresholds)


def test_a_large_frame_is_decoded_with_the_collector_paused(collections: list[int]) -> None:
    frame = _large_transition().encode()
    assert gc.isenabled()
    msgspec.json.decode(frame)  # the same containers, collector running
    unpaused = len(collections)
    collections.clear()
    message = parse_server_message(frame)
    paused = len(collections)
    assert gc.isenabled()  # running again afterwards
    assert isinstance(message, Transition)
    assert unpaused > 100  # a collection per 100 containers
    assert paused <= 1


def test_a_collector_the_caller_disabled_stays_disabled() -> None:
    frame = _large_transition()
    gc.disable()
    try:
        assert isinstance(parse_server_message(frame), Transition)
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- refusals near the recursion limit -------------------------------------------------------


def reason_at(depth: int) -> str:
    """Why a FatalError with a repeated field and ``depth`` nested arrays is refused."""
    pad = "[" * depth + "]" * depth
    with pytest.raises(ProtocolError) as info:
        parse_server_message('{"type":"FatalError","error":5,"error":"x","pad":' + pad + "}")
    return str(info.value).removeprefix("malformed server message: ")


ORDER = ["an object has the same field twice", "not a valid FatalError", "JSON nested too deeply"]


def test_a_repeated_field_is_a_protocol_error_at_every_nesting_depth() -> None:
    """The typed decoder stops at the bad field; explaining it reparses the whole frame.

    Far below the stack limit the reason is the repeated field. Just below it the
    decoder that looks for repeated fields runs out of stack first (it runs a few
    frames deeper), and the reason is the generic one; beyond, no decoder can read
    the frame. Where each starts depends on the interpreter (about 1,000 on 3.11,
    10,000 on 3.13), so each start is found by bisection over 1..40,000.
    """
    assert reason_at(1) == ORDER[0]
    assert reason_at(40_000) == ORDER[2]
    for later in (1, 2):
        low, high = 1, 40_000  # reason_at(low) comes before ORDER[later], high does not
        while high - low > 1:
            middle = (low + high) // 2
            if ORDER.index(reason_at(middle)) >= later:
                high = middle
            else:
                low = middle
        assert reason_at(high) == ORDER[later], (later, high)
        assert high > 900


# --- what a refusal says ------------------------------------------------------------------


def test_a_long_reason_is_cut_at_300_characters() -> None:
    """A reason may quote a path into the arguments: its length is bounded all the same."""
    frame = '{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[{"' + "k" * 400
    frame += '":{"$bad":1}}]}'
    with pytest.raises(ProtocolError) as info:
        parse_client_message(frame)
    text = str(info.value)
    assert text.startswith("malformed client message: Mutation: field name '$bad' at $.kkk")
    assert text.endswith("k…")
    assert len(text) == len("malformed client message: ") + 300 + 1


@pytest.mark.parametrize("parse", [parse_server_message, parse_client_message])
@pytest.mark.parametrize("frame", [None, 5, ["{}"]])
def test_only_text_or_bytes_is_a_frame(parse: Any, frame: object) -> None:
    with pytest.raises(TypeError, match=f"a frame is str or bytes, not {type(frame).__name__}$"):
        parse(frame)


@pytest.mark.parametrize(
    ("low", "high", "words"),
    [
        (-(2**63), 2**63 - 1, "a signed 64-bit integer"),
        (0, 2**63 - 1, "an integer from 0 to 2^63 - 1"),
        (None, None, "an integer"),
        (1, None, "an integer ≥ 1"),
        (None, 9, "an integer ≤ 9"),
        (1, 9, "an integer from 1 to 9"),
    ],
)
def test_integer_ranges_are_described_in_words(
    low: int | None, high: int | None, words: str
) -> None:
    assert _describe_integer(low, high) == words


# --- the wire forms dec_hook reads ------------------------------------------------------


def _custom_types(info: msgspec.inspect.Type) -> Iterator[type]:
    """Every type msgspec hands to ``dec_hook`` within ``info``."""
    if isinstance(info, msgspec.inspect.CustomType):
        yield info.cls
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from _custom_types(member)
    elif isinstance(info, msgspec.inspect.StructType):
        for field in info.fields:
            yield from _custom_types(field.type)
    elif isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.VarTupleType)):
        yield from _custom_types(info.item_type)
    elif isinstance(info, msgspec.inspect.TupleType):
        for item in info.item_types:
            yield from _custom_types(item)


def test_dec_hook_knows_every_wire_form_the_messages_declare() -> None:
    """dec_hook tells only args apart; every other type it is given is a u64."""
    found = {
        *_custom_types(msgspec.inspect.type_info(ServerMessage)),
        *_custom_types(msgspec.inspect.type_info(ClientMessage)),
    }
    assert found == {WireU64, WireArgs}
