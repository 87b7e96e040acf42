"""A Transition split into TransitionChunks, both ways: splitting and reassembling.

A Transition larger than ~5 MB arrives as ``TransitionChunk`` frames whose
``chunk`` texts, joined in order, are the JSON of one Transition. The rules
follow the upstream client: parts arrive in order from 0, all with the same
``total_parts`` and ``transition_id``; anything else is a protocol error that
drops the buffer. Unlike upstream, the buffer is bounded. The wire form is
docs/protocol.md#transition-chunks; the rules, docs/manager.md#transition-chunks.
"""

from __future__ import annotations

from typing import NoReturn

from syncwire.errors import ProtocolError
from syncwire.protocol.codec import parse_server_message
from syncwire.protocol.messages import Transition
from syncwire.protocol.messages import TransitionChunk
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE

__all__ = ["TransitionChunkAssembler", "split_transition"]


def split_transition(text: str, max_bytes: int, transition_id: str) -> list[TransitionChunk]:
    """The chunks a server sends for one Transition's frame ``text``, in order.

    Each ``chunk`` holds at most ``max_bytes`` of UTF-8 and ends on a character
    boundary, so every chunk is valid text; joined, they are ``text`` again.
    """
    if max_bytes < 4:  # the longest UTF-8 character must fit
        raise ValueError("max_bytes must be at least 4")
    data = text.encode("utf-8")
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return [
        TransitionChunk(
            chunk=piece, part_number=number, total_parts=len(pieces), transition_id=transition_id
        )
        for number, piece in enumerate(pieces)
    ]


def _joined(parts: list[str]) -> str | bytes:
    """The parts joined as UTF-8 ``bytes``: what the decoder reads without a copy.

    Joined as ``str``, one emoji anywhere makes the whole text 4 bytes per
    character (80 MB for a 20 MB Transition), and decoding it encodes it to
    UTF-8 once more; part by part, only one part is ever held twice. Text the
    decoder must refuse (a lone surrogate) is joined as ``str``, for it to say why.
    """
    try:
        return b"".join([part.encode() for part in parts])
    except UnicodeEncodeError:
        return "".join(parts)


class TransitionChunkAssembler:
    """Collects the parts of one chunked Transition at a time."""

    __slots__ = ("_expected_parts", "_max_size", "_parts", "_size", "_transition_id", "buffering")

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        self._max_size = max_size
        self._parts: list[str] = []
        self._size = 0
        self.buffering = False
        """``in_progress`` as a plain attribute, read once per received frame."""
        self._expected_parts = 0
        self._transition_id = ""

    @property
    def in_progress(self) -> bool:
        """Whether some parts of a Transition are buffered."""
        return self.buffering

    @property
    def buffered_size(self) -> int:
        """Characters buffered so far."""
        return self._size

    def reset(self) -> None:
        """Drop whatever is buffered (on every close, and on a protocol error)."""
        self._parts.clear()
        self._size = 0
        self.buffering = False

    def add(self, chunk: TransitionChunk) -> tuple[Transition, int] | None:
        """Take one part; return the Transition and its length once complete.

        Raises ``ProtocolError`` (and drops the buffer) for a part out of
        order, from another transition, beyond the size cap, or when the
        joined text is not a Transition.
        """
        if not self._parts:
            if chunk.part_number != 0:
                self._fail(f"TransitionChunk part {chunk.part_number} arrived first, expected 0")
            self._expected_parts = chunk.total_parts
            self._transition_id = chunk.transition_id
        elif (
            chunk.total_parts != self._expected_parts or chunk.transition_id != self._transition_id
        ):
            self._fail("TransitionChunk from another transition arrived mid-sequence")
        elif chunk.part_number != len(self._parts):
            self._fail(
                f"TransitionChunk received out of order: expected part {len(self._parts)}, "
                f"got {chunk.part_number}"
            )
        if chunk.part_number >= chunk.total_parts:
            self._fail(f"TransitionChunk part {chunk.part_number} of only {chunk.total_parts}")
        self._size += len(chunk.chunk)
        if self._size > self._max_size:
            self._fail(f"chunked Transition exceeds {self._max_size} characters")
        self._parts.append(chunk.chunk)
        self.buffering = True
        if len(self._parts) < self._expected_parts:
            return None
        frame, length = _joined(self._parts), self._size
        self.reset()
        message = parse_server_message(frame)
        if not isinstance(message, Transition):
            raise ProtocolError(
                f"expected Transition after assembling chunks, got {type(message).__name__}"
            )
        return message, length

    def _fail(self, why: str) -> NoReturn:
        self.reset()
        raise ProtocolError(why)
