"""Values in large frames, which the codec converts to their Convex form as it decodes them.

Whatever path a value takes, ``json_to_convex`` of it gives what it gives for the
same value in a small frame: the same Python value, or the same ``ProtocolError``
(raised when the value is read, never by the parse).
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

import pytest

from syncwire.protocol import ActionResponse
from syncwire.protocol import ConvexInt64
from syncwire.protocol import MutationResponse
from syncwire.protocol import ProtocolError
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_server_message
from syncwire.protocol.codec import _GC_PAUSE_FROM
from syncwire.protocol.values import was_settled

_TS = '"AQAAAAAAAAA="'
_VERSION = '{"querySet":1,"identity":0,"ts":' + _TS + "}"
_ROWS = ",".join(
    f'{{"_id":"{i:010d}","n":{i},"f":{i}.5,"ok":true,"tags":["a",null]}}' for i in range(20_000)
)
"""About 1.1 MB of documents: every frame below is a large one."""


def _transition(value: str, *, more: str = "") -> str:
    """A Transition whose QueryUpdated holds ``value`` (JSON text) beside the padding rows."""
    frame = (
        f'{{"type":"Transition","startVersion":{_VERSION},"endVersion":{_VERSION},'
        f'"modifications":[{{"type":"QueryUpdated","queryId":0,'
        f'"value":{{"rows":[{_ROWS}],"x":{value}}},"logLines":[],"journal":null}}{more}]}}'
    )
    assert len(frame) >= _GC_PAUSE_FROM
    return frame


def _value(frame: str | bytes) -> Any:
    message = parse_server_message(frame)
    assert isinstance(message, Transition)
    update = message.modifications[0]
    assert isinstance(update, QueryUpdated)
    return update.value


def _expected(frame: str) -> Any:
    """``json_to_convex`` of the frame's value decoded as plain JSON (as a small frame's)."""
    return json_to_convex(json.loads(frame)["modifications"][0]["value"])


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_plain_value_is_converted_as_it_is_decoded(as_bytes: bool) -> None:
    text = _transition('{"deep":[[1,{"k":[2]}]],"s":"it costs 5$"}')
    value = _value(text.encode() if as_bytes else text)
    assert was_settled(value)
    assert type(value["rows"][7]["n"]) is float  # converted where it lies
    assert value == json.loads(text)["modifications"][0]["value"]  # equal to the JSON
    converted: Any = json_to_convex(value)
    assert type(converted) is dict  # handed back as a plain container
    assert converted == _expected(text)
    assert type(converted["x"]["deep"][0][1]["k"][0]) is float
    assert json_to_convex([value]) == [converted]  # nested in a value, too


def test_a_settled_value_is_written_back_as_it_came() -> None:
    text = _transition("[1, 2.5, -0.0]").replace("1, 2.5, -0.0", "1,2.5,0")
    message = parse_server_message(text)
    assert was_settled(message.modifications[0].value)  # type: ignore[union-attr]
    assert encode_server_message(message) == text  # integers as integers
    assert parse_server_message(encode_server_message(message)) == message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('{"$integer":"AQAAAAAAAAA="}', None),  # a special value: the full walk
        ('{"a":"$notspecial"}', None),  # a string starting with $ also takes it
        ('{"\\u0024integer":"AQAAAAAAAAA="}', None),  # an escaped $ passes the scan
        ('{"$bytes":5}', r"^\$bytes must be a base64 string, got number \(at \$\.x\)$"),
        ('{"\\u0024set":[]}', r"^\$set at \$\.x: Sets and Maps are no longer Convex types$"),
        ('{"a":{"b":1,"\\u0024c":2}}', r"^field name '\$c' at \$\.x\.a starts with '\$'"),
        ('{"caf\\u00e9":1}', r"^field name at \$\.x has a character outside ASCII 32–126"),
        ('[{"' + "k" * 1025 + '":1}]', r"^field name at \$\.x\[0\] is longer than 1024"),
    ],
)
def test_a_value_the_codec_does_not_convert_is_converted_or_refused_when_read(
    value: str, reason: str | None
) -> None:
    text = _transition(value)
    wire = _value(text)
    assert not was_settled(wire)
    assert wire == json.loads(text)["modifications"][0]["value"]
    assert type(wire["rows"][7]["n"]) is int  # the JSON form, untouched
    if reason is None:
        assert json_to_convex(wire) == _expected(text)
        return
    with pytest.raises(ProtocolError, match=reason):
        json_to_convex(wire)
    with pytest.raises(ProtocolError, match=reason):  # the same words as for a small frame
        json_to_convex({"x": json.loads(value)})


def test_the_special_values_of_a_large_frame_are_converted_when_read() -> None:
    value = _value(_transition('{"$integer":"AQAAAAAAAAA="}'))
    converted: Any = json_to_convex(value)
    assert converted["x"] == ConvexInt64(1)


def test_an_integer_no_float_can_hold_is_left_to_json_to_convex() -> None:
    huge = "9" * 400
    wire = _value(_transition(huge))
    assert not was_settled(wire)
    assert wire["x"] == int(huge)
    with pytest.raises(OverflowError):  # as json_to_convex always did
        json_to_convex(wire)


def test_a_value_nested_beyond_the_stack_is_left_to_json_to_convex() -> None:
    """Deeper than Python's recursion limit: 3.11's decoder refuses the frame, as it
    always did; later ones read it (their C stack is deeper), and then the conversion
    walk, which recurses in Python, leaves the value to ``json_to_convex``."""
    text = _transition("[" * 5_000 + "1" + "]" * 5_000)
    decoder_in_python_stack = sys.version_info < (3, 12)  # a variable: checked on every version
    if decoder_in_python_stack:
        with pytest.raises(
            ProtocolError, match=r"^malformed server message: JSON nested too deeply$"
        ):
            _value(text)
        return
    wire = _value(text)
    assert not was_settled(wire)
    with pytest.raises(ProtocolError, match=r"^value is nested too deeply$"):
        json_to_convex(wire)


def test_every_update_of_a_transition_is_converted_and_the_others_kept() -> None:
    failed = ',{"type":"QueryFailed","queryId":1,"errorMessage":"e","logLines":[],"journal":null}'
    removed = ',{"type":"QueryRemoved","queryId":2}'
    again = ',{"type":"QueryUpdated","queryId":3,"value":7,"logLines":[],"journal":null}'
    message = parse_server_message(_transition("1", more=failed + removed + again))
    assert isinstance(message, Transition)
    first, second, third, fourth = message.modifications
    assert isinstance(first, QueryUpdated)
    assert was_settled(first.value)
    assert isinstance(second, QueryFailed)
    assert isinstance(third, QueryRemoved)
    assert isinstance(fourth, QueryUpdated)
    assert fourth.value == 7  # a scalar stays as it is
    assert json_to_convex(fourth.value) == 7.0


@pytest.mark.parametrize("kind", ["MutationResponse", "ActionResponse"])
def test_a_large_function_result_is_converted_too(kind: str) -> None:
    ts = ',"ts":' + _TS if kind == "MutationResponse" else ""
    text = f'{{"type":"{kind}","requestId":0,"success":true,"result":[{_ROWS}]{ts},"logLines":[]}}'
    message = parse_server_message(text)
    assert isinstance(message, MutationResponse | ActionResponse)
    assert was_settled(message.result)
    assert json_to_convex(message.result) == json_to_convex(json.loads(text)["result"])
    assert type(json_to_convex(message.result)) is list
    assert encode_server_message(message) == text


@pytest.mark.parametrize("kind", ["MutationResponse", "ActionResponse"])
def test_a_large_failure_or_a_result_with_a_bad_name_is_kept_as_it_came(kind: str) -> None:
    ts = ',"ts":null' if kind == "MutationResponse" else ""
    error = "e" * _GC_PAUSE_FROM
    failure = (
        f'{{"type":"{kind}","requestId":0,"success":false,"result":"{error}","logLines":[]{ts}}}'
    )
    message = parse_server_message(failure)
    assert isinstance(message, MutationResponse | ActionResponse)
    assert message.result == error
    ts = ',"ts":' + _TS if kind == "MutationResponse" else ""
    result = f'[{_ROWS},{{"\\u0024a":1}}]'
    bad = f'{{"type":"{kind}","requestId":0,"success":true,"result":{result},"logLines":[]{ts}}}'
    message = parse_server_message(bad)
    assert isinstance(message, MutationResponse | ActionResponse)
    assert not was_settled(message.result)
    with pytest.raises(ProtocolError, match=r"^field name '\$a' at \$\[20000\]"):
        json_to_convex(message.result)


def test_a_frame_in_another_buffer_is_decoded_as_it_came() -> None:
    text = _transition("1")
    value = _value(memoryview(text.encode()))  # type: ignore[arg-type]
    assert not was_settled(value)
    assert json_to_convex(value) == _expected(text)


def test_the_conversion_runs_with_the_collector_paused() -> None:
    collections: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    thresholds = gc.get_threshold()
    gc.set_threshold(100)
    gc.callbacks.append(record)
    try:
        assert was_settled(_value(_transition("1")))
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*thresholds)
    assert len(collections) <= 1
