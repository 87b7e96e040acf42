"""Every shape the Convex backend's serializer writes: one ``Shape`` a row, in ``SHAPES``.

The ``rust`` column is the field's type where the backend defines the frame:
``ServerMessage`` and ``StateModification`` in
``crates/convex/sync_types/src/types/mod.rs`` and their JSON form in
``crates/convex/sync_types/src/types/json.rs`` (get-convex/convex-backend), the
Convex backend's serializer (its parser, ``ServerMessageJson`` in json.rs, is
the Rust client's). Rows marked "older backend" are what backends wrote before
a field existed; rows marked "Rust parser" are shapes the serializer does not
write but the Rust client's parser (and the JS one) accepts.

``test_backend_shapes.py`` reads every row as syncwire reads it;
``test_differential.py`` has the official client read them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from syncwire.protocol import UNSET
from syncwire.protocol import ActionResponse
from syncwire.protocol import AuthError
from syncwire.protocol import FatalError
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import ServerMessage
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk

I64_MAX = 2**63 - 1
U32_MAX = 2**32 - 1
_TS_ZERO = '"AAAAAAAAAAA="'
_TS_I64_MAX = '"/////////38="'  # Timestamp::MAX, the largest ts a backend writes


def _version(query_set: int = 0, identity: int = 0, ts: str = _TS_ZERO, extra: str = "") -> str:
    return f'{{"querySet":{query_set},"identity":{identity},"ts":{ts}{extra}}}'


def _transition(modifications: str = "[]", tail: str = "", **versions: Any) -> str:
    return (
        '{"type":"Transition","startVersion":'
        + _version()
        + ',"endVersion":'
        + _version(**versions)
        + ',"modifications":'
        + modifications
        + tail
        + "}"
    )


_UPDATED = '{"type":"QueryUpdated","queryId":3,"value":{"n":418},"logLines":["[LOG] \'x\'"],'


@dataclass(frozen=True)
class Shape:
    name: str
    rust: str
    """The field's Rust type, and where (json.rs unless said otherwise)."""
    frame: str
    kind: type[ServerMessage]
    holds: dict[str, object] = field(default_factory=dict)
    """Attribute path on the parsed message → the value it must have."""


SHAPES = [
    # --- Transition ------------------------------------------------------------------------
    Shape(
        "transition-timed",
        "clientClockSkew: Option<i64>, serverTs: Option<Timestamp> written as i64 "
        "(json.rs, From<ServerMessage> Transition; mod.rs, ServerMessage::Transition)",
        _transition(tail=',"clientClockSkew":-418,"serverTs":1700000000123456789'),
        Transition,
        {"client_clock_skew": -418, "server_ts": 1_700_000_000_123_456_789},
    ),
    Shape(
        "transition-timing-extremes",
        "clientClockSkew: Option<i64> (any sign), serverTs: Timestamp ≤ i64::MAX (timestamp.rs)",
        _transition(tail=f',"clientClockSkew":{-(2**63)},"serverTs":{I64_MAX}'),
        Transition,
        {"client_clock_skew": -(2**63), "server_ts": I64_MAX},
    ),
    Shape(
        "transition-timing-null",
        "clientClockSkew/serverTs: Option<…> None → JsonValue::from(None) = null (json.rs)",
        _transition(tail=',"clientClockSkew":null,"serverTs":null'),
        Transition,
        {"client_clock_skew": None, "server_ts": None},
    ),
    Shape(
        "transition-timing-absent",
        "older backend: Transition had no clientClockSkew/serverTs; "
        "ServerMessageJson reads them as Option<i64> (absent → None)",
        _transition(),
        Transition,
        {"client_clock_skew": None, "server_ts": None},
    ),
    Shape(
        "transition-versions",
        "querySet: QuerySetVersion = u32, identity: IdentityVersion = u32, "
        "ts: Timestamp as u64_to_string (json.rs, From<StateVersion>)",
        _transition(query_set=U32_MAX, identity=U32_MAX, ts=_TS_I64_MAX),
        Transition,
        {
            "end_version.query_set": U32_MAX,
            "end_version.identity": U32_MAX,
            "end_version.ts": I64_MAX,
        },
    ),
    Shape(
        "query-updated-journal-null",
        "QueryUpdated.journal: SerializedQueryJournal = Option<String>, always written "
        "(json.rs, From<StateModification>); queryId: QueryId(u32)",
        _transition("[" + _UPDATED + '"journal":null}]'),
        Transition,
        {"modifications[0].journal": None, "modifications[0].query_id": 3},
    ),
    Shape(
        "query-updated-journal-text",
        "QueryUpdated.journal: Option<String> Some",
        _transition("[" + _UPDATED + '"journal":"j1"}]'),
        Transition,
        {"modifications[0].journal": "j1", "modifications[0].value": {"n": 418}},
    ),
    Shape(
        "query-updated-journal-absent",
        "Rust parser: StateModificationJson journal: SerializedQueryJournal (Option) "
        "reads an absent field as None",
        _transition("[" + _UPDATED.rstrip(",") + "}]"),
        Transition,
        {"modifications[0].journal": None},
    ),
    Shape(
        "query-failed-plain",
        "QueryFailed: errorMessage: String, journal: Option<String>, error_data: Option<V> "
        "None → no errorData key (json.rs, From<StateModification>)",
        _transition(
            '[{"type":"QueryFailed","queryId":4,"errorMessage":"boom","logLines":[],'
            '"journal":null}]'
        ),
        Transition,
        {"modifications[0].error_data": UNSET, "modifications[0].journal": None},
    ),
    Shape(
        "query-failed-error-data-null",
        "QueryFailed.error_data: Option<V> Some(null) → errorData: null (deserialize_some)",
        _transition(
            '[{"type":"QueryFailed","queryId":4,"errorMessage":"boom","logLines":[],'
            '"journal":"j","errorData":null}]'
        ),
        Transition,
        {"modifications[0].error_data": None},
    ),
    Shape(
        "query-failed-error-data",
        "QueryFailed.error_data: Option<V> Some(value)",
        _transition(
            '[{"type":"QueryFailed","queryId":4,"errorMessage":"boom","logLines":[],'
            '"journal":null,"errorData":{"code":7}}]'
        ),
        Transition,
        {"modifications[0].error_data": {"code": 7}},
    ),
    Shape(
        "query-removed",
        "QueryRemoved { query_id: QueryId(u32) }",
        _transition(f'[{{"type":"QueryRemoved","queryId":{U32_MAX}}}]'),
        Transition,
        {"modifications[0].query_id": U32_MAX},
    ),
    # --- TransitionChunk -------------------------------------------------------------------
    Shape(
        "transition-chunk",
        "chunk: String, partNumber: u32, totalParts: u32, transitionId: String",
        '{"type":"TransitionChunk","chunk":"{\\"ty","partNumber":4294967294,'
        '"totalParts":4294967295,"transitionId":"t-1"}',
        TransitionChunk,
        {"part_number": U32_MAX - 1, "total_parts": U32_MAX},
    ),
    # --- MutationResponse ------------------------------------------------------------------
    Shape(
        "mutation-ok",
        "requestId: SessionRequestSeqNumber = u32, ts: Option<Timestamp> as u64_to_string",
        '{"type":"MutationResponse","requestId":4294967295,"success":true,"result":{"n":1},'
        '"ts":' + _TS_I64_MAX + ',"logLines":["[LOG] \'ok\'"]}',
        MutationResponse,
        {"request_id": U32_MAX, "ts": I64_MAX},
    ),
    Shape(
        "mutation-failed-ts-null",
        "ts: Option<Timestamp> None → ts.map(u64_to_string) = null, always written",
        '{"type":"MutationResponse","requestId":1,"success":false,"result":"nope","ts":null,'
        '"logLines":[]}',
        MutationResponse,
        {"ts": None, "error_data": UNSET},
    ),
    Shape(
        "mutation-failed-ts-absent",
        "Rust parser: ServerMessageJson::MutationResponse ts: Option<String> (absent → None)",
        '{"type":"MutationResponse","requestId":1,"success":false,"result":"nope","logLines":[]}',
        MutationResponse,
        {"ts": None},
    ),
    Shape(
        "mutation-failed-with-ts",
        "ts: Option<Timestamp> is not tied to the result: Err with Some(ts) is written too",
        '{"type":"MutationResponse","requestId":1,"success":false,"result":"nope",'
        '"ts":"AQAAAAAAAAA=","logLines":[]}',
        MutationResponse,
        {"ts": 1, "success": False},
    ),
    Shape(
        "mutation-failed-error-data",
        "ErrorPayload::ErrorData { message, data } → result: message, errorData: data",
        '{"type":"MutationResponse","requestId":1,"success":false,"result":"Uncaught ConvexError",'
        '"ts":null,"logLines":[],"errorData":{"code":"E1"}}',
        MutationResponse,
        {"error_data": {"code": "E1"}},
    ),
    # --- ActionResponse --------------------------------------------------------------------
    Shape(
        "action-ok",
        "ActionResponse { request_id: u32, result: Ok(V), log_lines } (no ts)",
        '{"type":"ActionResponse","requestId":4294967295,"success":true,"result":[1,2.5],'
        '"logLines":[]}',
        ActionResponse,
        {"request_id": U32_MAX, "result": [1, 2.5]},
    ),
    Shape(
        "action-failed-error-data-null",
        "ErrorPayload::ErrorData with data null → errorData: null",
        '{"type":"ActionResponse","requestId":2,"success":false,"result":"Uncaught ConvexError",'
        '"logLines":[],"errorData":null}',
        ActionResponse,
        {"error_data": None},
    ),
    # --- AuthError -------------------------------------------------------------------------
    Shape(
        "auth-error-attempted",
        "authUpdateAttempted: Option<bool> Some → written; baseVersion: Option<IdentityVersion>",
        '{"type":"AuthError","error":"Token expired","baseVersion":4294967295,'
        '"authUpdateAttempted":true}',
        AuthError,
        {"base_version": U32_MAX, "auth_update_attempted": True},
    ),
    Shape(
        "auth-error-not-attempted",
        "authUpdateAttempted: Option<bool> Some(false)",
        '{"type":"AuthError","error":"Token expired","baseVersion":1,"authUpdateAttempted":false}',
        AuthError,
        {"auth_update_attempted": False},
    ),
    Shape(
        "auth-error-attempt-unknown",
        "authUpdateAttempted: Option<bool> None → not written (json.rs, AuthError); "
        "older backend: the field did not exist",
        '{"type":"AuthError","error":"Token expired","baseVersion":0}',
        AuthError,
        {"base_version": 0, "auth_update_attempted": None},
    ),
    Shape(
        "auth-error-no-base-version",
        "baseVersion: Option<IdentityVersion> None → null, always written",
        '{"type":"AuthError","error":"Token expired","baseVersion":null,'
        '"authUpdateAttempted":false}',
        AuthError,
        {"base_version": None},
    ),
    Shape(
        "auth-error-base-version-absent",
        "Rust parser: ServerMessageJson::AuthError base_version: Option<IdentityVersion> "
        "(absent → None)",
        '{"type":"AuthError","error":"Token expired"}',
        AuthError,
        {"base_version": None, "auth_update_attempted": None},
    ),
    # --- FatalError, Ping ------------------------------------------------------------------
    Shape(
        "fatal-error",
        "FatalError { error_message: String } → error",
        '{"type":"FatalError","error":"BaseVersionMismatch"}',
        FatalError,
        {"error": "BaseVersionMismatch"},
    ),
    Shape("ping", "Ping → {type} only", '{"type":"Ping"}', Ping),
    # --- forward compatibility: fields a newer backend may add are ignored -----------------
    # (serde ignores unknown fields unless told otherwise, and no type here is.)
    Shape(
        "future-fields-in-a-transition",
        "unknown fields at every level: Transition, StateVersion, each StateModification",
        '{"type":"Transition","futureA":1,"startVersion":'
        + _version(extra=',"futureB":[2]')
        + ',"endVersion":'
        + _version(1, 1, '"6AMAAAAAAAA="', ',"futureC":{"x":3}')
        + ',"modifications":['
        + _UPDATED
        + '"journal":null,"futureD":4},{"type":"QueryFailed","queryId":5,"errorMessage":"e",'
        '"logLines":[],"journal":null,"futureE":5},{"type":"QueryRemoved","queryId":6,'
        '"futureF":6}],"clientClockSkew":7,"serverTs":8,"futureG":9}',
        Transition,
        {"end_version.ts": 1000, "client_clock_skew": 7, "server_ts": 8},
    ),
    Shape(
        "future-fields-in-a-chunk",
        "unknown field in TransitionChunk",
        '{"type":"TransitionChunk","chunk":"x","partNumber":0,"totalParts":1,'
        '"transitionId":"t","futureA":1}',
        TransitionChunk,
    ),
    Shape(
        "future-fields-in-a-mutation-response",
        "unknown field in MutationResponse",
        '{"type":"MutationResponse","requestId":1,"success":true,"result":null,'
        '"ts":"AQAAAAAAAAA=","logLines":[],"futureA":1}',
        MutationResponse,
    ),
    Shape(
        "future-fields-in-an-action-response",
        "unknown field in ActionResponse",
        '{"type":"ActionResponse","requestId":1,"success":true,"result":null,"logLines":[],'
        '"futureA":1}',
        ActionResponse,
    ),
    Shape(
        "future-fields-in-an-auth-error",
        "unknown field in AuthError",
        '{"type":"AuthError","error":"e","baseVersion":0,"futureA":1}',
        AuthError,
    ),
    Shape(
        "future-fields-in-a-fatal-error",
        "unknown field in FatalError",
        '{"type":"FatalError","error":"e","futureA":1}',
        FatalError,
    ),
    Shape("future-fields-in-a-ping", "Ping {} ignores fields", '{"type":"Ping","futureA":1}', Ping),
]
