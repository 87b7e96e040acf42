"""Frames ↔ messages, in both directions (protocol spec §1).

``encode_client_message`` / ``parse_server_message`` are the client's direction;
``parse_client_message`` / ``encode_server_message`` are the server's, for the
dev server and for tests. Parsing validates every field on the way in (typed
msgspec decoding, done in C) and raises only ``ProtocolError``.
"""

from __future__ import annotations

import copy
import gc
import re
import types
from typing import Annotated, Final, TypeVar, Union, get_args, get_origin

import msgspec

from syncwire.errors import ProtocolError
from syncwire.protocol.messages import (
    Action,
    Authenticate,
    ClientMessage,
    Connect,
    Event,
    ModifyQuerySet,
    Mutation,
    MutationResponse,
    QueryAdd,
    ServerMessage,
    StateVersion,
    Transition,
)
from syncwire.protocol.values import (
    convex_to_json,
    enc_hook,
    encode_u64,
    normalize_json,
)

__all__ = [
    "encode_client_message",
    "encode_server_message",
    "parse_client_message",
    "parse_server_message",
]

_MAX_ERROR_LEN: Final = 300
_QUOTED_VALUE: Final = re.compile(r"^Invalid value '.*?'(?= - at )", re.S)
_GC_PAUSE_FROM: Final = 1_000_000
"""Frames at least this long (characters or bytes) are decoded with the GC paused."""
_S = TypeVar("_S", bound=msgspec.Struct)


_SERVER_DECODER: Final[msgspec.json.Decoder[ServerMessage]] = msgspec.json.Decoder(ServerMessage)
_CLIENT_DECODER: Final[msgspec.json.Decoder[ClientMessage]] = msgspec.json.Decoder(ClientMessage)
_ENCODER: Final = msgspec.json.Encoder(enc_hook=enc_hook)


# What msgspec raises for bad input: its own errors, UnicodeDecodeError for
# invalid UTF-8 inside a tag, RecursionError for JSON nested ~1000 deep.
_DECODE_ERRORS: Final = (
    msgspec.MsgspecError,
    UnicodeDecodeError,
    UnicodeEncodeError,  # text holding a lone surrogate
    RecursionError,
)


def _protocol_error(what: str, exc: Exception) -> ProtocolError:
    if isinstance(exc, UnicodeDecodeError):
        return ProtocolError(f"malformed {what}: invalid UTF-8 at byte {exc.start}")
    if isinstance(exc, RecursionError):
        return ProtocolError(f"malformed {what}: JSON nested too deeply")
    if isinstance(exc, UnicodeEncodeError):
        return ProtocolError(f"malformed {what}: a lone surrogate at index {exc.start}")
    # msgspec quotes a rejected tag ("Invalid value 'x' - at `$.type`"): the
    # value came from the peer, so it stays out of the message.
    text = _QUOTED_VALUE.sub("Invalid value", str(exc))
    if len(text) > _MAX_ERROR_LEN:
        text = text[:_MAX_ERROR_LEN] + "…"
    return ProtocolError(f"malformed {what}: {text}")


def _check_frame(data: object) -> None:
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"a frame is str or bytes, not {type(data).__name__}")


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
        raise _protocol_error("server message", exc) from None
    except TypeError:
        _check_frame(data)
        raise


def _decode_without_gc(data: str | bytes) -> ServerMessage:
    """Decode a large frame with the cyclic garbage collector paused.

    A 20 MB Transition creates ~140,000 containers, which trigger dozens of
    collections mid-decode, two of them full: half the decode time on Python
    3.11 (docs/benchmarks.md). Nothing a decode creates can be garbage yet, so
    the pause loses nothing; the collector runs again as usual afterwards.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _SERVER_DECODER.decode(data)
    finally:
        if paused:
            gc.enable()


def parse_client_message(data: str | bytes) -> ClientMessage:
    """Decode and validate one frame from a client (the server's direction)."""
    try:
        return _CLIENT_DECODER.decode(data)
    except _DECODE_ERRORS as exc:
        raise _protocol_error("client message", exc) from None
    except TypeError:
        _check_frame(data)
        raise


def encode_client_message(message: ClientMessage) -> str:
    """The JSON text of one client message, as the official client writes it.

    Arguments are converted with ``convex_to_json``; a value Convex cannot
    represent raises ``TypeError``/``ValueError`` naming its path.
    """
    return _ENCODER.encode(_client_to_wire(message)).decode("utf-8")


def encode_server_message(message: ServerMessage) -> str:
    """The JSON text of one server message (for the dev server and tests)."""
    return _ENCODER.encode(_server_to_wire(message)).decode("utf-8")


def _with_wire_fields(message: _S, **fields: object) -> _S:
    """A copy of ``message`` holding wire-form field values, for the encoder.

    A copy skips ``__post_init__`` (which would convert them back), and
    the original message stays as it was.
    """
    wire = copy.copy(message)
    for name, value in fields.items():
        msgspec.structs.force_setattr(wire, name, value)
    return wire


def _integer_fields(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    names = _INTEGER_FIELDS.get(cls)
    if names is None:
        fields = msgspec.structs.fields(cls)
        names = _INTEGER_FIELDS[cls] = tuple(f.name for f in fields if _is_integer_type(f.type))
    return names


_INTEGER_FIELDS: dict[type[msgspec.Struct], tuple[str, ...]] = {}


def _is_integer_type(annotation: object) -> bool:
    # u64 fields are left out: encode_u64 checks them as it writes them.
    if annotation is int:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_integer_type(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_is_integer_type(arg) for arg in get_args(annotation))
    return False


def _check_integers(*messages: msgspec.Struct) -> None:
    """Refuse ``1.0`` or ``True`` in an integer field before it reaches the wire."""
    for message in messages:
        for name in _integer_fields(type(message)):
            value = getattr(message, name)
            if value is not None and type(value) is not int:
                raise TypeError(
                    f"{type(message).__name__}.{name} must be an int, not {type(value).__name__}"
                )


def _client_to_wire(message: ClientMessage) -> ClientMessage:
    _check_integers(message)
    if isinstance(message, (Mutation, Action)):
        return _with_wire_fields(message, args=[convex_to_json(message.args)])
    if isinstance(message, ModifyQuerySet):
        _check_integers(*message.modifications)
        return _with_wire_fields(
            message,
            modifications=tuple(
                _with_wire_fields(mod, args=[convex_to_json(mod.args)])
                if isinstance(mod, QueryAdd)
                else mod
                for mod in message.modifications
            ),
        )
    if isinstance(message, Connect) and message.max_observed_timestamp is not None:
        return _with_wire_fields(
            message, max_observed_timestamp=encode_u64(message.max_observed_timestamp)
        )
    if isinstance(message, Event):
        return _with_wire_fields(message, event=normalize_json(message.event))
    if isinstance(message, Authenticate) and message.impersonating is not None:
        return _with_wire_fields(message, impersonating=normalize_json(message.impersonating))
    return message


def _version_to_wire(version: StateVersion) -> dict[str, object]:
    return {
        "querySet": version.query_set,
        "identity": version.identity,
        "ts": encode_u64(version.ts),
    }


def _server_to_wire(message: ServerMessage) -> ServerMessage:
    _check_integers(message)
    if isinstance(message, Transition):
        _check_integers(message.start_version, message.end_version, *message.modifications)
        return _with_wire_fields(
            message,
            start_version=_version_to_wire(message.start_version),
            end_version=_version_to_wire(message.end_version),
        )
    if isinstance(message, MutationResponse) and message.ts is not None:
        return _with_wire_fields(message, ts=encode_u64(message.ts))
    return message
