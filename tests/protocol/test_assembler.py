"""The chunk assembler's own checks (docs/manager.md#transition-chunks), beside what
tests/core checks through the manager core."""

from __future__ import annotations

import pytest

from syncwire.protocol import ProtocolError
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_server_message
from syncwire.protocol.chunks import TransitionChunkAssembler
from syncwire.protocol.chunks import split_transition
from syncwire.protocol.messages import StateVersion

PING = '{"type":"Ping"}'


def _transition_text() -> str:
    version = StateVersion(query_set=1, identity=0, ts=7)
    return encode_server_message(
        Transition(start_version=version, end_version=version, modifications=())
    )


@pytest.mark.parametrize("max_size", [0, -1])
def test_the_size_cap_must_be_positive(max_size: int) -> None:
    with pytest.raises(ValueError, match="max_size must be positive"):
        TransitionChunkAssembler(max_size)


def test_in_progress_and_the_buffered_size_follow_the_parts() -> None:
    assembler = TransitionChunkAssembler()
    assert (assembler.in_progress, assembler.buffered_size) == (False, 0)
    first, second, last = split_transition(_transition_text(), 64, "t")
    assert assembler.add(first) is None
    assert (assembler.in_progress, assembler.buffered_size) == (True, len(first.chunk))
    assert assembler.add(second) is None
    assert assembler.buffered_size == len(first.chunk) + len(second.chunk)
    assembled = assembler.add(last)
    assert assembled is not None
    assert (assembler.in_progress, assembler.buffered_size) == (False, 0)
    assembler.add(first)
    assembler.reset()
    assert (assembler.in_progress, assembler.buffered_size) == (False, 0)


def test_a_part_number_beyond_the_total_is_refused() -> None:
    """Decoding never gives ``total_parts`` 0; a chunk built in Python can."""
    assembler = TransitionChunkAssembler()
    chunk = TransitionChunk(
        chunk=_transition_text(), part_number=0, total_parts=0, transition_id="t"
    )
    with pytest.raises(ProtocolError, match=r"^TransitionChunk part 0 of only 0$"):
        assembler.add(chunk)
    assert not assembler.in_progress


def test_parts_that_join_into_another_message_are_refused() -> None:
    assembler = TransitionChunkAssembler()
    *firsts, last = split_transition(PING, 4, "t")
    for chunk in firsts:
        assert assembler.add(chunk) is None
    with pytest.raises(
        ProtocolError, match=r"^expected Transition after assembling chunks, got Ping$"
    ):
        assembler.add(last)
    assert not assembler.in_progress


def test_the_parts_are_read_with_their_length_in_characters() -> None:
    text = _transition_text().replace('"modifications":[]', '"modifications":[],"x":"日本語👍"')
    assembler = TransitionChunkAssembler()
    *firsts, last = split_transition(text, 16, "t")
    for chunk in firsts:
        assembler.add(chunk)
    assembled = assembler.add(last)
    assert assembled is not None
    assert assembled[1] == len(text)  # characters, not UTF-8 bytes
    assert assembled[0] == parse_server_message(text)


def test_parts_holding_a_lone_surrogate_are_refused_with_the_reason() -> None:
    """Text no UTF-8 can hold (a lone surrogate, which a JSON escape can make)."""
    text = '{"type":"Transition","x":"ab\ud800"}'
    assembler = TransitionChunkAssembler()
    first = TransitionChunk(chunk=text[:10], part_number=0, total_parts=2, transition_id="t")
    last = TransitionChunk(chunk=text[10:], part_number=1, total_parts=2, transition_id="t")
    assembler.add(first)
    with pytest.raises(
        ProtocolError, match=r"^malformed server message: a lone surrogate at index 28$"
    ):
        assembler.add(last)
    assert not assembler.in_progress
