"""Structure-aware mutation of server frames, shared by atheris and Hypothesis.

Random bytes rarely get past the JSON parser, and libFuzzer cannot see into
msgspec's C code to learn the grammar, so most inputs of a byte-level fuzzer
test only the first line of ``parse_server_message``. These mutations work on
the JSON tree of real messages instead (swap a value for a hostile one, drop
or add a field, retag a message, graft a subtree of another seed, nest deeply)
and on the frame sequence (splice in seeds, reorder, split a frame into
``TransitionChunk`` parts with good or bad bookkeeping), so inputs stay close
enough to valid to reach the client's handlers.

Every choice goes through a ``Choices``: ``random.Random`` for atheris, draws
from ``st.data()`` for Hypothesis (which can then shrink them). Shared values
are copied before use, so a mutation never changes the next one's starting point.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any
from typing import Final
from typing import Protocol
from typing import TypeVar

from tests.helpers import chunked
from tests.reliability.fuzz.seeds import MAX_FRAMES
from tests.reliability.fuzz.seeds import SEEDS

__all__ = ["Choices", "mutate_frame", "mutate_frames"]

T = TypeVar("T")


class Choices(Protocol):
    """Where mutations get their randomness (``random.Random`` fits)."""

    def randint(self, a: int, b: int) -> int: ...

    def choice(self, seq: Sequence[T]) -> T: ...


TAGS: Final = (
    "Transition", "TransitionChunk", "MutationResponse", "ActionResponse", "AuthError",
    "FatalError", "Ping", "QueryUpdated", "QueryFailed", "QueryRemoved", "Connect",
    "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event", "Add", "Remove", "",
)  # fmt: skip
FIELDS: Final = (
    "type", "startVersion", "endVersion", "modifications", "querySet", "identity", "ts",
    "queryId", "value", "logLines", "journal", "errorMessage", "errorData", "chunk",
    "partNumber", "totalParts", "transitionId", "requestId", "success", "result", "error",
    "baseVersion", "authUpdateAttempted", "clientClockSkew", "serverTs",
)  # fmt: skip
_DEEP: Final = "\x00deep\x00"
"""Stands for a value nested too deep for ``json.dumps``; spliced in as text."""
INTERESTING: Final[tuple[Any, ...]] = (
    None, True, False, 0, 1, -1, 2, 7, 99, 2**31 - 1, 2**31, 2**32, 2**53, 2**53 + 1, 2**63 - 1,
    2**63, 2**64 - 1, 2**64, 10**30, -(2**63), -(2**64), 0.5, -0.0, 1e-7, 5e-324, 1e308, -1e308,
    float("inf"), float("nan"), 1.7e18, -3.5, 1.0, "", "x", "\x00", "é", "🌍", "\u2028",
    "AAAAAAAAAAA=", "AQAAAAAAAAA=", "6AMAAAAAAAA=", "//////////8=", "__________8=", "AAAAAAAAAA==",
    "AAAAAAAAAAAA", "AAAAAAAAAAA", "AAAA", "!!!!!!!!!!!=", "AQID", "a" * 2000,
    "[LOG] 'x'", "[ERROR] ", "[", "[]", "[NOPE] x", "%s %d", "{", "User", "None",
    [], [1], [None], {}, {"": 1}, {"$integer": "BQAAAAAAAAA="}, {"$integer": "BQAA"},
    {"$integer": 5}, {"$bytes": "AQID"}, {"$bytes": "A"}, {"$float": "AAAAAAAA+H8="},
    {"$float": "AAAAAAAA8D8="}, {"$commitTs": None}, {"$set": []}, {"$map": []}, {"$foo": 1},
    {"$integer": "AQAAAAAAAAA=", "b": 1}, {"a" * 1025: 1}, {"\x7f": 1}, {"ok": {"$x": 1}},
    _DEEP,
)  # fmt: skip
_TREES: Final[tuple[Any, ...]] = tuple(
    json.loads(frame) for frames in SEEDS.values() for frame in frames
)
_SEED_FRAMES: Final = tuple(frame.encode() for frames in SEEDS.values() for frame in frames)
_TOKENS: Final = (
    b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u", b"\\ud800", b"null", b"true",
    b"1e999", b"-", b"0", b'"type":', b'"Ping"', b"\xff", b"\xc3", b"\xe2\x82", b"\x00", b"\x1e",
)  # fmt: skip


def mutate_frames(frames: list[bytes], choices: Choices) -> list[bytes]:
    """One to three mutations of a frame sequence (and of frames in it)."""
    frames = list(frames) or [b""]
    for _ in range(choices.randint(1, 3)):
        op = choices.randint(0, 11)
        index = choices.randint(0, len(frames) - 1)
        if op <= 6:
            frames[index] = mutate_frame(frames[index], choices)
        elif op == 7:
            frames.insert(index, choices.choice(_SEED_FRAMES))
        elif op == 8 and len(frames) > 1:
            del frames[index]
        elif op == 9:
            other = choices.randint(0, len(frames) - 1)
            frames[index], frames[other] = frames[other], frames[index]
        elif op == 10:
            frames.insert(index, frames[index])
        else:
            frames[index : index + 1] = _chunk(frames[index], choices)
    return frames[:MAX_FRAMES]


def mutate_frame(frame: bytes, choices: Choices) -> bytes:
    """A JSON frame mutated as a tree; anything else byte by byte."""
    try:
        tree = json.loads(frame)
    except (ValueError, RecursionError):
        return _mutate_bytes(frame, choices)
    for _ in range(choices.randint(1, 3)):
        tree = _mutate_tree(tree, choices)
    return _dump(tree, choices)


def _mutate_tree(tree: Any, choices: Choices) -> Any:
    slots = _slots(tree)
    container, key = choices.choice(slots)
    old = tree if container is None else container[key]
    op = choices.randint(0, 9)
    new: Any
    if op <= 3:
        new = copy.deepcopy(choices.choice(INTERESTING))
    elif op == 4:
        new = _tweak(old, choices)
    elif op == 5:  # graft a subtree of another seed
        new = copy.deepcopy(choices.choice(_slot_values(choices.choice(_TREES))))
    elif op == 6:
        new = [old] if choices.randint(0, 1) else {choices.choice(FIELDS): old}
    elif op == 7 and isinstance(old, dict):
        new = dict(old)
        if new and choices.randint(0, 1):
            del new[choices.choice(list(new))]
        else:
            new[choices.choice(FIELDS)] = copy.deepcopy(choices.choice(INTERESTING))
    elif op == 8 and isinstance(old, dict):
        new = {**old, "type": choices.choice(TAGS)}
    elif op == 9 and isinstance(old, list) and old:
        new = list(old)
        if choices.randint(0, 1):
            del new[choices.randint(0, len(new) - 1)]
        else:
            new.append(choices.choice(old))
    else:
        new = copy.deepcopy(choices.choice(INTERESTING))
    if container is None:
        return new
    container[key] = new
    return tree


def _tweak(value: Any, choices: Choices) -> Any:
    """A nearby value of the same kind: numbers off by one or rescaled, strings cut."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return choices.choice(
            (value + 1, value - 1, -value, value * 2**32, float(value), str(value))
        )
    if isinstance(value, float):
        whole = int(value) if abs(value) < 1e300 else 0  # NaN fails the test, too
        return choices.choice((value * 1e300, -value, value / 1e300, whole))
    if isinstance(value, str):
        cut = choices.randint(0, len(value))
        return choices.choice((value[:cut], value[cut:], value + value, value.upper(), value[::-1]))
    return value


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every place in ``tree`` a value sits: ``(container, key)``, the root as ``(None, None)``."""
    slots: list[tuple[Any, Any]] = [(None, None)]
    stack = [tree]
    while stack and len(slots) < 4096:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                slots.append((node, key))
                stack.append(value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                slots.append((node, index))
                stack.append(value)
    return slots


def _slot_values(tree: Any) -> list[Any]:
    return [tree if container is None else container[key] for container, key in _slots(tree)]


def _dump(tree: Any, choices: Choices) -> bytes:
    try:
        text = json.dumps(tree, ensure_ascii=choices.randint(0, 3) == 0, separators=(",", ":"))
    except (ValueError, RecursionError):
        return b"{}"
    marker = json.dumps(_DEEP)  # control characters are escaped whatever ensure_ascii says
    if marker in text:
        depth = choices.choice((200, 900, 999, 1000, 5000))
        text = text.replace(marker, "[" * depth + "0" + "]" * depth)
    return text.encode(errors="surrogatepass")  # a lone surrogate stays, as bytes no codec accepts


def _mutate_bytes(frame: bytes, choices: Choices) -> bytes:
    data = bytearray(frame)
    for _ in range(choices.randint(1, 4)):
        op = choices.randint(0, 4)
        at = choices.randint(0, len(data))
        if op == 0 and data and at < len(data):
            data[at] = choices.randint(0, 255)
        elif op == 1:
            data[at:at] = bytes([choices.randint(0, 255)])
        elif op == 2 and data:
            del data[at : at + choices.randint(1, 8)]
        elif op == 3:
            data[at:at] = choices.choice(_TOKENS)
        else:
            del data[at:]
    return bytes(data)


def _chunk(frame: bytes, choices: Choices) -> list[bytes]:
    """``frame`` as TransitionChunk parts: as the server splits, or with bad bookkeeping."""
    text = frame.decode(errors="replace")
    if not text:
        return [frame]
    parts = choices.randint(1, 4)
    pieces = [json.loads(chunk) for chunk in chunked(text, parts)]
    flaw = choices.randint(0, 7)
    if flaw == 1:
        pieces[choices.randint(0, len(pieces) - 1)]["partNumber"] = choices.randint(0, 5)
    elif flaw == 2:
        pieces[-1]["transitionId"] = "other"
    elif flaw == 3:
        pieces[choices.randint(0, len(pieces) - 1)]["totalParts"] = choices.randint(0, 6)
    elif flaw == 4 and len(pieces) > 1:
        del pieces[choices.randint(0, len(pieces) - 1)]
    elif flaw == 5:
        pieces.reverse()
    return [json.dumps(piece, separators=(",", ":")).encode() for piece in pieces][:MAX_FRAMES]
