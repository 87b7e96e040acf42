"""The chunk assembler's own checks (docs/manager.md#transition-chunks), beside what
tests/core checks through the manager core."""

from __future__ import annotations

import pytest

from syncwire.protocol import ProtocolError
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import encode_server_message
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
