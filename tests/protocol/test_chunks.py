"""Splitting a Transition into chunks: the server's side of the chunk assembler."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.protocol.chunks import TransitionChunkAssembler
from syncwire.protocol.chunks import split_transition
from syncwire.protocol.messages import StateVersion


@given(text=st.text(min_size=1, max_size=300), max_bytes=st.integers(4, 64))
def test_chunks_are_bounded_whole_characters_that_join_back(text: str, max_bytes: int) -> None:
    chunks = split_transition(text, max_bytes, "t1")
    assert "".join(c.chunk for c in chunks) == text
    assert all(0 < len(c.chunk.encode()) <= max_bytes for c in chunks)
    assert [c.part_number for c in chunks] == list(range(len(chunks)))
    assert {(c.total_parts, c.transition_id) for c in chunks} == {(len(chunks), "t1")}


def test_a_split_transition_reassembles_to_the_same_message() -> None:
    version = StateVersion(query_set=1, identity=0, ts=7)
    message = Transition(start_version=version, end_version=version, modifications=(), server_ts=3)
    text = encode_server_message(message)
    assembler = TransitionChunkAssembler()
    results = [assembler.add(chunk) for chunk in split_transition(text, 16, "x")]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] == (message, len(text))


def test_a_text_that_fits_is_one_chunk_and_an_empty_one_none() -> None:
    assert [c.chunk for c in split_transition("é" * 3, 6, "t")] == ["ééé"]
    assert split_transition("", 6, "t") == []


def test_a_budget_too_small_for_a_character_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        split_transition("abc", 3, "t")
