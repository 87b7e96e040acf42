"""Every shape the Convex backend's serializer writes, read as syncwire reads it.

One row per shape, in ``backend_shapes.SHAPES`` (where each row's source in the
backend is told). For each row: the frame parses, the parsed message holds what
the row says, and ``encode_server_message`` writes every integer back as the
same integer (no ``418.0``, no ``1.7e18``: the Rust client reads these fields as
integers), then parses to the same message again.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from syncwire.protocol import ActionResponse
from syncwire.protocol import AuthError
from syncwire.protocol import FatalError
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_server_message
from tests.protocol.backend_shapes import SHAPES
from tests.protocol.backend_shapes import Shape


def _get(message: object, path: str) -> object:
    """``end_version.ts`` or ``modifications[0].journal`` on a parsed message."""
    value: Any = message
    for name, index in re.findall(r"(\w+)(?:\[(\d+)\])?", path):
        value = getattr(value, name)
        if index:
            value = value[int(index)]
    return value


def _integers(document: Any, path: str = "$") -> dict[str, int]:
    """Every integer in a JSON document, by path (booleans are not integers)."""
    found: dict[str, int] = {}
    if type(document) is int:
        found[path] = document
    elif isinstance(document, dict):
        for key, value in document.items():
            found |= _integers(value, f"{path}.{key}")
    elif isinstance(document, list):
        for i, value in enumerate(document):
            found |= _integers(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
def test_the_backends_shapes_are_accepted(shape: Shape) -> None:
    message = parse_server_message(shape.frame)
    assert type(message) is shape.kind
    for path, expected in shape.holds.items():
        assert _get(message, path) == expected, path
    assert parse_server_message(shape.frame.encode()) == message


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
def test_a_parse_encode_round_trip_keeps_integers_as_integers(shape: Shape) -> None:
    message = parse_server_message(shape.frame)
    again = encode_server_message(message)
    ours, theirs = _integers(json.loads(again)), _integers(json.loads(shape.frame))
    # Only what syncwire does not know (a newer backend's fields) is not written back;
    # an integer written as a float (418.0, 1.7e18) would be missing from ``ours``.
    dropped = set(theirs) - set(ours)
    assert all("future" in path for path in dropped), dropped
    assert {path: theirs[path] for path in ours} == ours
    assert parse_server_message(again) == message


def test_every_server_message_type_has_a_shape() -> None:
    assert {shape.kind for shape in SHAPES} == {
        Transition,
        TransitionChunk,
        MutationResponse,
        ActionResponse,
        AuthError,
        FatalError,
        Ping,
    }
    modifications = set()
    for shape in SHAPES:
        message = parse_server_message(shape.frame)
        if isinstance(message, Transition):
            modifications |= {type(mod) for mod in message.modifications}
    assert modifications == {QueryUpdated, QueryFailed, QueryRemoved}
