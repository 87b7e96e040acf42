"""The sync protocol's messages (docs/protocol.md#messages), one immutable class each.

Attributes are snake_case; on the wire they are camelCase (``request_id`` ↔
``requestId``). Which Python form each value takes:

* u64 timestamps (``ts``, ``max_observed_timestamp``) are ``int``; so are the
  fields the Convex backend types as integers (ids, versions, part numbers,
  ``client_clock_skew``, ``server_ts``), which never take a float.
* Function arguments (``args``) are Convex values in their Python form
  (see ``syncwire.protocol.values``); the codec converts them, since they are
  small and must be validated on the way out anyway.
* Function results, query values and ``error_data`` in server messages stay in
  their JSON form (``JSONValue``), exactly as the official client's
  ``parseServerMessage`` leaves them: a 20 MB Transition is decoded in C, and
  ``json_to_convex`` is applied by whoever reads a value. In a frame of 1 MB or
  more, a query result or function result with no ``$``-field is converted as
  it is decoded (its numbers are then ``float``, equal to the JSON ones), and
  ``json_to_convex`` hands it back at once (``codec._settle_values``).
* An optional field whose value is ``None`` is left out of the frame; fields the
  protocol types as nullable (``journal``, ``last_close_reason``, …) are always
  written. ``error_data`` is the one field where a JSON ``null`` is data
  (``throw new ConvexError(null)``): it is ``UNSET`` when the frame has none.
* Server messages accept what any released Convex backend writes: a nullable
  field may also be absent (older backends omit ``authUpdateAttempted``,
  ``clientClockSkew`` and ``serverTs``), and unknown fields are ignored.
"""

from __future__ import annotations

import binascii
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any
from typing import Literal
from typing import TypeAlias
from typing import cast

import msgspec
from msgspec import UNSET
from msgspec import UnsetType

from syncwire.protocol.values import decode_u64
from syncwire.protocol.values import json_to_convex


class _HoldsInt(type):
    # isinstance(x, WireU64) is isinstance(x, int), checked in C: an ABC's
    # register(int) would do the same through a Python call per decoded field.
    __instancecheck__ = int.__instancecheck__


class _HoldsDict(type):
    __instancecheck__ = dict.__instancecheck__


class WireU64(metaclass=_HoldsInt):
    """How msgspec reads a u64 field: base64 text, which ``dec_hook`` turns into an ``int``.

    msgspec calls ``dec_hook`` for this type and accepts what it returns as an
    instance (every ``int`` is one), so a decoded field holds its ``int`` from the
    start, as a constructed one does: nothing is converted afterwards.
    """


class WireArgs(metaclass=_HoldsDict):
    """How msgspec reads ``args``: a one-element array, which ``dec_hook`` turns into
    the Convex ``dict`` (every ``dict`` is an instance, as every ``int`` is a ``WireU64``)."""


if TYPE_CHECKING:
    from syncwire.protocol.values import ConvexValue
    from syncwire.protocol.values import JSONValue

    U64: TypeAlias = int
    Args: TypeAlias = Mapping[str, ConvexValue]
else:
    # What a field holds is what type checkers see (an ``int``, a Convex dict);
    # msgspec sees the wire form's marker and hands the wire value to ``dec_hook``.
    JSONValue = Any
    U64 = WireU64
    Args = WireArgs


__all__ = [
    "Action",
    "ActionResponse",
    "AuthError",
    "Authenticate",
    "ClientMessage",
    "Connect",
    "Event",
    "FatalError",
    "ModifyQuerySet",
    "Mutation",
    "MutationResponse",
    "Ping",
    "QueryAdd",
    "QueryFailed",
    "QueryRemove",
    "QueryRemoved",
    "QuerySetModification",
    "QueryUpdated",
    "ServerMessage",
    "StateModification",
    "StateVersion",
    "Transition",
    "TransitionChunk",
    "canonicalize_udf_path",
]

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
I64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""A signed 64-bit integer (the backend's ``i64``)."""
NonNegativeI64 = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
"""An ``i64`` the backend only ever makes non-negative (a ``Timestamp``)."""


class _Message(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    rename="camel",
    omit_defaults=True,
    tag_field="type",
    gc=False,
):
    """Common configuration: immutable, camelCase on the wire, tagged by ``type``.

    Messages are not tracked by the cyclic garbage collector (``gc=False``):
    one is never part of a reference cycle (nothing a message holds refers back
    to a message), and a Transition decodes about 10 % faster and leaves the
    collector less to walk.

    Decoding checks every field's type (in C). Construction from Python does
    not re-check types, for speed; the codec checks integer fields (type and
    range) when it encodes, so a frame never carries ``1.0`` where the peer
    parses an integer (a server answers with a FatalError, the Rust client
    drops the connection).
    """

    @property
    def type_name(self) -> str:
        """The message's ``type`` on the wire (``"Transition"``, ``"Add"``, …)."""
        return cast(str, self.__struct_config__.tag)


def dec_hook(kind: type, value: object) -> object:
    """msgspec ``dec_hook`` for the codec: a field's wire form to what the field holds.

    Raises ``TypeError`` or ``ValueError`` (``ProtocolError``) for a wire value
    of the wrong shape; msgspec reports it as a ``ValidationError``.
    """
    if kind is WireArgs:
        return args_from_wire(value)
    # Otherwise WireU64, the only other wire form the messages declare (a test
    # checks that): the common case, two per Transition, with no further test.
    return server_dec_hook(kind, value)


@functools.lru_cache(maxsize=64)
def server_dec_hook(kind: type, value: object) -> object:
    """``dec_hook`` for server messages, whose only wire form is ``WireU64``; remembered.

    Each Transition's start ``ts`` is the last one's end ``ts``: a hit costs no
    Python call at all. A value that cannot be a key (an array where a u64
    belongs) makes the cache raise ``TypeError``, as a wrong shape does.
    """
    if type(value) is not str:
        raise TypeError("a u64 travels as base64 text")
    try:  # the common case in C; anything else gets decode_u64's own checks and words
        raw = binascii.a2b_base64(value, strict_mode=True)
    except ValueError:
        return decode_u64(value)
    if len(raw) != 8:
        return decode_u64(value)
    return int.from_bytes(raw, "little")


def args_from_wire(value: object) -> Mapping[str, ConvexValue]:
    """``args`` as they travel (an array holding one object) to the Convex ``dict``."""
    if type(value) is not list or len(value) != 1 or type(value[0]) is not dict:
        raise TypeError("args travel as an array holding one object")
    args = json_to_convex(value[0])
    if type(args) is not dict:  # an object with one $-key is a special value
        raise TypeError(f"args must be an object, not {type(args).__name__}")
    return args


def _check_args(args: object) -> None:
    if not isinstance(args, Mapping):
        raise TypeError(f"args must be a dict, not {type(args).__name__}")


# --- client → server (docs/protocol.md#client-messages) ---------------------


class Connect(_Message, tag="Connect", frozen=True, kw_only=True):
    """First message on every socket: who we are and what we have seen."""

    connection_count: NonNegative
    last_close_reason: str | None
    client_ts: I64
    session_id: str
    max_observed_timestamp: U64 | None = None


def canonicalize_udf_path(udf_path: str) -> str:
    """``"mod"`` → ``"mod:default"``; ``"a.js:b"`` → ``"a:b"`` (the official client's rule).

    A query's identity is its canonical path: the client applies this once,
    when it subscribes; the last colon separates the function name.
    """
    module, sep, function = udf_path.rpartition(":")
    if not sep:
        module, function = function, "default"
    if module.endswith(".js"):
        module = module[:-3]
    return f"{module}:{function}"


class QueryAdd(_Message, tag="Add", frozen=True, kw_only=True):
    """Subscribe to a query.

    The path travels as given: whoever subscribes canonicalizes it first with
    ``canonicalize_udf_path``, as the official client does. (The rule is not
    idempotent — ``"a.js.js"`` → ``"a.js:default"`` → ``"a:default"`` — so
    applying it again when a frame is decoded would change what was sent.)
    """

    query_id: NonNegative
    udf_path: str
    args: Args
    journal: str | None = None
    component_path: str | None = None

    def __post_init__(self) -> None:
        _check_args(self.args)


class QueryRemove(_Message, tag="Remove", frozen=True, kw_only=True):
    """Unsubscribe from a query."""

    query_id: NonNegative


QuerySetModification: TypeAlias = QueryAdd | QueryRemove


class ModifyQuerySet(_Message, tag="ModifyQuerySet", frozen=True, kw_only=True):
    """Change the set of live queries from ``base_version`` to ``new_version``."""

    base_version: NonNegative
    new_version: NonNegative
    modifications: tuple[QuerySetModification, ...]


class _FunctionCall(_Message, frozen=True, kw_only=True):
    """The fields a Mutation and an Action share; requestIds count both from 0."""

    request_id: NonNegative
    udf_path: str
    component_path: str | None = None
    args: Args

    def __post_init__(self) -> None:
        _check_args(self.args)


class Mutation(_FunctionCall, tag="Mutation", frozen=True, kw_only=True):
    """Run a mutation; re-sent with the same ``request_id`` until observed."""


class Action(_FunctionCall, tag="Action", frozen=True, kw_only=True):
    """Run an action (at most once)."""


class Authenticate(_Message, tag="Authenticate", frozen=True, kw_only=True):
    """Set (``"User"``, ``"Admin"``) or clear (``"None"``) the session's identity.

    ``value`` is a secret: ``repr()`` shows only that it is there.
    """

    base_version: NonNegative
    token_type: Literal["User", "Admin", "None"]
    value: str | None = None
    impersonating: JSONValue = None

    def __post_init__(self) -> None:
        if self.token_type == "None":  # noqa: S105 - the name of a token type, not a secret
            if self.value is not None or self.impersonating is not None:
                raise ValueError('Authenticate with tokenType "None" carries no value')
        elif not isinstance(self.value, str):
            raise ValueError(f'Authenticate with tokenType "{self.token_type}" needs a value')
        if self.token_type == "User" and self.impersonating is not None:  # noqa: S105
            raise ValueError('only tokenType "Admin" can impersonate')

    def __repr__(self) -> str:
        value = "" if self.value is None else ", value=<redacted>"
        who = "" if self.impersonating is None else ", impersonating=<redacted>"
        return (
            f"Authenticate(base_version={self.base_version}, "
            f"token_type={self.token_type!r}{value}{who})"
        )

    __str__ = __repr__

    def __rich_repr__(self) -> Any:
        yield "base_version", self.base_version
        yield "token_type", self.token_type


class Event(_Message, tag="Event", frozen=True, kw_only=True):
    """Telemetry for the server (``ClientConnect``, ``ClientReceivedTransition``, …)."""

    event_type: str
    event: JSONValue


ClientMessage: TypeAlias = Connect | ModifyQuerySet | Mutation | Action | Authenticate | Event


# --- server → client (docs/protocol.md#server-messages) ---------------------


class StateVersion(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """The server's view of the session: query set, identity and timestamp."""

    query_set: NonNegative
    identity: NonNegative
    ts: U64


class QueryUpdated(_Message, tag="QueryUpdated", frozen=True, kw_only=True, omit_defaults=False):
    """A query's new result (``value`` in JSON form).

    ``journal`` is written even when ``None``, as the backend writes it; a
    frame without it is read as ``None``, as both official parsers read it.
    """

    query_id: NonNegative
    value: JSONValue
    log_lines: tuple[str, ...]
    journal: str | None = None


class QueryFailed(_Message, tag="QueryFailed", frozen=True, kw_only=True, omit_defaults=False):
    """A query threw; ``error_data`` is set (maybe to ``None``) for a ``ConvexError``.

    ``journal`` as in ``QueryUpdated``; an ``UNSET`` ``error_data`` is never written.
    """

    query_id: NonNegative
    error_message: str
    log_lines: tuple[str, ...]
    journal: str | None = None
    error_data: JSONValue | UnsetType = UNSET


class QueryRemoved(_Message, tag="QueryRemoved", frozen=True, kw_only=True):
    """The server dropped a query from the set."""

    query_id: NonNegative


StateModification: TypeAlias = QueryUpdated | QueryFailed | QueryRemoved


class Transition(_Message, tag="Transition", frozen=True, kw_only=True):
    """Moves the session from ``start_version`` to ``end_version``."""

    start_version: StateVersion
    end_version: StateVersion
    modifications: tuple[StateModification, ...]
    client_clock_skew: I64 | None = None
    """Milliseconds the client's clock is behind the server's (``None`` when absent).

    Like ``server_ts``, an ``i64`` in the backend: a JSON float here is a
    ``ProtocolError``, as in every other integer field (the Rust client refuses
    it too), and an ``int`` is written back with all its digits. The range is
    checked too: JSON integers have no size limit, and one beyond any float
    would break arithmetic that mixes it with floats (the transit time).
    """
    server_ts: NonNegativeI64 | None = None
    """Nanoseconds since the epoch when the server sent the frame (``None`` when absent)."""


class TransitionChunk(_Message, tag="TransitionChunk", frozen=True, kw_only=True):
    """One part of a Transition too large for one frame."""

    chunk: str
    part_number: NonNegative
    total_parts: Annotated[int, msgspec.Meta(ge=1)]
    transition_id: str


class MutationResponse(
    _Message, tag="MutationResponse", frozen=True, kw_only=True, omit_defaults=False
):
    """A mutation's outcome; on success ``ts`` is its commit timestamp.

    On failure ``result`` is the error message and ``ts`` is usually ``None``
    (written as ``null``, as the backend does; an absent ``ts`` reads as
    ``None``). The backend's type lets a failure carry a ``ts`` too, and both
    official parsers accept it, so it is kept, and not acted on.
    """

    request_id: NonNegative
    success: bool
    result: JSONValue
    ts: U64 | None = None
    log_lines: tuple[str, ...]
    error_data: JSONValue | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.success and self.ts is None:
            raise ValueError("a successful MutationResponse needs ts")
        if not self.success:
            _check_failure(self.result)


class ActionResponse(_Message, tag="ActionResponse", frozen=True, kw_only=True):
    """An action's outcome; on failure ``result`` is the error message."""

    request_id: NonNegative
    success: bool
    result: JSONValue
    log_lines: tuple[str, ...]
    error_data: JSONValue | UnsetType = UNSET

    def __post_init__(self) -> None:
        if not self.success:
            _check_failure(self.result)


def _check_failure(result: object) -> None:
    if not isinstance(result, str):
        raise ValueError("a failed response's result must be the error message (a string)")


class AuthError(_Message, tag="AuthError", frozen=True, kw_only=True, omit_defaults=False):
    """The server rejected the identity sent with ``Authenticate``.

    ``auth_update_attempted`` is ``None`` when the frame has none (backends
    before the field existed); the client then acts as for ``True``, as the
    official client does. ``base_version`` is written even when ``None``;
    ``auth_update_attempted`` only when known (the codec), as the backend does.
    """

    error: str
    base_version: NonNegative | None = None
    auth_update_attempted: bool | None = None


class FatalError(_Message, tag="FatalError", frozen=True, kw_only=True):
    """The server ends the session because of a client bug."""

    error: str


class Ping(_Message, tag="Ping", frozen=True, kw_only=True):
    """Keepalive the server sends after 15 s without other messages."""


ServerMessage: TypeAlias = (
    Transition | TransitionChunk | MutationResponse | ActionResponse | AuthError | FatalError | Ping
)
