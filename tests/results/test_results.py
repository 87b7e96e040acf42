"""``syncwire.results``: the value converted into the caller's type, or an error naming where."""

from __future__ import annotations

import dataclasses
from typing import Any
from typing import Literal
from typing import Optional
from typing import TypedDict

import msgspec
import pytest

from syncwire.errors import ResultTypeError
from syncwire.protocol import ConvexInt64
from syncwire.results import check_result_type
from syncwire.results import convert_result
from syncwire.results import type_name


class Message(msgspec.Struct):
    author: str
    body: str
    likes: float = 0.0


@dataclasses.dataclass
class MessageData:
    author: str
    body: str


class MessageDict(TypedDict):
    author: str
    body: str


class Counted(TypedDict):
    n: int


def messages(count: int) -> list[dict[str, Any]]:
    return [{"author": f"user{i}", "body": f"text {i}", "likes": float(i)} for i in range(count)]


@pytest.mark.parametrize("target", [Message, MessageData, MessageDict])
def test_each_kind_of_record_type(target: Any) -> None:
    converted = convert_result(messages(3), list[target])
    assert len(converted) == 3
    first = converted[0]
    author = first["author"] if isinstance(first, dict) else first.author
    assert author == "user0"
    if target is not MessageDict:
        assert isinstance(first, target)


def test_the_path_of_the_first_mismatch_is_named() -> None:
    value = messages(5)
    value[3]["author"] = 42.0
    with pytest.raises(ResultTypeError) as caught:
        convert_result(value, list[Message])
    assert caught.value.path == "$[3].author"
    assert caught.value.result_type == "list[Message]"
    assert isinstance(caught.value, ValueError)
    assert "42" not in str(caught.value)  # no part of the value in the text


def test_a_missing_field_is_a_mismatch_not_a_half_value() -> None:
    value = messages(2)
    del value[1]["body"]
    with pytest.raises(ResultTypeError) as caught:
        convert_result(value, list[Message])
    assert caught.value.path == "$[1]"


def test_int64_converts_into_int_and_a_float_never_does() -> None:
    assert convert_result({"n": ConvexInt64(2**40)}, dict[str, int]) == {"n": 2**40}
    assert convert_result([ConvexInt64(-1), 2.5], list[int | float]) == [-1, 2.5]
    with pytest.raises(ResultTypeError) as caught:
        convert_result({"n": 3.0}, Counted)
    assert caught.value.path == "$.n"


def test_strings_never_become_numbers() -> None:
    with pytest.raises(ResultTypeError):
        convert_result(["3"], list[float])


def test_optional_literal_bytes_and_nesting() -> None:
    assert convert_result(None, Optional[Message]) is None  # noqa: UP045 - the spelling users write
    assert convert_result("asc", Literal["asc", "desc"]) == "asc"
    assert convert_result(b"\x00\x01", bytes) == b"\x00\x01"
    nested = convert_result({"inbox": messages(1)}, dict[str, list[Message]])
    assert nested["inbox"][0].author == "user0"


def test_any_keeps_the_convex_value() -> None:
    value = {"n": ConvexInt64(5), "raw": b"x"}
    assert convert_result(value, dict[str, Any]) == value


@pytest.mark.parametrize("bad", [3, "list[Message]", object(), list[object()]])  # type: ignore[misc]
def test_a_type_that_can_never_fit_is_refused_at_once(bad: Any) -> None:
    with pytest.raises(TypeError, match="result_type"):
        check_result_type(bad)


def test_type_names_are_short() -> None:
    assert type_name(Message) == "Message"
    assert type_name(list[Message]) == "list[Message]"
    assert type_name(Optional[dict[str, Message]]) == "Optional[dict[str, Message]]"  # noqa: UP045
