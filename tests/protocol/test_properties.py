"""Properties of the codec: round trips both ways, and hostile input yields only ProtocolError."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from syncwire.protocol import ClientMessage
from syncwire.protocol import ProtocolError
from syncwire.protocol import ServerMessage
from syncwire.protocol import encode_client_message
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message
from tests.strategies import client_messages
from tests.strategies import json_values
from tests.strategies import server_messages

# CI runs the full count promised for the fuzz properties; a local run a fifth.
FUZZ_EXAMPLES = 10_000 if os.environ.get("CI") else 2_000


@given(client_messages)
def test_client_messages_round_trip(message: ClientMessage) -> None:
    frame = encode_client_message(message)
    parsed = parse_client_message(frame)
    assert type(parsed) is type(message)
    # Through the wire form, since NaN != NaN and tuples come back as lists.
    assert encode_client_message(parsed) == frame


def _comparable(message: ClientMessage) -> bool:
    """NaN never equals itself and tuples come back as lists: those only round-trip as text."""
    return "nan" not in repr(message) and "(" not in repr(getattr(message, "args", ""))


@given(client_messages.filter(_comparable))
def test_client_messages_round_trip_to_equal_objects(message: ClientMessage) -> None:
    assert parse_client_message(encode_client_message(message)) == message


@given(server_messages)
def test_server_messages_round_trip(message: ServerMessage) -> None:
    frame = encode_server_message(message)
    assert parse_server_message(frame) == message
    assert parse_server_message(frame.encode()) == message
    assert encode_server_message(parse_server_message(frame)) == frame


def _parse_or_protocol_error(frame: str | bytes) -> None:
    for parse in (parse_server_message, parse_client_message):
        reason = ""
        try:
            parse(frame)
        except ProtocolError as exc:
            reason = str(exc)
        # The codec's own checks found why the decoder refused the frame (its
        # last-resort reason would say only "not a valid <type>").
        assert not re.search(r": not a valid \w+$", reason), (reason, frame)


@settings(max_examples=FUZZ_EXAMPLES // 5)
@given(json_values)
def test_arbitrary_json_is_a_message_or_a_protocol_error(value: Any) -> None:
    _parse_or_protocol_error(json.dumps(value))


_TAGS = [
    "Transition", "TransitionChunk", "MutationResponse", "ActionResponse", "AuthError",
    "FatalError", "Ping", "Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate",
    "Event", "QueryUpdated", "Add",
]  # fmt: skip
_FIELDS = [
    "startVersion", "endVersion", "modifications", "querySet", "identity", "ts", "queryId",
    "value", "logLines", "journal", "errorMessage", "errorData", "chunk", "partNumber",
    "totalParts", "transitionId", "requestId", "success", "result", "error", "baseVersion",
    "authUpdateAttempted", "clientClockSkew", "serverTs", "connectionCount", "lastCloseReason",
    "clientTs", "sessionId", "maxObservedTimestamp", "newVersion", "udfPath", "args",
    "tokenType", "eventType", "event", "type",
]  # fmt: skip


# Objects shaped like messages (known tags and field names, arbitrary values) get
# much deeper into validation than uniformly random JSON does.
def _shaped(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda tag, fields: {**fields, "type": tag},
        st.sampled_from(_TAGS),
        st.dictionaries(st.sampled_from(_FIELDS), values, max_size=6),
    )


# Small values keep generation quick enough for 10,000 examples.
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["AAAAAAAAAAA=", "AQID", "6AMAAAAAAAA=", "User", "None"]),
)
_small_json = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=3,
)
_flat_shaped = _shaped(_small_json)
message_shaped = _shaped(_small_json | _flat_shaped | st.lists(_flat_shaped, max_size=2))


@settings(max_examples=FUZZ_EXAMPLES)
@given(message_shaped)
def test_message_shaped_json_is_a_message_or_a_protocol_error(value: Any) -> None:
    _parse_or_protocol_error(json.dumps(value))


@settings(max_examples=FUZZ_EXAMPLES // 5)
@given(server_messages, st.data())
def test_corrupted_frames_are_a_message_or_a_protocol_error(
    message: ServerMessage, data: st.DataObject
) -> None:
    frame = bytearray(encode_server_message(message).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(frame) - 1))
        frame[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    _parse_or_protocol_error(bytes(frame[:cut]))
    _parse_or_protocol_error(bytes(frame))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_message_or_a_protocol_error(frame: bytes) -> None:
    _parse_or_protocol_error(frame)
