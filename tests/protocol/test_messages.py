"""Messages as Python objects: what a decoded field holds, what construction checks,
and what ``rich`` is shown of a token."""

from __future__ import annotations

from typing import Any

import pytest

from syncwire.protocol import Action
from syncwire.protocol import Authenticate
from syncwire.protocol import Connect
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import ProtocolError
from syncwire.protocol import QueryAdd
from syncwire.protocol import Transition
from syncwire.protocol import encode_client_message
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message
from syncwire.protocol.messages import StateVersion


def test_a_decoded_u64_is_an_int_from_the_start() -> None:
    version = StateVersion(query_set=0, identity=0, ts=2**64 - 1)
    transition = Transition(start_version=version, end_version=version, modifications=())
    decoded = parse_server_message(encode_server_message(transition))
    assert isinstance(decoded, Transition)
    assert type(decoded.end_version.ts) is int
    assert decoded.end_version.ts == 2**64 - 1
    response = MutationResponse(request_id=0, success=True, result=None, ts=7, log_lines=())
    decoded_response = parse_server_message(encode_server_message(response))
    assert isinstance(decoded_response, MutationResponse)
    assert type(decoded_response.ts) is int
    connect = Connect(
        connection_count=0,
        last_close_reason=None,
        client_ts=0,
        session_id="s",
        max_observed_timestamp=5,
    )
    decoded_connect = parse_client_message(encode_client_message(connect))
    assert isinstance(decoded_connect, Connect)
    assert type(decoded_connect.max_observed_timestamp) is int
    assert decoded_connect == connect


def test_decoded_args_are_the_convex_dict() -> None:
    add = QueryAdd(query_id=0, udf_path="a:b", args={"n": 1.0, "xs": [b"\x00"]})
    message = ModifyQuerySet(base_version=0, new_version=1, modifications=(add,))
    decoded = parse_client_message(encode_client_message(message))
    assert isinstance(decoded, ModifyQuerySet)
    assert type(decoded.modifications[0].args) is dict  # type: ignore[union-attr]
    assert decoded == message


@pytest.mark.parametrize("cls", [Mutation, Action])
@pytest.mark.parametrize("args", [[{"a": 1}], ({"a": 1},), None, "a=1"])
def test_args_that_are_no_mapping_are_refused_at_construction(cls: Any, args: object) -> None:
    with pytest.raises(TypeError, match=f"^args must be a dict, not {type(args).__name__}$"):
        cls(request_id=0, udf_path="a:b", args=args)
    with pytest.raises(TypeError, match=r"^args must be a dict"):
        QueryAdd(query_id=0, udf_path="a:b", args=args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "args", ['{"$integer":"BQAAAAAAAAA="}', '{"$bytes":"AQID"}', '{"$commitTs":null}']
)
def test_decoded_args_must_be_an_object_of_arguments(args: str) -> None:
    """A one-key ``$`` object is a single Convex value, not the arguments' object."""
    frame = '{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[' + args + "]}"
    with pytest.raises(ProtocolError) as info:
        parse_client_message(frame)
    assert str(info.value).startswith("malformed client message: Mutation: args must be an object")


def test_rich_is_shown_no_token() -> None:
    auth = Authenticate(
        base_version=3, token_type="Admin", value="ADMIN-SECRET", impersonating={"subject": "u"}
    )
    assert list(auth.__rich_repr__()) == [("base_version", 3), ("token_type", "Admin")]
