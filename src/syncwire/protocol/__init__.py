"""The Convex sync protocol: messages, their codec and Convex values.

Everything here is pure (no I/O, no clock); the manager, the client and the dev
server all speak through it. Malformed input from a peer raises
``ProtocolError`` and nothing else.
"""

from msgspec import UNSET, UnsetType

from syncwire.errors import ProtocolError
from syncwire.protocol.codec import (
    encode_client_message,
    encode_server_message,
    parse_client_message,
    parse_server_message,
)
from syncwire.protocol.messages import (
    Action,
    ActionResponse,
    Authenticate,
    AuthError,
    ClientMessage,
    Connect,
    Event,
    FatalError,
    ModifyQuerySet,
    Mutation,
    MutationResponse,
    Ping,
    QueryAdd,
    QueryFailed,
    QueryRemove,
    QueryRemoved,
    QuerySetModification,
    QueryUpdated,
    ServerMessage,
    StateModification,
    StateVersion,
    Transition,
    TransitionChunk,
    canonicalize_udf_path,
)
from syncwire.protocol.values import (
    COMMIT_TS,
    CommitTs,
    ConvexInt64,
    ConvexValue,
    JSONValue,
    convex_to_json,
    decode_u64,
    encode_u64,
    json_to_convex,
)

__all__ = [
    "COMMIT_TS",
    "UNSET",
    "Action",
    "ActionResponse",
    "AuthError",
    "Authenticate",
    "ClientMessage",
    "CommitTs",
    "Connect",
    "ConvexInt64",
    "ConvexValue",
    "Event",
    "FatalError",
    "JSONValue",
    "ModifyQuerySet",
    "Mutation",
    "MutationResponse",
    "Ping",
    "ProtocolError",
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
    "UnsetType",
    "canonicalize_udf_path",
    "convex_to_json",
    "decode_u64",
    "encode_client_message",
    "encode_server_message",
    "encode_u64",
    "json_to_convex",
    "parse_client_message",
    "parse_server_message",
]
