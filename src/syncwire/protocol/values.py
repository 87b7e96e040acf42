"""Convex values and their JSON wire form (docs/protocol.md#values, docs/protocol.md#u64).

The Python mapping follows the official ``convex`` package on PyPI, so its users
can switch without surprises:

=====================  ===========================  =======================
Python (sending)       wire JSON                    Python (receiving)
=====================  ===========================  =======================
``None``, ``bool``     as is                        as is
``str``                as is                        ``str``
``float``, ``int``     number (float64)             ``float``
NaN, ±inf, ``-0.0``    ``{"$float": …}``            ``float``
``ConvexInt64(n)``     ``{"$integer": …}``          ``ConvexInt64(n)``
``bytes``              ``{"$bytes": …}``            ``bytes``
any sequence but str  array                        ``list``
``dict`` (str keys)    object, keys in JS order     ``dict``
``COMMIT_TS``          ``{"$commitTs": null}``      ``COMMIT_TS``
=====================  ===========================  =======================

A Python ``int`` is a Convex float64, exactly as in JavaScript: one beyond ±2^53
cannot be represented and is refused with a hint to wrap it in ``ConvexInt64``.
Numbers are written the way JavaScript's ``JSON.stringify`` writes them (``1``,
not ``1.0``) and object keys come in the order the official client writes them
(sorted, but "array index" keys such as ``"10"`` first, numerically), so our
bytes equal the official client's.

``convex_to_json`` is for values *you* send: bad input raises ``TypeError`` or
``ValueError``. ``json_to_convex`` is for values a peer sent: bad input raises
``ProtocolError``.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from typing import Final
from typing import TypeAlias
from typing import TypeVar
from typing import Union
from typing import cast

import msgspec

from syncwire.errors import ProtocolError

__all__ = [
    "COMMIT_TS",
    "CommitTs",
    "ConvexInt64",
    "ConvexValue",
    "JSONValue",
    "convex_to_json",
    "decode_u64",
    "encode_u64",
    "function_args",
    "json_to_convex",
    "normalize_json",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""A value as it travels in a JSON frame (what ``json.loads`` would give)."""

ConvexValue: TypeAlias = Union[
    bool,
    int,
    float,
    str,
    bytes,
    "ConvexInt64",
    "CommitTs",
    list["ConvexValue"],
    Sequence["ConvexValue"],  # tuple, range, ...: any sequence but str and bytes
    Mapping[str, "ConvexValue"],
    None,
]
"""A value a Convex function takes or returns, in its Python form.

Objects are typed as ``Mapping`` so that a ``dict[str, int]`` is accepted;
``json_to_convex`` always gives plain ``dict`` and ``list``.
"""

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_U64_MAX: Final = 2**64 - 1
_In = TypeVar("_In")
_Out = TypeVar("_Out")

_MAX_SAFE_INT: Final = 2**53
_MAX_ARRAY_INDEX: Final = 2**32 - 2
_MAX_FIELD_NAME_LEN: Final = 1024
# JS writes integral doubles below 1e21 as plain digits, larger ones as 1e+21.
_JS_EXPONENT_FROM: Final = 1e21
# Below this magnitude msgspec's spelling of a float can differ from JS's
# (JS keeps decimals down to 1e-6); these few go through _js_number_text.
_MSGSPEC_SPELLS_LIKE_JS_FROM: Final = 1e-3


class ConvexInt64:
    """A Convex ``int64``: the only way to send ``{"$integer": …}``.

    Python ``int`` goes out as a float64 (as in JavaScript); wrap it to send a
    64-bit integer. Received ``$integer`` values come back as this type, so a
    value read from a query can be sent again unchanged.
    """

    __slots__ = ("_value",)

    def __init__(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"ConvexInt64 takes an int, not {type(value).__name__}")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{value} does not fit into a 64-bit signed integer")
        self._value = value

    @property
    def value(self) -> int:
        """The integer itself."""
        return self._value

    def __int__(self) -> int:
        return self._value

    def __index__(self) -> int:
        return self._value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ConvexInt64):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((ConvexInt64, self._value))

    def __repr__(self) -> str:
        return f"ConvexInt64({self._value})"


class CommitTs:
    """The placeholder for a mutation's commit timestamp (``{"$commitTs": null}``).

    It has one instance, ``COMMIT_TS``; the server replaces it with the commit
    timestamp when the mutation commits.
    """

    __slots__ = ()
    _instance: CommitTs | None = None

    def __new__(cls) -> CommitTs:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "COMMIT_TS"

    def __reduce__(self) -> str:
        return "COMMIT_TS"


COMMIT_TS: Final = CommitTs()


class _JsSpelledFloat(float):
    """A float whose JavaScript spelling msgspec would not produce.

    msgspec writes ``1e21`` and ``1.5e-6`` where ``JSON.stringify`` writes
    ``1e+21`` and ``0.0000015``; the codec's ``enc_hook`` spells this subclass
    as JS does, so encoded values stay byte-identical to the official client's.
    It compares and hashes as the float it is.
    """

    __slots__ = ()


# --- u64 timestamps (docs/protocol.md#u64) ---------------------------------


def function_args(args: Mapping[str, ConvexValue] | None) -> dict[str, ConvexValue]:
    """A function's arguments as every client takes them: a mapping (``None`` is ``{}``).

    Anything else is a ``TypeError`` now, before the call goes anywhere; the
    values themselves are checked by ``convex_to_json``, which names the bad field.
    """
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise TypeError(f"args must be a dict, not {type(args).__name__}")
    return dict(args)


def encode_u64(value: int) -> str:
    """An unsigned 64-bit integer as 8 little-endian bytes in padded base64."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a u64 must be an int, not {type(value).__name__}")
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"{value} is not an unsigned 64-bit integer")
    return base64.b64encode(value.to_bytes(8, "little")).decode("ascii")


def decode_u64(encoded: object) -> int:
    """Inverse of ``encode_u64``; accepts the URL-safe alphabet too."""
    return int.from_bytes(_b64decode(encoded, "u64", exact_len=8), "little")


def _b64decode(encoded: object, what: str, exact_len: int | None = None) -> bytes:
    if type(encoded) is not str:
        raise ProtocolError(f"{what} must be a base64 string, got {_kind(encoded)}")
    if len(encoded) % 4:
        raise ProtocolError(f"{what} base64 length {len(encoded)} is not a multiple of 4")
    try:
        # strict_mode rejects stray characters and bad padding, in C.
        raw = binascii.a2b_base64(encoded, strict_mode=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        try:  # the URL-safe alphabet is accepted too (docs/protocol.md#u64)
            raw = binascii.a2b_base64(encoded.translate(_URLSAFE_TO_STD), strict_mode=True)
        except ValueError:
            raise ProtocolError(f"{what} is not valid base64") from None
    if exact_len is not None and len(raw) != exact_len:
        raise ProtocolError(f"{what} has {len(raw)} bytes, expected {exact_len}")
    return raw


_URLSAFE_TO_STD: Final = str.maketrans("-_", "+/")


def _kind(value: object) -> str:
    """The JSON kind of a decoded value, for error messages (never the value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --- Python → wire --------------------------------------------------------


def convex_to_json(value: ConvexValue) -> JSONValue:
    """The wire form of a Convex value (the official client's ``convexToJson``).

    Object keys come out sorted; integral floats come out as ``int`` so they are
    written without ``.0``. Raises ``TypeError`` for a type Convex does not have
    and ``ValueError`` for a value out of range or a reserved field name; the
    message names the path (``$.items[2].n``).
    """
    return _walk(_to_json, value, ValueError, "value is nested too deeply for Convex")


def _walk(
    walker: Callable[[_In], _Out], value: _In, too_deep: type[Exception], message: str
) -> _Out:
    """``walker(value)``; its ``_BadValue`` made public, a too deep value ``too_deep(message)``."""
    try:
        return walker(value)
    except _BadValue as bad:
        raise bad.public() from None
    except RecursionError:
        raise too_deep(message) from None


class _BadValue(Exception):
    """Raised inside the walkers, which build no path on the way down.

    Each level adds its segment as the error passes back up, so a valid value
    costs no string formatting at all.
    """

    def __init__(self, error: type[Exception], message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message  # "{path}" marks where the path goes
        self.segments: list[str] = []

    def at(self, segment: str) -> _BadValue:
        self.segments.append(segment)
        return self

    def public(self) -> Exception:
        path = "$" + "".join(reversed(self.segments))
        return self.error(self.message.replace("{path}", path))


def _to_json(value: object) -> JSONValue:
    # Ordered by how common each type is in function arguments.
    if value is None or value is True or value is False or type(value) is str:
        return value
    if type(value) is float:
        return _number_to_json(value)
    if type(value) is int:
        if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            return value
        raise _BadValue(
            ValueError,
            f"int {value} at {{path}} is beyond ±2^53, where Convex float64 loses "
            "precision; wrap it in ConvexInt64 to send a 64-bit integer",
        )
    if type(value) is dict or (
        type(value) is not list and type(value) is not tuple and isinstance(value, Mapping)
    ):
        mapping = cast(Mapping[str, object], value)
        out: dict[str, JSONValue] = {}
        for key in _js_key_order(mapping):
            _check_field_name(key, ValueError)
            try:
                out[key] = _to_json(mapping[key])
            except _BadValue as bad:
                raise bad.at(f".{key}") from None
        return out
    if isinstance(value, list | tuple):
        try:
            return [_to_json(item) for item in value]
        except _BadValue as bad:
            if _locating.active:
                raise
            raise bad.at(f"[{_first_failing(value, _to_json)}]") from None
    int64 = _int64_value(value)
    if int64 is not None:
        return {"$integer": base64.b64encode(struct.pack("<q", int64)).decode()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if value is COMMIT_TS:
        return {"$commitTs": None}
    # Subclasses and look-alikes, taken as the official package takes them.
    if isinstance(value, float):
        return _number_to_json(float(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _to_json(int(value))
    if isinstance(value, str):
        return str(value)
    buffer = _as_buffer(value)
    if buffer is not None:  # array.array and other buffers: bytes
        return {"$bytes": base64.b64encode(buffer).decode("ascii")}
    if isinstance(value, Sequence):  # range and other sequences: an array
        return _to_json(list(value))
    raise _BadValue(
        TypeError,
        f"{type(value).__name__} at {{path}} is not a supported Convex type "
        "(None, bool, int, float, str, bytes, ConvexInt64, a sequence, a mapping)",
    )


def _int64_value(value: object) -> int | None:
    """The integer of a ``ConvexInt64``, ours or the official ``convex`` package's.

    The official package is never imported here: a value of its class exists
    only once the user imported it, and then it is in ``sys.modules``.
    """
    if isinstance(value, ConvexInt64):
        return value.value
    official = getattr(sys.modules.get("convex"), "ConvexInt64", None)
    if isinstance(official, type) and isinstance(value, official):
        inner = getattr(value, "value", None)
        if type(inner) is int and _INT64_MIN <= inner <= _INT64_MAX:
            return inner
    return None


def _as_buffer(value: object) -> memoryview | None:
    try:
        return memoryview(value)  # type: ignore[arg-type]  # any buffer-protocol object
    except TypeError:
        return None


class _Locating(threading.local):
    active = False


_locating = _Locating()
"""Set while ``_first_failing`` re-walks: inner levels then fail fast instead
of locating their own failing child again (which made the error path 2^depth)."""


def _first_failing(items: Iterable[object], walk: Callable[[object], object]) -> int:
    """The index of the first item ``walk`` rejects (only on the error path, so one does)."""
    outer = _locating.active
    _locating.active = True
    try:
        return next(index for index, item in enumerate(items) if _rejects(walk, item))
    finally:
        _locating.active = outer


def _rejects(walk: Callable[[object], object], item: object) -> bool:
    try:
        walk(item)
    except _BadValue:
        return True
    return False


def _js_key_order(mapping: Mapping[str, object]) -> list[str]:
    """Keys in the order ``JSON.stringify(convexToJson(obj))`` writes them.

    convexToJson sorts the keys, but a JS object then lists "array index" keys
    ("0", "7", "10") first, in numeric order, ahead of all others.
    """
    for key in mapping:
        if type(key) is not str:
            raise _BadValue(
                TypeError, f"object key at {{path}} must be str, not {type(key).__name__}"
            )
    keys = sorted(mapping)
    if not any(k[:1].isdigit() for k in keys):
        return keys
    indices = [k for k in keys if _is_array_index(k)]
    indices.sort(key=int)
    return indices + [k for k in keys if not _is_array_index(k)]


def _is_array_index(key: str) -> bool:
    return (
        key.isascii()
        and key.isdigit()
        and (key == "0" or key[0] != "0")
        and int(key) <= _MAX_ARRAY_INDEX
    )


def _number_to_json(x: float) -> JSONValue:
    """A float as a Convex value: specials as ``$float``, others as JS numbers."""
    if math.isnan(x) or math.isinf(x) or _is_negative_zero(x):
        return {"$float": base64.b64encode(struct.pack("<d", x)).decode("ascii")}
    return _js_number(x)


def _js_number(x: float) -> int | float:
    """A finite float as a JSON number that the codec writes as JS would.

    Integral values become ``int`` (``1``, not ``1.0``); the rare magnitudes
    msgspec spells differently become ``_JsSpelledFloat``.
    """
    if x.is_integer():
        if -_MAX_SAFE_INT <= x <= _MAX_SAFE_INT:
            return int(x)
        if abs(x) < _JS_EXPONENT_FROM:
            # JS writes the shortest round-trip digits padded with zeros
            # (2**60 → 1152921504606847000); Decimal(repr) gives exactly those.
            return int(Decimal(repr(x)))
        return _JsSpelledFloat(x)
    if abs(x) < _MSGSPEC_SPELLS_LIKE_JS_FROM:
        return _JsSpelledFloat(x)
    return x


def _js_number_text(x: float) -> str:
    """ECMAScript Number::toString for a finite, non-zero double.

    Python's ``repr`` gives the same shortest round-trip digits; only the
    layout rules differ (ECMA-262 §6.1.6.1.20).
    """
    sign, digit_tuple, exponent = Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = cast(int, exponent) + k  # the decimal point sits after n digits
    text: str
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return "-" + text if sign else text


def normalize_json(value: JSONValue) -> JSONValue:
    """A plain JSON value with its numbers written as ``JSON.stringify`` writes them.

    For payloads that are JSON rather than Convex values (``Event``,
    ``impersonating``): keys keep their order, ``-0.0`` is ``0`` and, as in
    JavaScript, NaN and infinities become ``null``.
    """
    if type(value) is float:
        if math.isnan(value) or math.isinf(value):
            return None
        return _js_number(value) if value else 0
    if isinstance(value, dict):
        return {key: normalize_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize_json(item) for item in value]
    return value


_VALID_FIELD_NAMES: set[str] = set()
"""Field names already checked: documents repeat a few names many times over."""
_MAX_REMEMBERED_FIELD_NAMES: Final = 4096


def _check_field_name(key: str, error: type[Exception]) -> None:
    """Convex field names: ≤ 1024 chars, no leading ``$``, ASCII 32–126 only."""
    if key in _VALID_FIELD_NAMES:
        return
    if len(key) > _MAX_FIELD_NAME_LEN:
        raise _BadValue(
            error, f"field name at {{path}} is longer than {_MAX_FIELD_NAME_LEN} characters"
        )
    if key.startswith("$"):
        raise _BadValue(
            error, f"field name {key[:32]!r} at {{path}} starts with '$', which is reserved"
        )
    if not key.isascii() or not key.isprintable():
        raise _BadValue(
            error,
            "field name at {path} has a character outside ASCII 32–126; "
            "Convex field names can only contain non-control ASCII characters",
        )
    if len(_VALID_FIELD_NAMES) < _MAX_REMEMBERED_FIELD_NAMES:
        _VALID_FIELD_NAMES.add(key)


# --- wire → Python --------------------------------------------------------


def json_to_convex(value: JSONValue) -> ConvexValue:
    """The Python form of a Convex value received as JSON (``jsonToConvex``).

    Numbers become ``float``, ``$integer`` becomes ``ConvexInt64``, ``$bytes``
    becomes ``bytes``. Anything the official client would reject raises
    ``ProtocolError`` naming the path.
    """
    return _walk(_from_json, value, ProtocolError, "value is nested too deeply")


def _from_json(value: object) -> ConvexValue:
    # Exact type checks: faster than isinstance on the hot path, and a bool is
    # not mistaken for an int.
    if type(value) is str or type(value) is float or value is None or type(value) is bool:
        return value
    if type(value) is int:
        return float(value)
    if type(value) is list:
        try:
            return [_from_json(item) for item in value]
        except _BadValue as bad:
            if _locating.active:
                raise
            raise bad.at(f"[{_first_failing(value, _from_json)}]") from None
    if type(value) is dict:
        mapping = cast(dict[str, object], value)
        if len(mapping) == 1:
            ((key, inner),) = mapping.items()
            if key.startswith("$"):
                return _special_from_json(key, inner)
        for key in mapping:
            _check_field_name(key, ProtocolError)
        try:
            return {key: _from_json(inner) for key, inner in mapping.items()}
        except _BadValue as bad:
            if _locating.active:
                raise
            failing = _first_failing(mapping.values(), _from_json)
            raise bad.at(f".{list(mapping)[failing]}") from None
    # Last, so that they cost the common types nothing: values the codec has
    # already converted (``settle_received``), given back as plain containers.
    if type(value) is _SettledList:
        return list(value)
    if type(value) is _SettledDict:
        return dict(value)
    raise _BadValue(ProtocolError, f"{_kind(value)} at {{path}} is not a JSON value")


def _special_from_json(key: str, inner: object) -> ConvexValue:
    try:
        if key == "$integer":
            return ConvexInt64(struct.unpack("<q", _b64decode(inner, key, exact_len=8))[0])
        if key == "$bytes":
            return _b64decode(inner, key)
        if key == "$float":
            number: float = struct.unpack("<d", _b64decode(inner, key, exact_len=8))[0]
            if not (math.isnan(number) or math.isinf(number) or _is_negative_zero(number)):
                raise ProtocolError("$float holds an ordinary number; it must be a JSON number")
            return number
    except ProtocolError as exc:
        raise _BadValue(ProtocolError, f"{exc} (at {{path}})") from None
    if key == "$commitTs":
        if inner is not None:
            raise _BadValue(ProtocolError, "$commitTs at {path} must be null")
        return COMMIT_TS
    if key in ("$set", "$map"):
        raise _BadValue(
            ProtocolError, f"{key} at {{path}}: Sets and Maps are no longer Convex types"
        )
    raise _BadValue(
        ProtocolError, f"field name {key[:32]!r} at {{path}} starts with '$', which is reserved"
    )


class _SettledList(list[JSONValue]):
    """A received array the codec has already turned into its Convex form.

    ``settle_received`` makes it; ``json_to_convex`` gives its items back in a
    plain ``list`` at once, without walking them. It is a ``list`` to everyone
    else (equal to the JSON array it came from).
    """

    __slots__ = ()


class _SettledDict(dict[str, JSONValue]):
    """A received object the codec has already turned into its Convex form (as ``_SettledList``)."""

    __slots__ = ()


def settle_received(value: JSONValue) -> JSONValue | None:
    """``value`` turned into its Convex form in place, marked so; None if it is no plain one.

    For the codec, on a value it has just decoded from a large frame, which
    nothing else holds yet: numbers become ``float`` where they are, and every
    field name is checked by the rules ``json_to_convex`` applies; no second
    copy of the value is built. The outer array or object comes back as a
    ``_SettledList`` or ``_SettledDict``, which ``json_to_convex`` hands back
    without a walk. A scalar comes back as it is (``json_to_convex`` of one
    costs nothing).

    The caller makes sure no special value (``{"$integer": …}``) is expected
    in ``value``; one found all the same, a field name Convex refuses, or a
    value too deep gives None, and ``value`` may then be half converted: the
    caller decodes its frame again and leaves the value to ``json_to_convex``,
    which raises the very error it always raised, when the value is read.
    """
    try:
        if type(value) is list:
            _settle_list(value)
            return _SettledList(value)
        if type(value) is dict:
            _settle_dict(value)
            return _SettledDict(value)
    except (_BadValue, RecursionError, OverflowError):
        return None
    return value


def was_settled(value: object) -> bool:
    """Whether ``value`` came from ``settle_received`` (the codec writes it back as JSON)."""
    return type(value) is _SettledList or type(value) is _SettledDict


def _settle_list(items: list[Any]) -> None:
    # No cast() in these two: a call per item would cost as much as the rest.
    for index, item in enumerate(items):
        kind = type(item)
        if kind is int:
            items[index] = float(item)
        elif kind is dict:
            _settle_dict(item)
        elif kind is list:
            _settle_list(item)


def _settle_dict(mapping: dict[str, Any]) -> None:
    if not _VALID_FIELD_NAMES.issuperset(mapping):
        for key in mapping:
            _check_field_name(key, ProtocolError)  # a special value's $-key fails here too
    for key, item in mapping.items():
        kind = type(item)
        if kind is int:
            mapping[key] = float(item)  # the size stays: iterating goes on
        elif kind is dict:
            _settle_dict(item)
        elif kind is list:
            _settle_list(item)


def _is_negative_zero(x: float) -> bool:
    return x == 0.0 and math.copysign(1.0, x) < 0


def enc_hook(obj: object) -> object:
    """msgspec ``enc_hook`` for the codec: floats spelled as JavaScript does."""
    if isinstance(obj, _JsSpelledFloat):
        return msgspec.Raw(_js_number_text(obj).encode("ascii"))
    raise TypeError(f"{type(obj).__name__} is not a JSON value")
