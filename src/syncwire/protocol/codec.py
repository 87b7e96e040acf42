"""Frames ↔ messages, in both directions (docs/protocol.md#transport).

``encode_client_message`` / ``parse_server_message`` are the client's direction;
``parse_client_message`` / ``encode_server_message`` are the server's, for the
dev server and for tests. Parsing validates every field on the way in (typed
msgspec decoding, done in C) and raises only ``ProtocolError``.
"""

from __future__ import annotations

import decimal
import functools
import gc
import json
import types
from collections.abc import Mapping
from typing import Annotated
from typing import Any
from typing import AnyStr
from typing import Final
from typing import Literal
from typing import Union
from typing import cast
from typing import get_args
from typing import get_origin

import msgspec
from msgspec import UNSET
from msgspec import UnsetType

from syncwire.errors import ProtocolError
from syncwire.protocol.messages import Action
from syncwire.protocol.messages import ActionResponse
from syncwire.protocol.messages import Authenticate
from syncwire.protocol.messages import AuthError
from syncwire.protocol.messages import ClientMessage
from syncwire.protocol.messages import Connect
from syncwire.protocol.messages import Event
from syncwire.protocol.messages import ModifyQuerySet
from syncwire.protocol.messages import Mutation
from syncwire.protocol.messages import MutationResponse
from syncwire.protocol.messages import QueryAdd
from syncwire.protocol.messages import QueryUpdated
from syncwire.protocol.messages import ServerMessage
from syncwire.protocol.messages import StateModification
from syncwire.protocol.messages import StateVersion
from syncwire.protocol.messages import Transition
from syncwire.protocol.messages import WireArgs
from syncwire.protocol.messages import WireU64
from syncwire.protocol.messages import args_from_wire
from syncwire.protocol.messages import dec_hook
from syncwire.protocol.messages import server_dec_hook
from syncwire.protocol.values import JSONValue
from syncwire.protocol.values import convex_to_json
from syncwire.protocol.values import decode_u64
from syncwire.protocol.values import enc_hook
from syncwire.protocol.values import encode_u64
from syncwire.protocol.values import normalize_json
from syncwire.protocol.values import settle_received
from syncwire.protocol.values import was_settled

__all__ = [
    "encode_client_message",
    "encode_server_message",
    "parse_client_message",
    "parse_server_message",
]

_MAX_ERROR_LEN: Final = 300
_GC_PAUSE_FROM: Final = 1_000_000
"""Frames at least this long (characters or bytes) are decoded with the GC paused."""


_SERVER_DECODER: Final[msgspec.json.Decoder[ServerMessage]] = msgspec.json.Decoder(
    ServerMessage, dec_hook=server_dec_hook
)
_CLIENT_DECODER: Final[msgspec.json.Decoder[ClientMessage]] = msgspec.json.Decoder(
    ClientMessage, dec_hook=dec_hook
)
_ENCODER: Final = msgspec.json.Encoder(enc_hook=enc_hook)


# What msgspec raises for bad input: its own errors (a rule of ours broken in
# __post_init__ among them), UnicodeDecodeError for invalid UTF-8 (older
# msgspec), RecursionError for JSON nested ~1000 deep. The text of these is
# never used: _explain works out what is wrong on its own.
_DECODE_ERRORS: Final = (
    msgspec.MsgspecError,
    UnicodeDecodeError,
    UnicodeEncodeError,  # text holding a lone surrogate
    RecursionError,
)


def _message_types(union: object) -> dict[str, type[msgspec.Struct]]:
    """``type`` tag → class, for the members of a tagged union of messages."""
    return {cls.__struct_config__.tag: cls for cls in get_args(union)}


_SERVER_TYPES: Final = _message_types(ServerMessage)
_CLIENT_TYPES: Final = _message_types(ClientMessage)


def _protocol_error(
    what: str, data: str | bytes, types: Mapping[str, type], error: BaseException
) -> ProtocolError:
    # The class of the decoder's error is used, never its text.
    reason = (
        "JSON nested too deeply" if isinstance(error, RecursionError) else _explain(data, types)
    )
    if len(reason) > _MAX_ERROR_LEN:
        reason = reason[:_MAX_ERROR_LEN] + "…"
    return ProtocolError(f"malformed {what}: {reason}")


def _not_a_frame(data: object) -> TypeError:
    # Only the argument's type makes len() or the decoder raise TypeError: msgspec
    # reports a TypeError of dec_hook or __post_init__ as a ValidationError.
    return TypeError(f"a frame is str or bytes, not {type(data).__name__}")


def parse_server_message(data: str | bytes) -> ServerMessage:
    """Decode and validate one frame from the server.

    Pass ``bytes`` when the transport has them: it skips a UTF-8 round trip.
    Raises ``ProtocolError`` for anything that is not a valid server message.
    """
    try:
        if len(data) < _GC_PAUSE_FROM:
            return _SERVER_DECODER.decode(data)
        return _decode_without_gc(data)
    except _DECODE_ERRORS as exc:
        raise _protocol_error("server message", data, _SERVER_TYPES, exc) from None
    except TypeError:
        raise _not_a_frame(data) from None


def _decode_without_gc(data: str | bytes) -> ServerMessage:
    """Decode a large frame with the cyclic garbage collector paused.

    A 20 MB Transition creates ~140,000 containers, which trigger dozens of
    collections mid-decode, two of them full: half the decode time on Python
    3.11 (docs/benchmarks.md). Nothing a decode creates can be garbage yet, so
    the pause loses nothing; the collector runs again as usual afterwards.

    Its values are converted to their Convex form here too, still without the
    collector (``_settle_values``).
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        message = _SERVER_DECODER.decode(data)
        if type(message) in _SETTLED_TYPES and not _may_hold_special_values(data):
            return _settle_values(message, data)
        return message
    finally:
        if paused:
            gc.enable()


_SETTLED_TYPES: Final = (Transition, MutationResponse, ActionResponse)
"""The messages whose values the client converts with ``json_to_convex``."""


def _settle_values(message: ServerMessage, data: str | bytes) -> ServerMessage:
    """``message`` with its values (query results, function results) in Convex form.

    In a large frame a value is converted where it lies, as it is decoded
    (``settle_received``): the walk that ``json_to_convex`` would make later
    builds a second copy of the whole value and costs several times the decode
    itself. ``json_to_convex`` then hands a settled value back at once. A
    settled value equals its JSON form, its numbers being ``float``;
    ``encode_server_message`` writes it back as JSON (integral numbers as
    integers, as the server wrote them). A value ``settle_received`` refuses
    is left as it came, for ``json_to_convex`` to refuse when it is read.
    """
    if isinstance(message, Transition):
        modifications: list[StateModification] = []
        for modification in message.modifications:
            if isinstance(modification, QueryUpdated):
                value = settle_received(modification.value)
                if value is None:
                    return _SERVER_DECODER.decode(data)  # the values as they came
                modification = msgspec.structs.replace(modification, value=value)
            modifications.append(modification)
        return msgspec.structs.replace(message, modifications=tuple(modifications))
    response = cast(MutationResponse | ActionResponse, message)
    if not response.success:  # the error message: a string
        return message
    result = settle_received(response.result)
    if result is None:
        return _SERVER_DECODER.decode(data)
    return msgspec.structs.replace(response, result=result)


def _may_hold_special_values(data: str | bytes) -> bool:
    """Whether a field name in ``data`` may start with ``$``: a ``"$`` anywhere.

    Special values (``{"$integer": …}``) need ``json_to_convex``'s full walk.
    ``$`` is rare in a frame and found with ``memchr``; each one found is
    checked for a quote before it. A string that starts with ``$`` counts too,
    and so does anything that is not ``str`` or ``bytes`` (a ``memoryview``):
    the frame then takes the full walk, which is always right. A name whose
    ``$`` is escaped (``"\\u0024"``) escapes this scan, not ``settle_received``.
    """
    if type(data) is bytes:
        return _quoted_dollar(data, b"$", b'"')
    if type(data) is str:
        return _quoted_dollar(data, "$", '"')
    return True


def _quoted_dollar(data: AnyStr, dollar: AnyStr, quote: AnyStr) -> bool:
    at = data.find(dollar)
    while at != -1:
        if data[at - 1 : at] == quote:
            return True
        at = data.find(dollar, at + 1)
    return False


def parse_client_message(data: str | bytes) -> ClientMessage:
    """Decode and validate one frame from a client (the server's direction)."""
    try:
        return _CLIENT_DECODER.decode(data)
    except _DECODE_ERRORS as exc:
        raise _protocol_error("client message", data, _CLIENT_TYPES, exc) from None
    except TypeError:
        raise _not_a_frame(data) from None


def encode_client_message(message: ClientMessage) -> str:
    """The JSON text of one client message, as the official client writes it.

    Arguments are converted with ``convex_to_json``; a value Convex cannot
    represent raises ``TypeError``/``ValueError`` naming its path.
    """
    return _ENCODER.encode(_client_to_wire(message)).decode("utf-8")


def encode_server_message(message: ServerMessage) -> str:
    """The JSON text of one server message (for the dev server and tests)."""
    return _ENCODER.encode(_server_to_wire(message)).decode("utf-8")


_WireLayout = tuple[dict[str, object], tuple[tuple[str, str, object], ...], bool]


@functools.cache
def _wire_layout(cls: type[msgspec.Struct]) -> _WireLayout:
    """What msgspec writes for ``cls``: its tag, each field's wire name and default, and
    whether fields at their default are left out."""
    config = cls.__struct_config__
    head: dict[str, object] = {} if config.tag_field is None else {config.tag_field: config.tag}
    fields = tuple((f.name, f.encode_name, f.default) for f in msgspec.structs.fields(cls))
    return head, fields, config.omit_defaults


def _wire_dict(message: msgspec.Struct, **wire: object) -> dict[str, object]:
    """``message`` as msgspec writes it, with the wire form of the fields in ``wire``.

    A plain dict in msgspec's order (the tag, then the fields as declared, ``UNSET``
    and, under ``omit_defaults``, defaults left out), so the JSON text is the one the
    message itself would give; no message ever holds a value its field does not declare.
    """
    head, fields, omit_defaults = _wire_layout(type(message))
    out = dict(head)
    for name, key, default in fields:
        value = wire[name] if name in wire else getattr(message, name)
        if value is UNSET or (omit_defaults and value is default):
            continue
        out[key] = value
    return out


_IntegerField = tuple[str, "float | None", "float | None"]
"""An integer field's name and its bounds (``ge``, ``le``), when the class gives them."""


def _integer_fields(cls: type[msgspec.Struct]) -> tuple[_IntegerField, ...]:
    found = _INTEGER_FIELDS.get(cls)
    if found is None:
        found = _INTEGER_FIELDS[cls] = tuple(
            (f.name, *bounds)
            for f in msgspec.structs.fields(cls)
            if (bounds := _integer_bounds(f.type)) is not None
        )
    return found


_INTEGER_FIELDS: dict[type[msgspec.Struct], tuple[_IntegerField, ...]] = {}


def _integer_bounds(annotation: object) -> tuple[float | None, float | None] | None:
    """(ge, le) of an integer type, or None for a type that is not one.

    u64 fields are left out (``WireU64`` is not ``int``): encode_u64 checks them
    as it writes them.
    """
    if _is_union(annotation):
        for arg in get_args(annotation):
            bounds = _integer_bounds(arg)
            if bounds is not None:
                return bounds
        return None
    base, *extras = get_args(annotation) if get_origin(annotation) is Annotated else (annotation,)
    if base is not int:
        return None
    metas = [meta for meta in extras if isinstance(meta, msgspec.Meta)]
    return (metas[0].ge, metas[0].le) if metas else (None, None)


def _check_integers(*messages: msgspec.Struct) -> None:
    """Refuse ``1.0``, ``True`` or an out-of-range int in an integer field before it is sent.

    The peer parses these as integers of a fixed size (u32 and i64 in the
    backend): a float or an out-of-range value makes it drop the session.
    """
    for message in messages:
        for name, low, high in _integer_fields(type(message)):
            value = getattr(message, name)
            if value is None:
                continue
            if type(value) is not int:
                raise TypeError(
                    f"{type(message).__name__}.{name} must be an int, not {type(value).__name__}"
                )
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(
                    f"{type(message).__name__}.{name} is out of range: "
                    f"it must be {_describe_integer(low, high)}"
                )


def _client_to_wire(message: ClientMessage) -> object:
    _check_integers(message)
    if isinstance(message, (Mutation, Action)):
        return _wire_dict(message, args=[convex_to_json(message.args)])
    if isinstance(message, ModifyQuerySet):
        _check_integers(*message.modifications)
        return _wire_dict(
            message,
            modifications=tuple(
                _wire_dict(mod, args=[convex_to_json(mod.args)])
                if isinstance(mod, QueryAdd)
                else mod
                for mod in message.modifications
            ),
        )
    if isinstance(message, Connect) and message.max_observed_timestamp is not None:
        return _wire_dict(
            message, max_observed_timestamp=encode_u64(message.max_observed_timestamp)
        )
    if isinstance(message, Event):
        return _wire_dict(message, event=normalize_json(message.event))
    if isinstance(message, Authenticate) and message.impersonating is not None:
        return _wire_dict(message, impersonating=normalize_json(message.impersonating))
    return message


def _version_to_wire(version: StateVersion) -> dict[str, object]:
    return {
        "querySet": version.query_set,
        "identity": version.identity,
        "ts": encode_u64(version.ts),
    }


def _server_to_wire(message: ServerMessage) -> object:
    _check_integers(message)
    if isinstance(message, Transition):
        _check_integers(message.start_version, message.end_version, *message.modifications)
        return _wire_dict(
            message,
            start_version=_version_to_wire(message.start_version),
            end_version=_version_to_wire(message.end_version),
            modifications=tuple(map(_modification_to_wire, message.modifications)),
        )
    if isinstance(message, MutationResponse | ActionResponse) and was_settled(message.result):
        # A large frame's result, settled by the codec: its numbers as the server wrote them.
        return _server_to_wire(msgspec.structs.replace(message, result=_unsettled(message.result)))
    if isinstance(message, MutationResponse) and message.ts is not None:
        return _wire_dict(message, ts=encode_u64(message.ts))
    if isinstance(message, AuthError) and message.auth_update_attempted is None:
        # As the backend writes it: baseVersion always, authUpdateAttempted when known.
        return {"type": "AuthError", "error": message.error, "baseVersion": message.base_version}
    return message


def _modification_to_wire(modification: StateModification) -> object:
    if isinstance(modification, QueryUpdated) and was_settled(modification.value):
        return _wire_dict(modification, value=_unsettled(modification.value))
    return modification


def _unsettled(value: JSONValue) -> JSONValue:
    """A value settled by the codec (``_settle_values``) as JSON again: integral
    numbers as integers, as the server wrote them (and as JavaScript writes them)."""
    return normalize_json(value)


# --- why a frame was refused -------------------------------------------------
#
# Only on the error path: the frame is decoded again without a schema, and
# syncwire's own message classes are checked against it field by field, so the
# ProtocolError says what syncwire expected where. The text is built from our
# field names, our types and the JSON kind of what came (never its value); no
# dependency's error text is read. Every step is linear in the frame's size.

_UNTYPED_DECODER: Final = msgspec.json.Decoder()
_EXACT_NUMBERS_DECODER: Final = msgspec.json.Decoder(float_hook=decimal.Decimal)


class _Refused(Exception):
    """What is wrong with a frame, in syncwire's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _explain(data: str | bytes, message_types: Mapping[str, type]) -> str:
    """Why ``data`` is not one of ``message_types``."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"a lone surrogate at index {exc.start}"
    else:
        try:
            bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid UTF-8 at byte {exc.start}"
    try:
        document = _UNTYPED_DECODER.decode(data)
    except RecursionError:
        return "JSON nested too deeply"
    except msgspec.DecodeError:
        return _json_problem(data)
    claimed = _claimed_type(document, message_types)
    try:
        _build_tagged(document, message_types, "$")
    except _Refused as refused:
        return refused.reason if claimed is None else f"{claimed}: {refused.reason}"
    # The untyped decode kept the last of a repeated field; the typed one
    # checked every occurrence.
    if _repeats_a_field(data):
        return "an object has the same field twice"
    # Not reached while these checks mirror the classes; still never the payload.
    return f"not a valid {claimed or 'message'}"


def _repeats_a_field(data: str | bytes) -> bool:
    repeated = False

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal repeated
        found = dict(items)
        repeated = repeated or len(found) < len(items)
        return found

    try:
        json.loads(data, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return False
    return repeated


def _json_problem(data: str | bytes) -> str:
    """Not JSON at all, or JSON with a number no float can hold (``1e400``)."""
    try:
        _EXACT_NUMBERS_DECODER.decode(data)
    except (msgspec.MsgspecError, RecursionError):
        return "not valid JSON"
    return "a JSON number is out of range"


def _claimed_type(document: object, message_types: Mapping[str, type]) -> str | None:
    """The message type the frame says it is, in our spelling; None if not one of ours."""
    if type(document) is dict:
        tag = document.get("type")
        if type(tag) is str and tag in message_types:
            return message_types[tag].__name__
    return None


def _build_tagged(value: object, classes: Mapping[str, type], path: str) -> object:
    if type(value) is not dict:
        raise _Refused(f"`{path}` must be an object, not {_kind(value)}")
    if "type" not in value:
        raise _Refused(f"`{path}.type` is missing")
    tag = value["type"]
    if type(tag) is not str:
        raise _Refused(f"`{path}.type` must be a string, not {_kind(tag)}")
    cls = classes.get(tag)
    if cls is None:
        raise _Refused(f"`{path}.type` is not a type syncwire accepts here")
    return _build_struct(value, cls, path)


@functools.cache
def _fields(cls: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    return msgspec.structs.fields(cls)


def _build_struct(value: dict[str, object], cls: type[msgspec.Struct], path: str) -> object:
    prefix = "$" if path == "$" else path
    # A field of the wrong shape is refused where it is (_Refused). What raises
    # ValueError or TypeError is syncwire's own code, in its own words: the rules
    # __post_init__ checks, and args that are no Convex value (args_from_wire).
    try:
        fields: dict[str, object] = {}
        for field in _fields(cls):
            where = f"{prefix}.{field.encode_name}"
            if field.encode_name in value:
                fields[field.name] = _build(value[field.encode_name], field.type, where)
            elif field.required:
                raise _Refused(f"`{where}` is missing")
        return cls(**fields)
    except (ValueError, TypeError) as exc:
        raise _Refused(str(exc) if path == "$" else f"`{path}`: {exc}") from None


def _build(value: object, annotation: object, path: str) -> object:
    """``value`` as msgspec would decode it into ``annotation``, or ``_Refused``."""
    annotation, nullable = _without_none(annotation)
    if value is None and nullable:
        return None
    if annotation is Any:
        return value
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        if type(value) is not dict:
            raise _Refused(f"`{path}` must be an object, not {_kind(value)}")
        return _build_struct(value, annotation, path)
    if _is_union(annotation):  # of tagged messages, e.g. a ModifyQuerySet's modifications
        return _build_tagged(value, _message_types(annotation), path)
    if get_origin(annotation) is tuple:
        return _build_array(value, get_args(annotation), path)
    if annotation is WireArgs:  # json_to_convex's ProtocolError is handled by _build_struct
        return args_from_wire(list(_build_array(value, (dict[str, Any],), path)))
    if annotation is WireU64:
        if type(value) is not str:
            raise _Refused(_wrong_leaf(value, annotation, nullable, path))
        try:
            return decode_u64(value)
        except ProtocolError as exc:
            raise _Refused(f"`{path}`: {exc}") from None
    try:  # a leaf, or dict[str, Any]: convert does not walk into Any, so nothing recurses
        return msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError:
        raise _Refused(_wrong_leaf(value, annotation, nullable, path)) from None


def _build_array(value: object, items: tuple[object, ...], path: str) -> tuple[object, ...]:
    if type(value) is not list:
        raise _Refused(f"`{path}` must be an array, not {_kind(value)}")
    if len(items) == 2 and items[1] is Ellipsis:
        return tuple(_build(item, items[0], f"{path}[{i}]") for i, item in enumerate(value))
    if len(value) != len(items):
        raise _Refused(f"`{path}` must hold exactly {len(items)} item(s), not {len(value)}")
    return tuple(
        _build(item, annotation, f"{path}[{i}]")
        for i, (item, annotation) in enumerate(zip(value, items, strict=True))
    )


def _is_union(annotation: object) -> bool:
    origin = get_origin(annotation)
    return origin is Union or origin is types.UnionType


def _without_none(annotation: object) -> tuple[object, bool]:
    """``X | None`` → (X, True); ``UNSET`` is dropped too (a field present is not unset)."""
    if not _is_union(annotation):
        return annotation, False
    options = get_args(annotation)
    kept = [a for a in options if a is not type(None) and a is not UnsetType]
    nullable = type(None) in options
    if len(kept) == 1:
        return kept[0], nullable
    return Union[tuple(kept)], nullable  # noqa: UP007 - built at run time


def _wrong_leaf(value: object, annotation: object, nullable: bool, path: str) -> str:
    expected = _describe(annotation) + (" or null" if nullable else "")
    base = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if base is not annotation and _converts(value, base):
        return f"`{path}` is out of range: it must be {_describe(annotation)}"
    if get_origin(annotation) is Literal and type(value) is str:
        return f"`{path}` must be {expected}"
    return f"`{path}` must be {expected}, not {_kind(value)}"


def _converts(value: object, annotation: object) -> bool:
    try:
        msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError:
        return False
    return True


_KINDS_IN_WORDS: Final[dict[object, str]] = {
    str: "a string",
    bool: "a boolean",
    float: "a number",
    dict: "an object",
}


def _describe(annotation: object) -> str:
    """What a field of this type holds, in words."""
    if annotation is WireU64:
        return "a u64 as base64 text"
    bounds = _integer_bounds(annotation)
    if bounds is not None:
        return _describe_integer(*bounds)
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(json.dumps(option) for option in get_args(annotation))
    return _KINDS_IN_WORDS.get(get_origin(annotation) or annotation, "a value of another type")


def _describe_integer(low: float | None, high: float | None) -> str:
    if (low, high) == (-(2**63), 2**63 - 1):
        return "a signed 64-bit integer"
    if (low, high) == (0, 2**63 - 1):
        return "an integer from 0 to 2^63 - 1"
    if high is None:
        return "an integer" if low is None else f"an integer ≥ {low}"
    return f"an integer ≤ {high}" if low is None else f"an integer from {low} to {high}"


def _kind(value: object) -> str:
    """The JSON kind of a decoded value, for error messages (never the value)."""
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    return kinds.get(type(value)) or ("an array" if type(value) is list else "an object")
