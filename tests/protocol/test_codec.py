"""Every message type to and from the wire, golden frames, and every way to be malformed."""

from __future__ import annotations

import json
import time

import pytest

from syncwire.protocol import Action
from syncwire.protocol import ActionResponse
from syncwire.protocol import Authenticate
from syncwire.protocol import AuthError
from syncwire.protocol import ClientMessage
from syncwire.protocol import Connect
from syncwire.protocol import ConvexInt64
from syncwire.protocol import Event
from syncwire.protocol import FatalError
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import ProtocolError
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
from syncwire.protocol import encode_client_message
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message

SESSION = "17952c07-069d-4a24-a0c3-504128e686fe"

# --- golden frames captured from the official client (docs/protocol.md#first-frames) ---

CAPTURED_FIRST_FRAMES = [
    (
        '{"connectionCount":0,"lastCloseReason":"InitialConnect","clientTs":1795662562971,'
        '"type":"Connect","sessionId":"17952c07-069d-4a24-a0c3-504128e686fe"}',
        Connect(
            connection_count=0,
            last_close_reason="InitialConnect",
            client_ts=1795662562971,
            session_id=SESSION,
        ),
    ),
    (
        '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add",'
        '"queryId":0,"udfPath":"messages:list","args":[{"channel":"general",'
        '"n":{"$integer":"BQAAAAAAAAA="}}]}]}',
        ModifyQuerySet(
            base_version=0,
            new_version=1,
            modifications=(
                QueryAdd(
                    query_id=0,
                    udf_path="messages:list",
                    args={"channel": "general", "n": ConvexInt64(5)},
                ),
            ),
        ),
    ),
    (
        '{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi"}]}',
        Mutation(request_id=0, udf_path="messages:send", args={"body": "hi"}),
    ),
    (
        '{"connectionCount":1,"lastCloseReason":"InternalServerError: test restart",'
        '"clientTs":1795662563000,"type":"Connect",'
        '"sessionId":"17952c07-069d-4a24-a0c3-504128e686fe","maxObservedTimestamp":"uAsAAAAAAAA="}',
        Connect(
            connection_count=1,
            last_close_reason="InternalServerError: test restart",
            client_ts=1795662563000,
            session_id=SESSION,
            max_observed_timestamp=3000,
        ),
    ),
]


@pytest.mark.parametrize(("frame", "message"), CAPTURED_FIRST_FRAMES)
def test_captured_official_frames(frame: str, message: ClientMessage) -> None:
    ours = encode_client_message(message)
    # Same JSON as the official client; only the top-level key order may differ.
    assert json.loads(ours) == json.loads(frame)
    assert parse_client_message(frame) == message


# --- our exact encodings, one per message type ------------------------------

CLIENT_GOLDEN: list[tuple[ClientMessage, str]] = [
    (
        Connect(connection_count=2, last_close_reason=None, client_ts=5, session_id="s"),
        '{"type":"Connect","connectionCount":2,"lastCloseReason":null,"clientTs":5,"sessionId":"s"}',
    ),
    (
        ModifyQuerySet(
            base_version=1,
            new_version=2,
            modifications=(
                QueryAdd(
                    query_id=3,
                    udf_path=canonicalize_udf_path("messages.js"),
                    args={},
                    journal="j",
                    component_path="c",
                ),
                QueryRemove(query_id=1),
            ),
        ),
        '{"type":"ModifyQuerySet","baseVersion":1,"newVersion":2,"modifications":['
        '{"type":"Add","queryId":3,"udfPath":"messages:default","args":[{}],"journal":"j",'
        '"componentPath":"c"},{"type":"Remove","queryId":1}]}',
    ),
    (
        Action(request_id=7, udf_path="a:b", component_path="comp", args={"x": [1.5, None]}),
        '{"type":"Action","requestId":7,"udfPath":"a:b","componentPath":"comp","args":[{"x":[1.5,null]}]}',
    ),
    (
        Authenticate(base_version=0, token_type="User", value="jwt"),
        '{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"jwt"}',
    ),
    (
        Authenticate(
            base_version=1, token_type="Admin", value="key", impersonating={"subject": "u"}
        ),
        '{"type":"Authenticate","baseVersion":1,"tokenType":"Admin","value":"key",'
        '"impersonating":{"subject":"u"}}',
    ),
    (
        Authenticate(base_version=2, token_type="None"),
        '{"type":"Authenticate","baseVersion":2,"tokenType":"None"}',
    ),
    (
        Event(
            event_type="ClientReceivedTransition",
            event={"transitionTransitTime": 2500.0, "messageLength": 10},
        ),
        '{"type":"Event","eventType":"ClientReceivedTransition",'
        '"event":{"transitionTransitTime":2500,"messageLength":10}}',
    ),
]


@pytest.mark.parametrize(("message", "frame"), CLIENT_GOLDEN)
def test_client_message_golden(message: ClientMessage, frame: str) -> None:
    assert encode_client_message(message) == frame
    assert parse_client_message(frame) == message


SERVER_GOLDEN: list[tuple[ServerMessage, str]] = [
    (
        Transition(
            start_version=StateVersion(query_set=0, identity=0, ts=0),
            end_version=StateVersion(query_set=1, identity=0, ts=1000),
            modifications=(
                QueryUpdated(
                    query_id=0, value=[{"body": "hi"}], log_lines=("[LOG] 'x'",), journal=None
                ),
                QueryFailed(
                    query_id=1,
                    error_message="boom",
                    log_lines=(),
                    journal="j",
                    error_data={"code": 1},
                ),
                QueryRemoved(query_id=2),
            ),
            client_clock_skew=-25,
            server_ts=1_700_000_000_123_456_789,
        ),
        '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
        '"endVersion":{"querySet":1,"identity":0,"ts":"6AMAAAAAAAA="},"modifications":['
        '{"type":"QueryUpdated","queryId":0,"value":[{"body":"hi"}],"logLines":["[LOG] \'x\'"],'
        '"journal":null},{"type":"QueryFailed","queryId":1,"errorMessage":"boom","logLines":[],'
        '"journal":"j","errorData":{"code":1}},{"type":"QueryRemoved","queryId":2}],'
        '"clientClockSkew":-25,"serverTs":1700000000123456789}',
    ),
    (
        TransitionChunk(chunk='{"ty', part_number=0, total_parts=2, transition_id="123"),
        '{"type":"TransitionChunk","chunk":"{\\"ty","partNumber":0,"totalParts":2,"transitionId":"123"}',
    ),
    (
        MutationResponse(request_id=4, success=True, result=None, ts=2**32, log_lines=()),
        '{"type":"MutationResponse","requestId":4,"success":true,"result":null,'
        '"ts":"AAAAAAEAAAA=","logLines":[]}',
    ),
    (
        MutationResponse(
            request_id=4, success=False, result="bad", ts=None, log_lines=(), error_data="d"
        ),
        '{"type":"MutationResponse","requestId":4,"success":false,"result":"bad","ts":null,'
        '"logLines":[],"errorData":"d"}',
    ),
    (
        ActionResponse(request_id=5, success=True, result={"a": 1}, log_lines=("l",)),
        '{"type":"ActionResponse","requestId":5,"success":true,"result":{"a":1},"logLines":["l"]}',
    ),
    (
        AuthError(error="expired", base_version=None, auth_update_attempted=True),
        '{"type":"AuthError","error":"expired","baseVersion":null,"authUpdateAttempted":true}',
    ),
    (
        # As a backend writes it when it does not know (and before the field existed).
        AuthError(error="expired", base_version=3),
        '{"type":"AuthError","error":"expired","baseVersion":3}',
    ),
    (
        FatalError(error="BaseVersionMismatch"),
        '{"type":"FatalError","error":"BaseVersionMismatch"}',
    ),
    (Ping(), '{"type":"Ping"}'),
]


@pytest.mark.parametrize(("message", "frame"), SERVER_GOLDEN)
def test_server_message_golden(message: ServerMessage, frame: str) -> None:
    assert encode_server_message(message) == frame
    assert parse_server_message(frame) == message
    assert parse_server_message(frame.encode()) == message


def test_unknown_fields_from_a_newer_server_are_ignored() -> None:
    assert parse_server_message('{"type":"Ping","since":"v2"}') == Ping()


def test_encoding_leaves_the_message_unchanged() -> None:
    message = Mutation(request_id=1, udf_path="a:b", args={"n": ConvexInt64(1)})
    encode_client_message(message)
    assert message.args == {"n": ConvexInt64(1)}


# --- udf paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("mod", "mod:default"),
        ("mod:fn", "mod:fn"),
        ("a.js:b", "a:b"),
        ("dir/a.js", "dir/a:default"),
        ("dir/a:b", "dir/a:b"),
        ("a.js:b:c", "a.js:b:c"),  # the last colon splits, as in the official client
        ("a:b.js:c", "a:b:c"),
    ],
)
def test_query_paths_are_canonicalized(given: str, canonical: str) -> None:
    assert canonicalize_udf_path(given) == canonical


def test_query_adds_carry_the_path_as_given_both_ways() -> None:
    """Canonicalizing is not idempotent, so decoding must not do it again."""
    add = QueryAdd(query_id=0, udf_path="a.js.js:f", args={})
    assert canonicalize_udf_path(canonicalize_udf_path(add.udf_path)) == "a:f"
    decoded = parse_client_message(
        encode_client_message(ModifyQuerySet(base_version=0, new_version=1, modifications=(add,)))
    )
    assert isinstance(decoded, ModifyQuerySet)
    assert decoded.modifications == (add,)


def test_mutation_paths_are_sent_as_given() -> None:
    frame = encode_client_message(Mutation(request_id=0, udf_path="a.js", args={}))
    assert '"udfPath":"a.js"' in frame


# --- integers stay integers --------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Mutation(request_id=1.0, udf_path="a:b", args={}),  # type: ignore[arg-type]
        Connect(connection_count=True, last_close_reason=None, client_ts=1, session_id="s"),
        Connect(connection_count=0, last_close_reason=None, client_ts=1.5, session_id="s"),  # type: ignore[arg-type]
        ModifyQuerySet(
            base_version=0,
            new_version=1,
            modifications=(QueryRemove(query_id=2.0),),  # type: ignore[arg-type]
        ),
    ],
)
def test_a_float_in_an_integer_field_is_refused_before_it_is_sent(message: ClientMessage) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        encode_client_message(message)


def test_server_integer_fields_are_checked_too() -> None:
    bad = Transition(
        start_version=StateVersion(query_set=0, identity=0, ts=0),
        end_version=StateVersion(query_set=1.0, identity=0, ts=1),  # type: ignore[arg-type]
        modifications=(),
    )
    with pytest.raises(TypeError, match=r"StateVersion\.query_set"):
        encode_server_message(bad)
    with pytest.raises(TypeError, match="u64"):
        encode_server_message(
            MutationResponse(request_id=0, success=True, result=None, ts=1.0, log_lines=())  # type: ignore[arg-type]
        )


def _timed(skew: object, server_ts: object) -> Transition:
    version = StateVersion(query_set=0, identity=0, ts=0)
    return Transition(
        start_version=version,
        end_version=version,
        modifications=(),
        client_clock_skew=skew,  # type: ignore[arg-type]
        server_ts=server_ts,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("skew", "server_ts", "field"),
    [(-3.5, 1, "client_clock_skew"), (0, 1.7e18, "server_ts"), (True, 1, "client_clock_skew")],
)
def test_timing_fields_are_written_as_integers_only(
    skew: object, server_ts: object, field: str
) -> None:
    with pytest.raises(TypeError, match=rf"Transition\.{field} must be an int"):
        encode_server_message(_timed(skew, server_ts))


@pytest.mark.parametrize(
    "message",
    [
        Transition(
            start_version=StateVersion(query_set=0, identity=0, ts=0),
            end_version=StateVersion(query_set=0, identity=0, ts=0),
            modifications=(QueryRemoved(query_id=-1),),
        ),
        TransitionChunk(chunk="x", part_number=0, total_parts=0, transition_id="t"),
        AuthError(error="e", base_version=-1),
        MutationResponse(request_id=-1, success=False, result="e", log_lines=()),
        _timed(2**63, 1),
        _timed(0, -1),
        _timed(0, 2**63),
    ],
)
def test_integers_out_of_the_fields_range_are_refused_before_they_are_sent(
    message: ServerMessage,
) -> None:
    with pytest.raises(ValueError, match=r"\.\w+ is out of range: it must be (an|a signed)"):
        encode_server_message(message)


def test_a_timing_round_trip_keeps_every_nanosecond() -> None:
    frame = encode_server_message(_timed(-(2**63), 2**63 - 1))
    assert frame.endswith('"clientClockSkew":-9223372036854775808,"serverTs":9223372036854775807}')
    parsed = parse_server_message(frame)
    assert isinstance(parsed, Transition)
    assert (parsed.client_clock_skew, parsed.server_ts) == (-(2**63), 2**63 - 1)
    assert encode_server_message(parsed) == frame


# --- the Authenticate token is a secret --------------------------------------


def test_authenticate_never_shows_its_token() -> None:
    token = "eyJhbGciOi.SENTINEL-TOKEN.sig"
    message = Authenticate(base_version=0, token_type="User", value=token)
    for text in (repr(message), str(message), f"{message}", repr([message])):
        assert "SENTINEL" not in text
    assert "redacted" in repr(message)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token_type": "User"},
        {"token_type": "Admin"},
        {"token_type": "None", "value": "x"},
        {"token_type": "User", "value": "x", "impersonating": {"subject": "u"}},
    ],
)
def test_authenticate_variants_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"Authenticate|impersonate"):
        Authenticate(base_version=0, **kwargs)  # type: ignore[arg-type]


# --- malformed frames ----------------------------------------------------------
#
# Each case names syncwire's own reason (after "malformed server message: "):
# which message the frame claims to be, where, and what syncwire expected there.

_OK_VERSION = '{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="}'
_TRANSITION_HEAD = (
    '{"type":"Transition","startVersion":' + _OK_VERSION + ',"endVersion":' + _OK_VERSION
)
_ONE_UPDATE = '[{"type":"QueryUpdated","queryId":0,"value":1,"logLines":[],"journal":null}]'
_U64_ZERO = '"AAAAAAAAAAA="'

MALFORMED_SERVER_FRAMES: list[tuple[str | bytes, str]] = [
    ("not json", "not valid JSON"),
    (b"\xff\xfe", "invalid UTF-8 at byte 0"),
    ("", "not valid JSON"),
    ("[]", "`$` must be an object, not an array"),
    ("null", "`$` must be an object, not null"),
    ('{"no":"type"}', "`$.type` is missing"),
    ('{"type":"Nope"}', "`$.type` is not a type syncwire accepts here"),
    ('{"type":7}', "`$.type` must be a string, not an integer"),
    ('{"type":"FatalError"}', "FatalError: `$.error` is missing"),
    ('{"type":"FatalError","error":5}', "FatalError: `$.error` must be a string, not an integer"),
    (
        '{"type":"MutationResponse","requestId":1.0,"success":true,"result":null,'
        '"ts":' + _U64_ZERO + ',"logLines":[]}',
        "MutationResponse: `$.requestId` must be an integer ≥ 0, not a float",
    ),
    (
        '{"type":"MutationResponse","requestId":-1,"success":true,"result":null,'
        '"ts":' + _U64_ZERO + ',"logLines":[]}',
        "MutationResponse: `$.requestId` is out of range: it must be an integer ≥ 0",
    ),
    (
        '{"type":"MutationResponse","requestId":1,"success":true,"result":null,'
        '"ts":"AAAA","logLines":[]}',
        "MutationResponse: `$.ts`: u64 has 3 bytes, expected 8",
    ),
    (
        '{"type":"MutationResponse","requestId":1,"success":true,"result":null,'
        '"ts":null,"logLines":[]}',
        "MutationResponse: a successful MutationResponse needs ts",
    ),
    (
        '{"type":"MutationResponse","requestId":1,"success":true,"result":null,"logLines":[]}',
        "MutationResponse: a successful MutationResponse needs ts",
    ),
    (
        '{"type":"MutationResponse","requestId":1,"success":false,"result":{},'
        '"ts":null,"logLines":[]}',
        "MutationResponse: a failed response's result must be the error message (a string)",
    ),
    (
        '{"type":"MutationResponse","requestId":1,"success":"yes","result":"x","logLines":[]}',
        "MutationResponse: `$.success` must be a boolean, not a string",
    ),
    (
        '{"type":"ActionResponse","requestId":1,"success":false,"result":null,"logLines":[]}',
        "ActionResponse: a failed response's result must be the error message (a string)",
    ),
    (
        '{"type":"ActionResponse","requestId":1,"success":true,"result":1,"logLines":["a",2]}',
        "ActionResponse: `$.logLines[1]` must be a string, not an integer",
    ),
    (
        '{"type":"ActionResponse","requestId":1,"success":true,"result":1}',
        "ActionResponse: `$.logLines` is missing",
    ),
    (
        '{"type":"Transition","startVersion":' + _OK_VERSION + ',"endVersion":'
        '{"querySet":0,"identity":0,"ts":5},"modifications":[]}',
        "Transition: `$.endVersion.ts` must be a u64 as base64 text, not an integer",
    ),
    (
        '{"type":"Transition","startVersion":' + _OK_VERSION + ',"endVersion":'
        '{"querySet":0,"identity":0,"ts":"AAAA"},"modifications":[]}',
        "Transition: `$.endVersion.ts`: u64 has 3 bytes, expected 8",
    ),
    (
        '{"type":"Transition","startVersion":{"querySet":0,"ts":' + _U64_ZERO + "},"
        '"endVersion":' + _OK_VERSION + ',"modifications":[]}',
        "Transition: `$.startVersion.identity` is missing",
    ),
    (
        '{"type":"Transition","startVersion":[],"endVersion":' + _OK_VERSION + ","
        '"modifications":[]}',
        "Transition: `$.startVersion` must be an object, not an array",
    ),
    (_TRANSITION_HEAD + "}", "Transition: `$.modifications` is missing"),
    (
        _TRANSITION_HEAD + ',"modifications":{}}',
        "Transition: `$.modifications` must be an array, not an object",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":[{"type":"Mystery","queryId":0}]}',
        "Transition: `$.modifications[0].type` is not a type syncwire accepts here",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":[{"type":"QueryUpdated","queryId":0,"value":1,'
        '"logLines":[],"journal":5}]}',
        "Transition: `$.modifications[0].journal` must be a string or null, not an integer",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":[{"type":"QueryUpdated","queryId":0,'
        '"logLines":[],"journal":null}]}',
        "Transition: `$.modifications[0].value` is missing",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":[{"type":"QueryFailed","queryId":0,"logLines":[]}]}',
        "Transition: `$.modifications[0].errorMessage` is missing",
    ),
    # The timing fields are i64 in the backend; a float is refused as in every
    # integer field (the Rust client refuses it too).
    (
        _TRANSITION_HEAD + ',"modifications":' + _ONE_UPDATE + ',"clientClockSkew":-3.5}',
        "Transition: `$.clientClockSkew` must be a signed 64-bit integer or null, not a float",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":' + _ONE_UPDATE + ',"serverTs":1.7e18}',
        "Transition: `$.serverTs` must be an integer from 0 to 2^63 - 1 or null, not a float",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":' + _ONE_UPDATE + ',"serverTs":"1700000000"}',
        "Transition: `$.serverTs` must be an integer from 0 to 2^63 - 1 or null, not a string",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":' + _ONE_UPDATE + ',"serverTs":-1}',
        "Transition: `$.serverTs` is out of range: it must be an integer from 0 to 2^63 - 1",
    ),
    (
        _TRANSITION_HEAD + ',"modifications":' + _ONE_UPDATE + ',"serverTs":9223372036854775808}',
        "Transition: `$.serverTs` is out of range: it must be an integer from 0 to 2^63 - 1",
    ),
    (
        # JSON integers have no size limit; this one is beyond every float.
        _TRANSITION_HEAD
        + ',"modifications":'
        + _ONE_UPDATE
        + ',"clientClockSkew":1'
        + "0" * 400
        + "}",
        "Transition: `$.clientClockSkew` is out of range: it must be a signed 64-bit integer",
    ),
    (
        '{"type":"TransitionChunk","chunk":"x","partNumber":0,"totalParts":0,"transitionId":"t"}',
        "TransitionChunk: `$.totalParts` is out of range: it must be an integer ≥ 1",
    ),
    (
        '{"type":"AuthError","error":"e","baseVersion":0,"authUpdateAttempted":"yes"}',
        "AuthError: `$.authUpdateAttempted` must be a boolean or null, not a string",
    ),
    (
        '{"type":"AuthError","error":"e","baseVersion":-1}',
        "AuthError: `$.baseVersion` is out of range: it must be an integer ≥ 0",
    ),
    # The decoder checks every occurrence of a repeated field.
    ('{"type":"Nope","type":"Ping"}', "an object has the same field twice"),
    ('{"type":"FatalError","error":5,"error":"x"}', "an object has the same field twice"),
    ('{"type":"Ping"} trailing', "not valid JSON"),
    ('{"type":"Ping","type":"Ping"', "not valid JSON"),
    (
        '{"type":"ActionResponse","requestId":0,"success":true,"result":1e400,"logLines":[]}',
        "a JSON number is out of range",
    ),
    (b'{"type":"\x80ing"}', "invalid UTF-8 at byte 9"),
    ('{"type":"FatalError","error":"\ud800"}', "a lone surrogate at index 30"),
    # Deeper than any Python's recursion limit: how deep an *unknown* field may
    # nest before the decoder gives up differs between Python versions.
    (
        '{"type":"FatalError","error":"x","extra":' + "[" * 100_000 + "]" * 100_000 + "}",
        "JSON nested too deeply",
    ),
]


@pytest.mark.parametrize(("frame", "reason"), MALFORMED_SERVER_FRAMES)
def test_malformed_server_frames_raise_protocol_error(frame: str | bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_server_message(frame)
    assert str(info.value) == f"malformed server message: {reason}"
    if isinstance(frame, str) and frame.isascii():
        # The same reason whether the transport hands over text or bytes.
        with pytest.raises(ProtocolError) as again:
            parse_server_message(frame.encode())
        assert str(again.value) == str(info.value)


MALFORMED_CLIENT_FRAMES = [
    (
        '{"type":"Mutation","requestId":0,"udfPath":"a:b","args":{}}',
        "Mutation: `$.args` must be an array, not an object",
    ),
    (
        '{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[]}',
        "Mutation: `$.args` must hold exactly 1 item(s), not 0",
    ),
    (
        '{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[1]}',
        "Mutation: `$.args[0]` must be an object, not an integer",
    ),
    (
        '{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[{"$bad":1}]}',
        "Mutation: field name '$bad' at $ starts with '$', which is reserved",
    ),
    (
        '{"type":"Connect","connectionCount":0,"lastCloseReason":null,"clientTs":1.5,'
        '"sessionId":"s"}',
        "Connect: `$.clientTs` must be a signed 64-bit integer, not a float",
    ),
    (
        '{"type":"Authenticate","baseVersion":0,"tokenType":"User"}',
        'Authenticate: Authenticate with tokenType "User" needs a value',
    ),
    (
        '{"type":"Authenticate","baseVersion":0,"tokenType":"Bearer","value":"x"}',
        'Authenticate: `$.tokenType` must be one of "User", "Admin", "None"',
    ),
    (
        '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":'
        '[{"type":"Add","queryId":0,"udfPath":"a:b"}]}',
        "ModifyQuerySet: `$.modifications[0].args` is missing",
    ),
    ('{"type":"Transition"}', "`$.type` is not a type syncwire accepts here"),
]


@pytest.mark.parametrize(("frame", "reason"), MALFORMED_CLIENT_FRAMES)
def test_malformed_client_frames_raise_protocol_error(frame: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(frame)
    assert str(info.value) == f"malformed client message: {reason}"


def test_protocol_errors_are_bounded_and_do_not_quote_payload_values() -> None:
    secret = "SENTINEL*" * 100  # not base64, not a number, not a known name
    quoted = json.dumps(secret)
    server_frames = [
        '{"type":"FatalError","error":5,"x":' + quoted + "}",
        '{"type":' + quoted + "}",
        '{"type":"MutationResponse","requestId":' + quoted + ',"success":true,"result":null,'
        '"ts":' + _U64_ZERO + ',"logLines":[]}',
        '{"type":"MutationResponse","requestId":0,"success":true,"result":null,'
        '"ts":' + quoted + ',"logLines":[]}',
        _TRANSITION_HEAD + ',"modifications":[{"type":' + quoted + "}]}",
        _TRANSITION_HEAD + ',"modifications":' + _ONE_UPDATE + ',"serverTs":' + quoted + "}",
    ]
    client_frames = [
        '{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[{"k":{"$bytes":'
        + quoted
        + "}}]}",
        '{"type":"Authenticate","baseVersion":0,"tokenType":' + quoted + ',"value":"x"}',
    ]
    for parse, frames in (
        (parse_server_message, server_frames),
        (parse_client_message, client_frames),
    ):
        for frame in frames:
            with pytest.raises(ProtocolError) as info:
                parse(frame)
            assert "SENTINEL" not in str(info.value), frame
            assert len(str(info.value)) < 400


def test_explaining_a_refused_frame_takes_time_linear_in_its_size() -> None:
    """The reason is found field by field on the error path: one pass, never a blow-up."""
    update = (
        '{"type":"QueryUpdated","queryId":0,"value":{"a":[1,[2]]},"logLines":[],"journal":null}'
    )
    count = 20_000
    frame = (
        _TRANSITION_HEAD
        + ',"modifications":['
        + ",".join([update] * count)
        + ',{"type":"QueryUpdated","queryId":0,"value":1,"logLines":[],"journal":5}]}'
    )
    started = time.process_time()
    with pytest.raises(ProtocolError) as info:
        parse_server_message(frame)
    # About 0.2 s of CPU here; a quadratic walk would take minutes.
    assert time.process_time() - started < 5.0
    assert str(info.value).endswith(
        f"`$.modifications[{count}].journal` must be a string or null, not an integer"
    )


def test_deeply_nested_args_are_a_protocol_error() -> None:
    frame = '{"type":"Mutation","requestId":0,"udfPath":"a","args":[{"a":' + "[" * 900
    frame += "]" * 900 + "}]}"
    # 900 levels fit under msgspec's limit but not under json_to_convex's
    # recursion, or the other way round, depending on the stack in use:
    # either way the caller sees a ProtocolError, or a message.
    try:
        parse_client_message(frame)
    except ProtocolError as exc:
        message = str(exc)
    else:
        message = "deeply (parsed)"
    assert "deeply" in message


def test_a_rejected_tag_is_not_quoted_back() -> None:
    """The peer's text must not reach logs or lastCloseReason through the error."""
    with pytest.raises(ProtocolError) as info:
        parse_server_message('{"type":"sk_live_SENTINEL"}')
    assert (
        str(info.value) == "malformed server message: `$.type` is not a type syncwire accepts here"
    )


def test_a_frame_must_be_text_or_bytes() -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        parse_server_message(123)  # type: ignore[arg-type]
