"""Differential tests: our codec against the official ``convex`` npm client.

Hypothesis generates (derandomized, so CI sees the same cases every run) client
and server messages carrying every kind of Convex value. Each test sends its
whole batch through ``oracle.mjs`` in one Node process, which runs the official
``encodeClientMessage`` / ``parseServerMessage`` / ``convexToJson`` /
``jsonToConvex`` on the same messages, and compares:

* client direction: our frame and the official frame are the same JSON (with
  ``int`` and ``float`` kept apart: JS writes ``1``, so must we), every
  ``args`` value is byte-identical text, and our parser reads the official
  frame back to the message we encoded;
* server direction: our ``parse_server_message`` (plus ``json_to_convex`` on
  the value fields) and the official parse (plus ``jsonToConvex``) give the
  same values: u64 ``ts`` as unsigned integers, int64 as integers, bytes as
  bytes, numbers as floats bit for bit (NaN as NaN). Besides generated
  messages, every shape of tests/protocol/test_backend_shapes.py (what each
  backend version writes) goes through both parsers; and frames with the
  optional fields malformed are accepted or rejected alike, or differ for a
  reason listed here.

The transport to and from Node is described at the top of ``oracle.mjs``.
"""

from __future__ import annotations

import json
import math
import re
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Final
from typing import TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from syncwire.errors import ProtocolError
from syncwire.protocol import COMMIT_TS
from syncwire.protocol import UNSET
from syncwire.protocol import Action
from syncwire.protocol import ActionResponse
from syncwire.protocol import Authenticate
from syncwire.protocol import AuthError
from syncwire.protocol import ClientMessage
from syncwire.protocol import Connect
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue
from syncwire.protocol import Event
from syncwire.protocol import FatalError
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryRemove
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import canonicalize_udf_path
from syncwire.protocol import convex_to_json
from syncwire.protocol import encode_client_message
from syncwire.protocol import encode_server_message
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message
from syncwire.protocol.values import encode_u64
from tests.helpers import ROOT
from tests.helpers import require_node
from tests.protocol.backend_shapes import SHAPES

T = TypeVar("T")

ORACLE: Final = Path(__file__).with_name("oracle.mjs")
ORACLE_TIMEOUT_S: Final = 120
CLIENT_CASES: Final = 1200
SERVER_CASES: Final = 1200

_SAFE_INT: Final = 2**53
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_U64_MAX: Final = 2**64 - 1


# --- running the oracle ------------------------------------------------------


def _run_oracle(node: str, requests: Sequence[dict[str, object]]) -> list[dict[str, Any]]:
    """One Node process for the whole batch; one reply per request."""
    text = "".join(json.dumps(request) + "\n" for request in requests)
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv: node and our own script
            [node, str(ORACLE)],
            input=text,
            capture_output=True,
            encoding="utf-8",
            timeout=ORACLE_TIMEOUT_S,
            check=False,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"oracle.mjs did not answer {len(requests)} requests in {ORACLE_TIMEOUT_S} s")
    if done.returncode != 0:
        pytest.fail(f"oracle.mjs exited with {done.returncode}:\n{done.stderr[-4000:]}")
    # JSON.stringify escapes "\n" inside strings, so it only ends lines. (Not
    # splitlines(): that also splits on U+2028, which JSON leaves raw.)
    replies = [json.loads(line) for line in done.stdout.split("\n") if line]
    assert len(replies) == len(requests), done.stderr[-4000:]
    return replies


def _generate(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples of ``strategy``, the same ones on every run.

    Hypothesis only generates here (the comparison needs the whole batch, so
    there is nothing to shrink); drawing ten cases per Hypothesis example
    halves the time its per-example bookkeeping takes.
    """
    examples: list[T] = []
    batch = 10

    @settings(
        max_examples=-(-count // batch),
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(strategy, min_size=batch, max_size=batch))
    def collect(drawn: list[T]) -> None:
        examples.extend(drawn)

    collect()
    assert len(examples) >= count
    return examples


Failure = tuple[str, int, str]
"""(kind of difference, size of the case, description); the size sorts the examples."""


def _check_all(failures: list[Failure], total: int, what: str) -> None:
    """Fail with, for each kind of difference, its count and its smallest case.

    The cases are not shrunk (Hypothesis only generates them), so the smallest
    one of each kind is the best repro at hand.
    """
    if not failures:
        return
    kinds: dict[str, list[Failure]] = {}
    for failure in sorted(failures):
        kinds.setdefault(failure[0], []).append(failure)
    report = [f"{len(failures)} of {total} {what} differ from the official client:"]
    for kind, group in sorted(kinds.items(), key=lambda item: -len(item[1])):
        report.append(f"\n[{kind}] {len(group)} case(s); the smallest:\n{group[0][2]}")
    pytest.fail("\n".join(report), pytrace=False)


def _clip(text: object, limit: int = 600) -> str:
    shown = str(text)
    return shown if len(shown) <= limit else shown[:limit] + f"… ({len(shown)} chars)"


# --- the transport to and from Node (see oracle.mjs) -------------------------


@dataclass(frozen=True)
class ConvexArg:
    """A Convex value Node must put through ``convexToJson``."""

    value: ConvexValue


@dataclass(frozen=True)
class U64:
    """A u64 timestamp (a ``Long`` in JS)."""

    value: int


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()


def _to_transport(x: object) -> object:
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        assert -_SAFE_INT <= x <= _SAFE_INT, "a JS number holds this int exactly"
        return x
    if isinstance(x, float):
        return {"$f64": struct.pack(">d", x).hex()}
    if isinstance(x, ConvexInt64):
        return {"$bigint": str(x.value)}
    if isinstance(x, bytes):
        return {"$bytes": x.hex()}
    if isinstance(x, U64):
        return {"$u64": str(x.value)}
    if x is COMMIT_TS:
        return {"$commitTs": None}
    if isinstance(x, ConvexArg):
        return {"$convex": _to_transport(x.value)}
    if isinstance(x, (list, tuple)):
        return [_to_transport(item) for item in x]
    if isinstance(x, dict):
        return {"$obj": [[key, _to_transport(value)] for key, value in x.items()]}
    raise TypeError(f"cannot send a {type(x).__name__} to the oracle")


def _from_transport(x: object) -> object:
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, list):
        return [_from_transport(item) for item in x]
    assert isinstance(x, dict), x
    assert len(x) == 1, x
    ((tag, payload),) = x.items()
    if tag == "$obj":
        return {key: _from_transport(value) for key, value in payload}
    if tag == "$f64":
        number: float = struct.unpack(">d", bytes.fromhex(payload))[0]
        return number
    if tag == "$bigint":
        return ConvexInt64(int(payload))
    if tag == "$bytes":
        return bytes.fromhex(payload)
    if tag == "$u64":
        return U64(int(payload))
    if tag == "$commitTs":
        return COMMIT_TS
    if tag == "$undefined":
        return UNDEFINED
    raise AssertionError(f"unknown transport tag {tag!r}")


# --- comparing ---------------------------------------------------------------


def _diff(official: object, ours: object, path: str = "$") -> tuple[str, str] | None:
    """(path, description) of the first difference, or None.

    ``int`` and ``float`` are different types; floats compare bit for bit,
    except that any NaN equals any NaN.
    """
    if type(official) is not type(ours):
        return path, (
            f"official {_clip(repr(official), 80)} ({type(official).__name__}), "
            f"ours {_clip(repr(ours), 80)} ({type(ours).__name__})"
        )
    if isinstance(official, float):
        assert isinstance(ours, float)
        if math.isnan(official) and math.isnan(ours):
            return None
        if struct.pack(">d", official) == struct.pack(">d", ours):
            return None
        return path, f"official {official!r}, ours {ours!r}"
    if isinstance(official, dict):
        assert isinstance(ours, dict)
        if official.keys() != ours.keys():
            return path, f"official keys {sorted(official)}, ours {sorted(ours)}"
        for key in sorted(official):
            found = _diff(official[key], ours[key], f"{path}.{_short(key)}")
            if found:
                return found
        return None
    if isinstance(official, list):
        assert isinstance(ours, list)
        if len(official) != len(ours):
            return path, f"official has {len(official)} items, ours {len(ours)}"
        for i, (a, b) in enumerate(zip(official, ours, strict=True)):
            found = _diff(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if official == ours:
        return None
    return path, f"official {_clip(repr(official), 80)}, ours {_clip(repr(ours), 80)}"


def _short(key: str) -> str:
    return key if len(key) <= 16 else key[:12] + f"…({len(key)})"


def _kind_of_path(path: str) -> str:
    """``$.modifications[3].errorData.x[1]`` → ``$.modifications[].errorData``."""
    kept: list[str] = []
    for part in path.split("."):
        kept.append(re.sub(r"\[\d+\]", "[]", part))
        if part.startswith(("value", "result", "errorData")):
            kept[-1] = re.sub(r"\[.*", "", kept[-1])
            break
    return ".".join(kept)


def _spelled(text: str) -> Any:
    """JSON keeping object key order and the spelling of numbers."""
    return json.loads(
        text,
        object_pairs_hook=lambda pairs: ("object", pairs),
        parse_int=lambda digits: ("number", digits),
        parse_float=lambda digits: ("number", digits),
    )


def _text_diff(official: Any, ours: Any, path: str = "$") -> tuple[str, str] | None:
    """Why two texts of the same JSON differ: (kind, description), or None."""
    if isinstance(official, list) and isinstance(ours, list):
        for i, (a, b) in enumerate(zip(official, ours, strict=True)):
            found = _text_diff(a, b, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(official, tuple) and isinstance(ours, tuple) and official[0] == ours[0]:
        if official[0] == "number":
            if official[1] != ours[1]:
                return "number spelling", f"at {path}: official {official[1]}, ours {ours[1]}"
            return None
        keys = [key for key, _ in official[1]], [key for key, _ in ours[1]]
        if keys[0] != keys[1]:
            shown = [[_short(key) for key in order] for order in keys]
            return "key order", f"at {path}: official {shown[0]}, ours {shown[1]}"
        for (key, a), (_, b) in zip(official[1], ours[1], strict=True):
            found = _text_diff(a, b, f"{path}.{_short(key)}")
            if found:
                return found
    return None


class _RawArgsOfAdd(msgspec.Struct):
    args: msgspec.Raw = msgspec.Raw()


class _RawArgs(msgspec.Struct):
    args: msgspec.Raw = msgspec.Raw()
    modifications: list[_RawArgsOfAdd] = []


def _raw_args(frame: str) -> list[str]:
    """The exact text of every ``args`` array in a client frame."""
    probe = msgspec.json.decode(frame, type=_RawArgs)
    raws = [probe.args, *(mod.args for mod in probe.modifications)]
    return [bytes(raw).decode() for raw in raws if len(raw)]


# --- strategies: Convex values -------------------------------------------------

_SPECIAL_FLOATS: Final = [
    0.0,
    -0.0,
    math.nan,
    -math.nan,
    struct.unpack("<d", bytes.fromhex("010000000000fcff"))[0],  # negative, with a payload
    math.inf,
    -math.inf,
    2.0**53,
    2.0**53 + 2,
    -(2.0**53) - 2,
    2.0**60,
    2.0**64,
    1e20,
    999999999999999868928.0,  # the largest double below 1e21
    1e21,
    -1e21,
    1e22,
    1.7976931348623157e308,
    5e-324,
    2.2250738585072014e-308,
    1e-7,
    9.5e-7,
    1e-6,
    1.5e-6,
    1e-5,
    0.1,
    -123.456,
]
_SPECIAL_STRINGS: Final = [
    "",
    "\x00\x1f\x7f",
    '"\\/',
    "\u2028\u2029",
    "é",
    "日本語",
    "😀",
    "\ufeff",
]
# Digit-only keys: JavaScript objects put integer-like keys first.
_SPECIAL_FIELD_NAMES: Final = ["", "0", "1", "9", "10", "01", "-1", "1.5", "4294967295", "_id"]


def _quiet(x: float) -> float:
    """NaNs made quiet: V8 may quiet a signalling NaN on its way in, so JS can't hold one."""
    if not math.isnan(x):
        return x
    bits = struct.unpack("<Q", struct.pack("<d", x))[0] | 1 << 51
    quiet: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return quiet


_floats: Final = st.one_of(
    st.floats().map(_quiet),
    st.sampled_from(_SPECIAL_FLOATS),
    # Mantissa and decimal exponent around where JS switches number spellings.
    st.builds(lambda m, e: float(f"{m}e{e}"), st.integers(-9999, 9999), st.integers(-12, 25)),
    st.integers(-(2**70), 2**70).map(float),
)
_finite_floats: Final = _floats.filter(math.isfinite)
_safe_ints: Final = st.integers(-_SAFE_INT, _SAFE_INT)
_int64s: Final = st.one_of(
    st.integers(_INT64_MIN, _INT64_MAX),
    st.sampled_from([_INT64_MIN, _INT64_MIN + 1, -1, 0, 1, _SAFE_INT + 1, _INT64_MAX]),
)
_strings: Final = st.one_of(st.text(max_size=16), st.sampled_from(_SPECIAL_STRINGS))
# "__proto__" is left out: the official client's plain-object writes drop it.
_field_names: Final = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10),
    st.sampled_from(_SPECIAL_FIELD_NAMES),
    st.just("k" * 1024),
).filter(lambda key: not key.startswith("$") and key != "__proto__")

_convex_leaves: Final[st.SearchStrategy[ConvexValue]] = st.one_of(
    st.none(),
    st.booleans(),
    _floats,
    _safe_ints,
    _strings,
    st.binary(max_size=24),
    _int64s.map(ConvexInt64),
    st.just(COMMIT_TS),
)


def _convex_containers(
    children: st.SearchStrategy[ConvexValue],
) -> st.SearchStrategy[ConvexValue]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(_field_names, children, max_size=4),
    )


_convex_values: Final = st.recursive(_convex_leaves, _convex_containers, max_leaves=8)
_args: Final = st.dictionaries(_field_names, _convex_values, max_size=5)

# Plain JSON (Event payloads, impersonated identities): no NaN or infinity.
_json_leaves: Final[st.SearchStrategy[JSONValue]] = st.one_of(
    st.none(),
    st.booleans(),
    _safe_ints,
    _finite_floats,
    st.sampled_from([-0.0, 1.0, 2.0**60, 1e21, 1.5e-6]),
    _strings,
)


def _json_containers(children: st.SearchStrategy[JSONValue]) -> st.SearchStrategy[JSONValue]:
    keys = st.text(max_size=8).filter(lambda key: key != "__proto__")
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4))


_json_values: Final = st.recursive(_json_leaves, _json_containers, max_leaves=10)

# --- strategies: client messages ----------------------------------------------

ClientCase = tuple[ClientMessage, dict[str, object]]
"""Our message, and the official client's message object (for _to_transport)."""

_counts: Final = st.integers(0, _SAFE_INT)
_u64s: Final = st.one_of(
    st.integers(0, _U64_MAX),
    st.sampled_from(
        [0, 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, _U64_MAX, 1_700_000_000 * 10**9]
    ),
)
_udf_paths: Final = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(["a", ".js", ":", "/"]), max_size=6).map("".join),
    st.sampled_from(
        ["messages:list", "mod", "a.js", "a.js:b", "dir/mod.js:fn", "a:b:c", "a.js:b:c", "a:b.js:c"]
    ),
)
_optional_strings: Final = st.none() | _strings


def _omit_none(**fields: object) -> dict[str, object]:
    return {key: value for key, value in fields.items() if value is not None}


@st.composite
def _connects(draw: st.DrawFn) -> ClientCase:
    message = Connect(
        connection_count=draw(_counts),
        last_close_reason=draw(_optional_strings),
        client_ts=draw(_safe_ints),
        session_id=str(draw(st.uuids(version=4))),
        max_observed_timestamp=draw(st.none() | _u64s),
    )
    ts = message.max_observed_timestamp
    official = _omit_none(
        connectionCount=message.connection_count,
        lastCloseReason=message.last_close_reason,
        clientTs=message.client_ts,
        type="Connect",
        sessionId=message.session_id,
        maxObservedTimestamp=None if ts is None else U64(ts),
    )
    official["lastCloseReason"] = message.last_close_reason  # typed string|null
    return message, official


@st.composite
def _query_adds(draw: st.DrawFn) -> tuple[QueryAdd, dict[str, object]]:
    add = QueryAdd(
        query_id=draw(_counts),
        udf_path=draw(_udf_paths),
        args=draw(_args),
        journal=draw(_optional_strings),
        component_path=draw(_optional_strings),
    )
    # The official client canonicalizes the path before this point; that rule
    # is compared separately (test_udf_path_canonicalization_matches_official).
    official = _omit_none(
        type="Add",
        queryId=add.query_id,
        udfPath=add.udf_path,
        args=[ConvexArg(add.args)],
        journal=add.journal,
        componentPath=add.component_path,
    )
    return add, official


@st.composite
def _modify_query_sets(draw: st.DrawFn) -> ClientCase:
    removes = _counts.map(
        lambda qid: (QueryRemove(query_id=qid), {"type": "Remove", "queryId": qid})
    )
    mods = draw(st.lists(_query_adds() | removes, max_size=4))
    message = ModifyQuerySet(
        base_version=draw(_counts),
        new_version=draw(_counts),
        modifications=tuple(mod for mod, _ in mods),
    )
    official: dict[str, object] = {
        "type": "ModifyQuerySet",
        "baseVersion": message.base_version,
        "newVersion": message.new_version,
        "modifications": [js for _, js in mods],
    }
    return message, official


@st.composite
def _requests(draw: st.DrawFn) -> ClientCase:
    fields: dict[str, Any] = {
        "request_id": draw(_counts),
        "udf_path": draw(_udf_paths),
        "component_path": draw(_optional_strings),
        "args": draw(_args),
    }
    message: Mutation | Action = Mutation(**fields) if draw(st.booleans()) else Action(**fields)
    official = _omit_none(
        type=type(message).__name__,
        requestId=message.request_id,
        udfPath=message.udf_path,
        componentPath=message.component_path,
        args=[ConvexArg(message.args)],
    )
    return message, official


@st.composite
def _authenticates(draw: st.DrawFn) -> ClientCase:
    base = draw(_counts)
    token_type = draw(st.sampled_from(["User", "Admin", "None"]))
    if token_type == "None":
        message = Authenticate(base_version=base, token_type="None")
        return message, {"type": "Authenticate", "tokenType": "None", "baseVersion": base}
    value = draw(_strings)
    if token_type == "User":
        message = Authenticate(base_version=base, token_type="User", value=value)
        official = {
            "type": "Authenticate",
            "baseVersion": base,
            "tokenType": "User",
            "value": value,
        }
        return message, dict(official)
    who = draw(st.none() | st.dictionaries(st.text(max_size=8), _json_values, max_size=4))
    message = Authenticate(base_version=base, token_type="Admin", value=value, impersonating=who)
    official = _omit_none(
        type="Authenticate", baseVersion=base, tokenType="Admin", value=value, impersonating=who
    )
    return message, official


@st.composite
def _events(draw: st.DrawFn) -> ClientCase:
    message = Event(event_type=draw(_strings), event=draw(_json_values))
    official: dict[str, object] = {
        "type": "Event",
        "eventType": message.event_type,
        "event": message.event,
    }
    return message, official


# Hypothesis favours the first branches of one_of: Connect, the simplest, goes last.
_client_cases: Final = st.one_of(
    _modify_query_sets(), _requests(), _events(), _authenticates(), _connects()
)


def _edge_client_cases() -> list[ClientCase]:
    """Every edge value at least once, whatever Hypothesis happens to draw."""
    cases: list[ClientCase] = []

    def mutation(args: dict[str, ConvexValue]) -> None:
        message = Mutation(request_id=1, udf_path="m:f", args=args)
        official = {"type": "Mutation", "requestId": 1, "udfPath": "m:f", "args": [ConvexArg(args)]}
        cases.append((message, dict(official)))

    def event(payload: JSONValue) -> None:
        message = Event(event_type="E", event=payload)
        cases.append((message, {"type": "Event", "eventType": "E", "event": payload}))

    edges: list[ConvexValue] = [
        *_SPECIAL_FLOATS,
        *(ConvexInt64(n) for n in (_INT64_MIN, -1, 0, 1, _SAFE_INT + 1, _INT64_MAX)),
        *(-_SAFE_INT, -1, 0, 1, _SAFE_INT),
        *_SPECIAL_STRINGS,
        *(b"", b"\x00", b"\xff\xfe", bytes(range(256))),
        [],
        (),
        {},
        COMMIT_TS,
    ]
    for value in edges:
        mutation({"v": value})
    mutation({key: len(key) for key in [*_SPECIAL_FIELD_NAMES, "4294967294", "a", "B"]})
    mutation({"k" * 1024: 0, "": 1})
    payloads: tuple[JSONValue, ...] = (-0.0, 1.0, 2.0**60, 1e21, 1.5e-6, {"b": 1.0, "a": [-0.0]})
    for payload in payloads:
        event(payload)
        admin = Authenticate(
            base_version=0, token_type="Admin", value="key", impersonating={"n": payload}
        )
        cases.append(
            (
                admin,
                {
                    "type": "Authenticate",
                    "baseVersion": 0,
                    "tokenType": "Admin",
                    "value": "key",
                    "impersonating": {"n": payload},
                },
            )
        )
    for ts in (0, 1, 2**31, 2**32, 2**63, _U64_MAX):
        connect = Connect(
            connection_count=1,
            last_close_reason=None,
            client_ts=0,
            session_id="s",
            max_observed_timestamp=ts,
        )
        official: dict[str, object] = {
            "connectionCount": 1,
            "lastCloseReason": None,
            "clientTs": 0,
            "type": "Connect",
            "sessionId": "s",
            "maxObservedTimestamp": U64(ts),
        }
        cases.append((connect, official))
    return cases


# The frames docs/protocol.md#first-frames captured from the official client, with our messages.
_GOLDEN_FRAMES: Final[list[tuple[ClientCase, str]]] = [
    (
        (
            Connect(
                connection_count=0,
                last_close_reason="InitialConnect",
                client_ts=1795662562971,
                session_id="17952c07-069d-4a24-a0c3-504128e686fe",
            ),
            {
                "connectionCount": 0,
                "lastCloseReason": "InitialConnect",
                "clientTs": 1795662562971,
                "type": "Connect",
                "sessionId": "17952c07-069d-4a24-a0c3-504128e686fe",
            },
        ),
        '{"connectionCount":0,"lastCloseReason":"InitialConnect","clientTs":1795662562971,'
        '"type":"Connect","sessionId":"17952c07-069d-4a24-a0c3-504128e686fe"}',
    ),
    (
        (
            ModifyQuerySet(
                base_version=0,
                new_version=1,
                modifications=(
                    QueryAdd(
                        query_id=0,
                        udf_path="messages:list",
                        args={"n": ConvexInt64(5), "channel": "general"},
                    ),
                ),
            ),
            {
                "type": "ModifyQuerySet",
                "baseVersion": 0,
                "newVersion": 1,
                "modifications": [
                    {
                        "type": "Add",
                        "queryId": 0,
                        "udfPath": "messages:list",
                        "args": [ConvexArg({"n": ConvexInt64(5), "channel": "general"})],
                    }
                ],
            },
        ),
        '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add",'
        '"queryId":0,"udfPath":"messages:list","args":[{"channel":"general",'
        '"n":{"$integer":"BQAAAAAAAAA="}}]}]}',
    ),
    (
        (
            Mutation(request_id=0, udf_path="messages:send", args={"body": "hi"}),
            {
                "type": "Mutation",
                "requestId": 0,
                "udfPath": "messages:send",
                "args": [ConvexArg({"body": "hi"})],
            },
        ),
        '{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi"}]}',
    ),
]


def _compare_client_frames(official: str, ours: str) -> tuple[str, str] | None:
    """(kind, description) of how our frame differs from the official one, or None."""
    found = _diff(json.loads(official), json.loads(ours))
    if found is not None:
        path, detail = found
        field = re.sub(r"^(\$\.?\w*).*", r"\1", path)
        return f"frame JSON differs at {field}", _clip(f"at {path}: {detail}", 300)
    for official_args, our_args in zip(_raw_args(official), _raw_args(ours), strict=True):
        if official_args != our_args:
            why = _text_diff(_spelled(official_args), _spelled(our_args))
            kind, detail = why or ("string escaping?", "")
            detail = _clip(detail, 300)
            return f"args text: {kind}", f"{detail}\n  official args: {_clip(official_args)}"
    return None


def test_golden_frames_from_the_spec() -> None:
    """Our encoding of the frames in docs/protocol.md#first-frames equals the captured text
    (up to top-level key order)."""
    for (message, _), captured in _GOLDEN_FRAMES:
        assert _compare_client_frames(captured, encode_client_message(message)) is None
        assert parse_client_message(captured) == message


def _check_client_case(ours: str, reply: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, description) of how our frame differs from the official one, or None."""
    if "error" in reply:
        return "the official client threw", reply["error"]
    found = _compare_client_frames(reply["frame"], ours)
    if found is not None:
        return found
    # Our parser (the dev server's) reads the official frame back to our message.
    try:
        again = encode_client_message(parse_client_message(reply["frame"]))
    except (ProtocolError, ValueError, TypeError) as exc:
        return "our re-parse of the official frame raised", repr(exc)
    found = _compare_client_frames(again, ours)
    if found is not None:
        kind, detail = found
        return f"our re-parse of the official frame: {kind}", detail
    return None


@pytest.mark.node
def test_client_messages_match_official_encoder() -> None:
    node = require_node("the differential tests")
    cases = _generate(_client_cases, CLIENT_CASES)
    everything = [*cases, *_edge_client_cases(), *(case for case, _ in _GOLDEN_FRAMES)]
    replies = _run_oracle(
        node, [{"kind": "client", "message": _to_transport(official)} for _, official in everything]
    )
    types = {type(message).__name__ for message, _ in cases}
    assert types == {"Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event"}

    failures: list[Failure] = []
    for (message, _), reply in zip(everything, replies, strict=True):
        ours = encode_client_message(message)
        found = _check_client_case(ours, reply)
        if found is not None:
            kind, detail = found
            frames = f"  ours:     {_clip(ours)}\n  official: {_clip(reply.get('frame'))}"
            failures.append((kind, len(ours), f"{detail}\n{frames}"))
    golden_replies = replies[-len(_GOLDEN_FRAMES) :]
    for (_, captured), reply in zip(_GOLDEN_FRAMES, golden_replies, strict=True):
        assert reply.get("frame") == captured, (
            "docs/protocol.md#first-frames no longer matches the official client"
        )
    _check_all(failures, len(everything), "client messages")


@pytest.mark.node
def test_udf_path_canonicalization_matches_official() -> None:
    node = require_node("the differential tests")
    paths = _generate(_udf_paths, 300)
    replies = _run_oracle(node, [{"kind": "udfPath", "path": path} for path in paths])
    failures: list[Failure] = [
        (
            "canonical path",
            len(path),
            f"{path!r}: official {reply['path']!r}, ours {canonicalize_udf_path(path)!r}",
        )
        for path, reply in zip(paths, replies, strict=True)
        if reply["path"] != canonicalize_udf_path(path)
    ]
    _check_all(failures, len(paths), "udf paths")


# --- strategies: server messages -----------------------------------------------

_wire_values: Final = _convex_values.map(convex_to_json)
_log_lines: Final = st.lists(_strings, max_size=3).map(tuple)
_versions: Final = st.builds(StateVersion, query_set=_counts, identity=_counts, ts=_u64s)
_state_modifications: Final = st.one_of(
    st.builds(
        QueryUpdated,
        query_id=_counts,
        value=_wire_values,
        log_lines=_log_lines,
        journal=_optional_strings,
    ),
    st.builds(
        QueryFailed,
        query_id=_counts,
        error_message=_strings,
        log_lines=_log_lines,
        journal=_optional_strings,
        error_data=st.just(UNSET) | st.none() | _wire_values,
    ),
    st.builds(QueryRemoved, query_id=_counts),
)
_transitions: Final = st.builds(
    Transition,
    start_version=_versions,
    end_version=_versions,
    modifications=st.lists(_state_modifications, max_size=4).map(tuple),
    # i64 in the backend; the official client reads them as JS numbers.
    client_clock_skew=st.none() | _int64s,
    server_ts=st.none()
    | st.integers(0, _INT64_MAX)
    | st.sampled_from([0, _INT64_MAX, 1_700_000_000_123_456_789]),
)


@st.composite
def _transition_chunks(draw: st.DrawFn) -> TransitionChunk:
    text = encode_server_message(draw(_transitions))
    cuts = sorted(draw(st.sets(st.integers(1, len(text) - 1), max_size=3)))
    parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    number = draw(st.integers(0, len(parts) - 1))
    return TransitionChunk(
        chunk=parts[number],
        part_number=number,
        total_parts=len(parts),
        transition_id=str(len(text)),
    )


@st.composite
def _responses(draw: st.DrawFn) -> ServerMessage:
    request_id = draw(_counts)
    log_lines = draw(_log_lines)
    success = draw(st.booleans())
    result = draw(_wire_values) if success else draw(_strings)
    error_data = UNSET if success else draw(st.just(UNSET) | st.none() | _wire_values)
    if draw(st.booleans()):
        return ActionResponse(
            request_id=request_id,
            success=success,
            result=result,
            log_lines=log_lines,
            error_data=error_data,
        )
    return MutationResponse(
        request_id=request_id,
        success=success,
        result=result,
        # The backend's type lets a failure carry a ts too.
        ts=draw(_u64s) if success else draw(st.none() | _u64s),
        log_lines=log_lines,
        error_data=error_data,
    )


_server_messages: Final[st.SearchStrategy[ServerMessage]] = st.one_of(
    _transitions,
    _transition_chunks(),
    _responses(),
    st.builds(
        AuthError,
        error=_strings,
        base_version=st.none() | _counts,
        auth_update_attempted=st.none() | st.booleans(),
    ),
    st.builds(FatalError, error=_strings),
    st.just(Ping()),
)

# Frames our encoder does not write but a server may send.
_EDGE_SERVER_FRAMES: Final = [
    # u64 and base64 in the URL-safe alphabet; keys JS orders differently.
    '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
    '"endVersion":{"querySet":1,"identity":2,"ts":"__________8="},"modifications":['
    '{"type":"QueryUpdated","queryId":0,"value":{"10":1,"9":{"$integer":"_________38="},'
    '"a":[-0.0,1e300,12345678901234567890,{"$bytes":"-_8="}]},"logLines":["x"],"journal":null}],'
    '"clientClockSkew":null,"serverTs":null}',
    '{"type":"MutationResponse","requestId":3,"success":true,"result":null,"ts":"AAAAAAAAAIA=",'
    '"logLines":[]}',
    # A ConvexError whose data is null: the official client tells it from a plain error.
    '{"type":"ActionResponse","requestId":4,"success":false,"result":"Uncaught ConvexError",'
    '"logLines":[],"errorData":null}',
    '{"type":"MutationResponse","requestId":5,"success":false,"result":"Uncaught ConvexError",'
    '"ts":null,"logLines":[],"errorData":null}',
    '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
    '"endVersion":{"querySet":1,"identity":0,"ts":"AQAAAAAAAAA="},"modifications":['
    '{"type":"QueryFailed","queryId":0,"errorMessage":"Uncaught ConvexError","logLines":[],'
    '"journal":null,"errorData":null}]}',
]


def _ints_to_floats(x: Any) -> Any:
    """A JS parse has only numbers: our ints (queryId, …) compare as floats."""
    if isinstance(x, bool) or not isinstance(x, (int, list, tuple, dict)):
        return x
    if isinstance(x, int):
        return float(x)
    if isinstance(x, (list, tuple)):
        return [_ints_to_floats(item) for item in x]
    return {key: _ints_to_floats(value) for key, value in x.items()}


def _our_view(message: ServerMessage) -> Any:
    """Our parse in the oracle's shape, with json_to_convex on the value fields."""
    view = _without_nulls(_ints_to_floats(msgspec.to_builtins(message)))
    if isinstance(message, Transition):
        view["startVersion"]["ts"] = U64(message.start_version.ts)
        view["endVersion"]["ts"] = U64(message.end_version.ts)
        for mod_view, mod in zip(view["modifications"], message.modifications, strict=True):
            if isinstance(mod, QueryUpdated):
                mod_view["value"] = json_to_convex(mod.value)
            elif isinstance(mod, QueryFailed) and mod.error_data is not UNSET:
                mod_view["errorData"] = json_to_convex(mod.error_data)
    elif isinstance(message, (MutationResponse, ActionResponse)):
        if isinstance(message, MutationResponse) and message.ts is not None:
            # The official client decodes ts on success only; a failure keeps the text.
            view["ts"] = U64(message.ts) if message.success else encode_u64(message.ts)
        if message.success:
            view["result"] = json_to_convex(message.result)
        elif message.error_data is not UNSET:
            view["errorData"] = json_to_convex(message.error_data)
    return view


_NULL_IS_ABSENT: Final = frozenset(
    {"clientClockSkew", "serverTs", "journal", "ts", "baseVersion", "authUpdateAttempted"}
)
"""Fields where syncwire reads null and absent alike, as ``None``; the official
client keeps ``null`` and ``undefined`` apart (docs/protocol.md, "Absent vs null")."""


def _without_nulls(view: Any) -> Any:
    """``view`` without the ``_NULL_IS_ABSENT`` keys that hold null, in the message
    and in each of its modifications (never inside a value)."""
    if not isinstance(view, dict):
        return view
    for part in [view, *view.get("modifications", [])]:
        if isinstance(part, dict):
            for key in _NULL_IS_ABSENT & part.keys():
                if part[key] is None:
                    del part[key]
    return view


_MESSAGE_PARTS: Final = frozenset({"startVersion", "endVersion", "modifications"})


def _without_future_fields(view: Any) -> Any:
    """``view`` without the fields a newer backend may add (named ``future…`` in the
    shapes), in the message and its parts: the official client carries them along
    unread; syncwire drops them."""
    if isinstance(view, list):
        return [_without_future_fields(item) for item in view]
    if not isinstance(view, dict):
        return view
    return {
        key: _without_future_fields(value) if key in _MESSAGE_PARTS else value
        for key, value in view.items()
        if not key.startswith("future")
    }


def _official_view(reply: dict[str, Any]) -> Any:
    return _without_nulls(_without_future_fields(_from_transport(reply["message"])))


@pytest.mark.node
def test_server_messages_match_official_parser() -> None:
    node = require_node("the differential tests")
    frames = [encode_server_message(m) for m in _generate(_server_messages, SERVER_CASES)]
    frames += _EDGE_SERVER_FRAMES
    frames += [shape.frame for shape in SHAPES]
    replies = _run_oracle(node, [{"kind": "server", "text": frame} for frame in frames])
    types = {json.loads(frame)["type"] for frame in frames}
    assert len(types) == 7, types

    failures: list[Failure] = []
    for frame, reply in zip(frames, replies, strict=True):
        try:
            ours: Any = _our_view(parse_server_message(frame))
        except ProtocolError as exc:
            ours = exc
        if "error" in reply:
            found = ("the official client threw", f"{reply['error']}; ours: {_clip(ours)}")
        elif isinstance(ours, ProtocolError):
            found = ("we raised ProtocolError", str(ours))
        else:
            difference = _diff(_official_view(reply), ours)
            if difference is None:
                continue
            path, detail = difference
            found = (
                f"parse differs at {_kind_of_path(path)}",
                _clip(f"at {path}: {detail}", 300),
            )
        kind, detail = found
        failures.append((kind, len(frame), f"{detail}\n  frame: {_clip(frame)}"))
    _check_all(failures, len(frames), "server messages")


_HEAD: Final = (
    '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
    '"endVersion":{"querySet":1,"identity":0,"ts":"AQAAAAAAAAA="},"modifications":[]'
)
# Frames around the optional fields, beyond what any backend writes.
_SHAPES_REJECTED: Final = [
    # The official client decodes a success's ts and fails without one.
    '{"type":"MutationResponse","requestId":1,"success":true,"result":null,"logLines":[]}',
    '{"type":"MutationResponse","requestId":1,"success":true,"result":null,"ts":null,'
    '"logLines":[]}',
    '{"type":"Transition","modifications":[]}',
]
_SHAPES_ALLOWED_TO_DIFFER: Final = {
    # The official parser checks no field's type; syncwire checks each against
    # the backend's (the Rust client refuses these too).
    _HEAD + ',"clientClockSkew":-3.5}': "official keeps a float in an i64 field",
    _HEAD + ',"serverTs":1.7e18}': "official keeps a float in an i64 field",
    _HEAD + ',"serverTs":"1700000000"}': "official keeps a string in an i64 field",
    _HEAD + ',"serverTs":-1}': "official keeps a negative Timestamp",
    _HEAD + ',"clientClockSkew":9223372036854775808}': "official keeps a number beyond i64",
    '{"type":"AuthError","error":"e","baseVersion":0,"authUpdateAttempted":"yes"}': (
        "official keeps a string in a bool field"
    ),
    '{"type":"AuthError","error":"e","baseVersion":-1}': "official keeps a negative u32",
    _HEAD[:-1] + '{"type":"QueryUpdated","queryId":0,"value":1,"logLines":[],"journal":5}]}': (
        "official keeps a number in a string field"
    ),
    '{"type":"MutationResponse","requestId":1,"success":false,"result":"x","ts":5,'
    '"logLines":[]}': "official leaves a failure's ts unread",
}


@pytest.mark.node
def test_optional_fields_are_accepted_and_rejected_like_official() -> None:
    """Each backend shape is accepted by both; malformed ones as listed."""
    node = require_node("the differential tests")
    accepted = [shape.frame for shape in SHAPES]
    frames = [*accepted, *_SHAPES_REJECTED, *_SHAPES_ALLOWED_TO_DIFFER]
    replies = _run_oracle(node, [{"kind": "server", "text": frame} for frame in frames])

    failures: list[Failure] = []
    for frame, reply in zip(frames, replies, strict=True):
        try:
            parse_server_message(frame)
        except ProtocolError as exc:
            ours: object = _Rejected(str(exc))
        else:
            ours = "accepted"
        official = _Rejected(reply["error"]) if "error" in reply else "accepted"
        outcome = f"{_clip(frame, 200)}: official {official!r}, ours {ours!r}"
        agree = isinstance(ours, _Rejected) == isinstance(official, _Rejected)
        if frame in _SHAPES_ALLOWED_TO_DIFFER:
            if agree or not isinstance(ours, _Rejected):
                failures.append(("no longer differs as listed: update it", len(frame), outcome))
        elif not agree:
            failures.append(("accepted or rejected differently", len(frame), outcome))
        elif frame in _SHAPES_REJECTED and not isinstance(ours, _Rejected):
            failures.append(("both accept a malformed frame", len(frame), outcome))
        elif frame in accepted and isinstance(ours, _Rejected):
            failures.append(("both reject a backend's shape", len(frame), outcome))
    _check_all(failures, len(frames), "frames")


# Wire values both parsers must accept alike or reject alike, in a success
# ActionResponse's result; and where they may differ, why.
_WIRE_VALUES_ACCEPTED: Final = [
    '{"$integer":"AQAAAAAAAAA="}',
    '{"$integer":"_________38="}',  # URL-safe alphabet
    '{"$float":"AAAAAAAA+H8="}',
    '{"$float":"AAAAAAAAAIA="}',
    '{"$bytes":""}',
    '{"$bytes":"AQ=="}',
    '{"$bytes":"-_8="}',
    '{"$commitTs":null}',
    '{"":1,"a b":[true,null,"x"],"10":2,"9":3}',
    '{"a":1,"a":2}',  # duplicate keys: the last one wins
    "[1,2.5,-0.0,1e300,12345678901234567890,5e-324]",
]
_WIRE_VALUES_REJECTED: Final = [
    '{"$integer":"AQAAAAAAAA=="}',  # 7 bytes
    '{"$integer":"AQAAAAAAAAA"}',  # length not a multiple of 4
    '{"$integer":5}',
    '{"$float":"AAAAAAAA8D8="}',  # 1.0 must be a JSON number
    '{"$float":"AAAAAAAA"}',
    '{"$bytes":5}',
    '{"$bytes":"AQ="}',
    '{"$bytes":"=AQI"}',
    '{"$commitTs":1}',
    '{"$set":[]}',
    '{"$map":[]}',
    '{"$foo":1}',
    '{"a":1,"$b":2}',
    '{"$bytes":"AQID","x":1}',
    '{"a":{"é":1}}',
    '{"a\\u007f":1}',
    '{"a\\u001f":1}',
    '{"' + "k" * 1025 + '":1}',
]
_WIRE_VALUES_ALLOWED_TO_DIFFER: Final = {
    # base64-js ignores what is not base64; we refuse it.
    '{"$bytes":"AQ!D"}': "official reads invalid base64 characters as zero bits",
    '{"$integer":"AQAAAAAA AA="}': "official reads invalid base64 characters as zero bits",
    '{"$bytes":"A==="}': "official accepts impossible padding",
    '{"$bytes":"AQI=AQI="}': "official accepts padding mid-string",
    # JSON numbers no Convex server writes (it sends NaN, ±inf and -0 as $float).
    "1e400": "official reads Infinity; msgspec refuses an out-of-range number",
    "-0": "official reads -0; msgspec reads the integer 0, so we get 0.0",
    # The official jsonToConvex assigns into a plain object: "__proto__" is lost.
    '{"__proto__":1}': "official drops the field",
}


@dataclass(frozen=True)
class _Rejected:
    reason: str


def _agree(official: object, ours: object) -> bool:
    if isinstance(official, _Rejected) or isinstance(ours, _Rejected):
        return isinstance(official, _Rejected) and isinstance(ours, _Rejected)
    return _diff(official, ours) is None


@pytest.mark.node
def test_value_decoding_accepts_and_rejects_like_official() -> None:
    node = require_node("the differential tests")
    values = [*_WIRE_VALUES_ACCEPTED, *_WIRE_VALUES_REJECTED, *_WIRE_VALUES_ALLOWED_TO_DIFFER]
    frames = [
        f'{{"type":"ActionResponse","requestId":0,"success":true,"result":{value},"logLines":[]}}'
        for value in values
    ]
    replies = _run_oracle(node, [{"kind": "server", "text": frame} for frame in frames])

    failures: list[Failure] = []
    for value, frame, reply in zip(values, frames, replies, strict=True):
        try:
            ours: object = _our_view(parse_server_message(frame))["result"]
        except ProtocolError as exc:
            ours = _Rejected(str(exc))
        official = (
            _Rejected(reply["error"]) if "error" in reply else _official_view(reply)["result"]
        )
        outcome = f"{_clip(value, 80)}: official {official!r}, ours {ours!r}"
        agree = _agree(official, ours)
        if value in _WIRE_VALUES_ALLOWED_TO_DIFFER:
            if agree:
                failures.append(("no longer differs: update the list", len(value), outcome))
        elif not agree:
            failures.append(("accepted or rejected differently", len(value), outcome))
        elif value in _WIRE_VALUES_ACCEPTED and isinstance(ours, _Rejected):
            failures.append(("both reject a valid value", len(value), outcome))
        elif value in _WIRE_VALUES_REJECTED and not isinstance(ours, _Rejected):
            failures.append(("both accept an invalid value", len(value), outcome))
    _check_all(failures, len(values), "wire values")
