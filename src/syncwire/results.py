"""Typed results: a function's value converted into the type the caller names.

Every client's ``query``, ``mutation``, ``action``, ``subscribe`` and
``paginate`` take ``result_type=``: dataclasses, ``TypedDict``, msgspec
``Struct``, ``list[...]``, ``dict[str, ...]``, ``Optional``, unions, literals,
``bytes``… The value the untyped call would return is converted with msgspec's
strict rules, so a mismatch fails instead of being coerced: a Convex number
(a float) goes into ``float``, a Convex ``int64`` (``ConvexInt64``) into
``int``, a string never into a number. A mismatch raises ``ResultTypeError``
naming where (``$[3].author``); the caller never gets a half-converted value.
"""

from __future__ import annotations

import re
from typing import Any
from typing import Final
from typing import TypeVar
from typing import overload

import msgspec

from syncwire.errors import ResultTypeError
from syncwire.protocol import ConvexInt64

__all__ = ["ResultTypeError", "check_result_type", "convert_result", "type_name"]

T = TypeVar("T")

_AT_PATH: Final = re.compile(r" - at `(\$[^`]*)`$")
_QUALIFIED: Final = re.compile(r"\b(?:\w+\.)+(\w+)")


def type_name(result_type: object) -> str:
    """How a type is named in messages: ``Message``, ``list[Message]``."""
    if isinstance(result_type, type) and not getattr(result_type, "__args__", None):
        return result_type.__qualname__
    return _QUALIFIED.sub(r"\1", repr(result_type))


def check_result_type(result_type: object) -> None:
    """Raise ``TypeError`` now if values can never be converted into ``result_type``.

    Called before a function runs, so that a typo in a type never costs a
    mutation that commits and then cannot be returned.
    """
    try:
        msgspec.inspect.type_info(result_type)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"result_type {type_name(result_type)} is not a type results can be converted "
            f"into: {exc}"
        ) from None


@overload
def convert_result(value: object, result_type: type[T]) -> T: ...
@overload
def convert_result(value: object, result_type: Any) -> Any: ...
def convert_result(value: object, result_type: Any) -> Any:
    """``value`` (a Convex value, as an untyped call returns it) as ``result_type``.

    Raises ``ResultTypeError`` (a ``ValueError``) naming the first place that
    does not fit.
    """
    try:
        return msgspec.convert(value, result_type, strict=True)
    except msgspec.ValidationError as first:
        error = first
    # An int64 is a ConvexInt64 in a Convex value; msgspec knows only int. Rare,
    # so the copy that turns each into an int is made only after a first failure.
    try:
        plain = msgspec.to_builtins(value, builtin_types=(bytes, bytearray), enc_hook=_int64)
    except TypeError:
        plain = None
    if plain is not None:
        try:
            return msgspec.convert(plain, result_type, strict=True)
        except msgspec.ValidationError as second:
            error = second
    raise _result_type_error(error, result_type) from None


def _int64(value: object) -> object:
    if isinstance(value, ConvexInt64):
        return value.value
    raise TypeError(f"{type(value).__name__} is not a Convex value")


def _result_type_error(error: msgspec.ValidationError, result_type: object) -> ResultTypeError:
    text = str(error)
    match = _AT_PATH.search(text)
    path = match.group(1) if match else "$"
    reason = text[: match.start()] if match else text
    return ResultTypeError(type_name(result_type), path, reason)
