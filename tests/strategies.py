"""Hypothesis strategies for protocol messages and Convex values, shared by the tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

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
from syncwire.protocol import StateModification
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import convex_to_json

_ASCII_32_126 = "".join(chr(c) for c in range(32, 127))

field_names = st.text(alphabet=_ASCII_32_126, max_size=12).filter(lambda k: not k.startswith("$"))
"""Valid Convex field names: printable ASCII, not starting with ``$``."""

small_ints = st.integers(min_value=0, max_value=2**31)
u64s = st.integers(min_value=0, max_value=2**64 - 1)
int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)

floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1.0, 2.0**53, 2.0**60, 1e16, 1e21, 1e-7, 1.5e-8, 5e-324, 0.1, 1e300]
)

convex_scalars: st.SearchStrategy[ConvexValue] = st.one_of(
    st.none(),
    st.booleans(),
    floats,
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=20),
    st.binary(max_size=20),
    int64s.map(ConvexInt64),
)

convex_values: st.SearchStrategy[ConvexValue] = st.recursive(
    convex_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(field_names, inner, max_size=4),
    max_leaves=12,
)

convex_objects: st.SearchStrategy[dict[str, ConvexValue]] = st.dictionaries(
    field_names, convex_values, max_size=5
)

json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Plain JSON values (what a server message's value fields hold)."""

convex_json_values: st.SearchStrategy[JSONValue] = convex_values.map(convex_to_json)
"""JSON values that are the wire form of a Convex value."""

udf_paths = st.from_regex(r"\A[a-z][a-zA-Z0-9_/]{0,10}:[a-zA-Z_][a-zA-Z0-9_]{0,10}\Z")
optional_text = st.none() | st.text(max_size=12)
log_lines = st.lists(st.text(max_size=20), max_size=3).map(tuple)


query_set_modifications = st.one_of(
    st.builds(
        QueryAdd,
        query_id=small_ints,
        udf_path=udf_paths,
        args=convex_objects,
        journal=optional_text,
        component_path=optional_text,
    ),
    st.builds(QueryRemove, query_id=small_ints),
)

authenticates = st.one_of(
    st.builds(Authenticate, base_version=small_ints, token_type=st.just("User"), value=st.text()),
    st.builds(
        Authenticate,
        base_version=small_ints,
        token_type=st.just("Admin"),
        value=st.text(),
        impersonating=st.none()
        | st.dictionaries(st.sampled_from(["subject", "issuer"]), st.text()),
    ),
    st.builds(Authenticate, base_version=small_ints, token_type=st.just("None")),
)

client_messages: st.SearchStrategy[ClientMessage] = st.one_of(
    st.builds(
        Connect,
        connection_count=small_ints,
        last_close_reason=optional_text,
        client_ts=st.integers(min_value=0, max_value=2**53),
        session_id=st.uuids().map(str),
        max_observed_timestamp=st.none() | u64s,
    ),
    st.builds(
        ModifyQuerySet,
        base_version=small_ints,
        new_version=small_ints,
        modifications=st.lists(query_set_modifications, max_size=4).map(tuple),
    ),
    st.builds(
        Mutation,
        request_id=small_ints,
        udf_path=udf_paths,
        component_path=optional_text,
        args=convex_objects,
    ),
    st.builds(
        Action,
        request_id=small_ints,
        udf_path=udf_paths,
        component_path=optional_text,
        args=convex_objects,
    ),
    authenticates,
    st.builds(
        Event,
        event_type=st.text(max_size=20),
        event=st.dictionaries(st.text(max_size=8), st.integers(-1000, 1000) | st.text(max_size=5)),
    ),
)

state_versions = st.builds(StateVersion, query_set=small_ints, identity=small_ints, ts=u64s)


def state_modifications_of(
    ids: st.SearchStrategy[int],
    values: st.SearchStrategy[JSONValue],
    text: st.SearchStrategy[str],
    error_data: st.SearchStrategy[Any],
) -> st.SearchStrategy[StateModification]:
    """A Transition's modifications, from the given field strategies."""
    query = {"query_id": ids, "log_lines": log_lines, "journal": st.none() | text}
    return st.one_of(
        st.builds(QueryUpdated, value=values, **query),
        st.builds(QueryFailed, error_message=text, error_data=error_data, **query),
        st.builds(QueryRemoved, query_id=ids),
    )


def mutation_responses_of(
    ids: st.SearchStrategy[int],
    values: st.SearchStrategy[JSONValue],
    text: st.SearchStrategy[str],
    *,
    ts: st.SearchStrategy[int],
    failure_ts: st.SearchStrategy[int | None],
    error_data: st.SearchStrategy[Any],
) -> st.SearchStrategy[MutationResponse]:
    """A MutationResponse, a success or a failure, from the given field strategies."""
    response = {"request_id": ids, "log_lines": log_lines}
    success = st.builds(MutationResponse, success=st.just(True), result=values, ts=ts, **response)
    return success | st.builds(
        MutationResponse,
        success=st.just(False),
        result=text,
        ts=failure_ts,
        error_data=error_data,
        **response,
    )


state_modifications = state_modifications_of(
    small_ints, json_values, st.text(max_size=20), error_data=json_values
)

server_messages: st.SearchStrategy[ServerMessage] = st.one_of(
    st.builds(
        Transition,
        start_version=state_versions,
        end_version=state_versions,
        modifications=st.lists(state_modifications, max_size=4).map(tuple),
        client_clock_skew=st.none() | int64s,  # i64 in the backend
        server_ts=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    ),
    st.builds(
        TransitionChunk,
        chunk=st.text(max_size=30),
        part_number=small_ints,
        total_parts=st.integers(min_value=1, max_value=100),
        transition_id=st.text(max_size=10),
    ),
    mutation_responses_of(
        small_ints,
        json_values,
        st.text(max_size=20),
        ts=u64s,
        failure_ts=st.none() | u64s,  # the backend's type allows a ts on a failure too
        error_data=json_values,
    ),
    st.builds(
        ActionResponse,
        request_id=small_ints,
        success=st.just(True),
        result=json_values,
        log_lines=log_lines,
    ),
    st.builds(
        ActionResponse,
        request_id=small_ints,
        success=st.just(False),
        result=st.text(max_size=20),
        log_lines=log_lines,
        error_data=json_values,
    ),
    st.builds(
        AuthError,
        error=st.text(max_size=20),
        base_version=st.none() | small_ints,
        auth_update_attempted=st.none() | st.booleans(),
    ),
    st.builds(FatalError, error=st.text(max_size=20)),
    st.just(Ping()),
)
