"""Real server messages to start fuzzing from: the seed corpus, in one place.

Mutating real messages reaches far deeper than random bytes do (the client
only acts on frames that parse), so both fuzzers start here: the Hypothesis
tier mutates these, and ``fuzz/corpus/`` holds the same frames as files
(``python fuzz/fuzz_server_messages.py --write-corpus`` rewrites it). Every
server message type is here, in the golden tests' form, with ids that mean
something to the client the rig sets up (``rig.QUERY_IDS``,
``rig.REQUEST_IDS``): chunked transitions, big integers, ``$integer`` /
``$bytes`` / ``$float`` values, nesting, log lines, and a few frames a real
server sends only when something is out of step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from syncwire.protocol import ActionResponse
from syncwire.protocol import AuthError
from syncwire.protocol import FatalError
from syncwire.protocol import JSONValue
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateModification
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from tests.helpers import chunked

__all__ = [
    "FRAME_SEPARATOR",
    "MAX_FRAMES",
    "REGRESSIONS",
    "SEEDS",
    "corpus",
    "corpus_matches",
    "join_frames",
    "join_frames_bytes",
    "split_frames",
    "write_corpus",
]

FRAME_SEPARATOR: Final = b"\x1e"
"""Between the frames of one fuzz input: ASCII RS never occurs raw in JSON text."""
MAX_FRAMES: Final = 8
"""Frames per input; the rest of a longer input stays in the last frame."""


def split_frames(data: bytes) -> list[bytes]:
    """One fuzz input → the frames the server sends, in order."""
    return data.split(FRAME_SEPARATOR, MAX_FRAMES - 1)


def join_frames(frames: list[str]) -> bytes:
    """Frames of text → one fuzz input."""
    return join_frames_bytes([frame.encode() for frame in frames])


def join_frames_bytes(frames: list[bytes]) -> bytes:
    """Frames of bytes → one fuzz input."""
    return FRAME_SEPARATOR.join(frames)


def _version(query_set: int, identity: int, ts: int) -> StateVersion:
    return StateVersion(query_set=query_set, identity=identity, ts=ts)


START: Final = _version(0, 0, 0)
"""Where every session starts (the client's remote query set after each open)."""
SYNCED: Final = _version(1, 1, 1000)
"""The client's query set (v1) and its Authenticate (v1) answered."""


def _transition(
    *modifications: StateModification,
    start: StateVersion = START,
    end: StateVersion = SYNCED,
    skew: int | None = None,
    server_ts: int | None = None,
) -> str:
    return encode_server_message(
        Transition(
            start_version=start,
            end_version=end,
            modifications=modifications,
            client_clock_skew=skew,
            server_ts=server_ts,
        )
    )


def _updated(
    query_id: int, value: JSONValue, journal: str | None = None, logs: tuple[str, ...] = ()
) -> QueryUpdated:
    return QueryUpdated(query_id=query_id, value=value, log_lines=logs, journal=journal)


def _s(message: ServerMessage) -> str:
    return encode_server_message(message)


# Convex values in their JSON form: int64 max/min, bytes 1,2,3, NaN, -0.0, +Inf.
_INT64_MAX: Final[JSONValue] = {"$integer": "/////////38="}
_INT64_MIN: Final[JSONValue] = {"$integer": "AAAAAAAAAIA="}
_SPECIALS: Final[JSONValue] = {
    "n": {"$integer": "BQAAAAAAAAA="},
    "max": _INT64_MAX,
    "min": _INT64_MIN,
    "avatar": {"$bytes": "AQID"},
    "empty": {"$bytes": ""},
    "nan": {"$float": "AAAAAAAA+H8="},
    "inf": {"$float": "AAAAAAAA8H8="},
    "negZero": {"$float": "AAAAAAAAAIA="},
}
_BIG_NUMBERS: Final[JSONValue] = [
    9007199254740993,  # 2^53 + 1: not a float64
    -9223372036854775808,
    18446744073709551615,  # u64 max as a JSON number
    18446744073709551616,  # beyond u64
    1e308,
    -0.0,
    5e-324,
    1.7976931348623157e308,
]


def _nested(depth: int) -> JSONValue:
    value: JSONValue = {"leaf": [1, "two", None, True]}
    for level in range(depth):
        value = {"level": level, "child": value} if level % 2 else [value, level]
    return value


_GOLDEN_TRANSITION: Final = (
    # The golden Transition of tests/protocol/test_codec.py, verbatim.
    '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
    '"endVersion":{"querySet":1,"identity":0,"ts":"6AMAAAAAAAA="},"modifications":['
    '{"type":"QueryUpdated","queryId":0,"value":[{"body":"hi"}],"logLines":["[LOG] \'x\'"],'
    '"journal":null},{"type":"QueryFailed","queryId":1,"errorMessage":"boom","logLines":[],'
    '"journal":"j","errorData":{"code":1}},{"type":"QueryRemoved","queryId":2}],'
    '"clientClockSkew":-25,"serverTs":1700000000123456789}'
)

_CONFIRMING: Final = _transition(
    _updated(0, [{"body": "hi", "author": "ada"}], journal="j-0", logs=("[LOG] 'listed'",)),
    _updated(1, {"id": {"$integer": "BQAAAAAAAAA="}, "name": "Ada"}, journal="j-1"),
)
_BIG_CHUNKED_TEXT: Final = _transition(
    _updated(0, [{"body": "héllo wörld 🌍 " * 8, "n": i} for i in range(12)]),
    _updated(1, _SPECIALS),
)

SEEDS: Final[dict[str, list[str]]] = {
    # One of each message type, as docs/protocol.md#server-messages and the golden tests write them.
    "ping": ['{"type":"Ping"}'],
    "ping-from-a-newer-server": ['{"type":"Ping","since":"v2"}'],
    "fatal-error": ['{"type":"FatalError","error":"BaseVersionMismatch"}'],
    "auth-error": [
        '{"type":"AuthError","error":"expired","baseVersion":0,"authUpdateAttempted":true}'
    ],
    "auth-error-before-update": [
        '{"type":"AuthError","error":"expired","baseVersion":null,"authUpdateAttempted":false}'
    ],
    # Backends before authUpdateAttempted existed leave it out.
    "auth-error-from-an-older-backend": ['{"type":"AuthError","error":"expired","baseVersion":0}'],
    "transition-golden": [_GOLDEN_TRANSITION],
    # Backends before the timing fields leave them out; today's writes null when unknown.
    "transition-without-timing": [
        '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
        '"endVersion":{"querySet":1,"identity":1,"ts":"6AMAAAAAAAA="},"modifications":['
        '{"type":"QueryUpdated","queryId":0,"value":null,"logLines":[]}]}'
    ],
    "transition-null-timing-and-extra-fields": [
        '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA=",'
        '"epoch":1},"endVersion":{"querySet":1,"identity":1,"ts":"6AMAAAAAAAA="},'
        '"modifications":[{"type":"QueryUpdated","queryId":0,"value":1,"logLines":[],'
        '"journal":null,"hint":"x"}],"clientClockSkew":null,"serverTs":null,"since":"v9"}'
    ],
    "transition-confirms-session": [_CONFIRMING],
    "transition-empty": [_transition(end=START)],
    "transition-convex-values": [_transition(_updated(0, _SPECIALS), _updated(1, _BIG_NUMBERS))],
    "transition-nested": [_transition(_updated(0, _nested(40)))],
    "transition-failed-queries": [
        _transition(
            QueryFailed(
                query_id=0,
                error_message="Uncaught ConvexError",
                log_lines=("[ERROR] 'bad'",),
                journal=None,
                error_data={"code": "E42", "at": _INT64_MAX},
            ),
            QueryFailed(
                query_id=1, error_message="boom", log_lines=(), journal="j", error_data=None
            ),
        )
    ],
    "transition-removes-queries": [_transition(QueryRemoved(query_id=0), QueryRemoved(query_id=7))],
    "transition-log-lines": [
        _transition(
            _updated(
                0,
                None,
                logs=("[LOG] 'a'", "[WARN] 'b'", "[ERROR] 'c'", "[DEBUG] 'd'", "[X] 'e'", "bare"),
            )
        )
    ],
    "transition-u64-max": [_transition(end=_version(1, 1, 2**64 - 1))],
    # The URL-safe base64 alphabet, which decoders accept too (docs/protocol.md#u64).
    "transition-u64-url-safe": [
        _transition(end=_version(1, 1, 2**64 - 1)).replace("//////////8=", "__________8=")
    ],
    "transition-slow-and-timed": [
        _transition(_updated(0, []), skew=-25_000, server_ts=1_700_000_000 * 10**9),
    ],
    "transition-chain": [
        _CONFIRMING,
        _transition(_updated(0, []), start=SYNCED, end=_version(1, 1, 2000)),
        _transition(start=_version(1, 1, 2000), end=_version(1, 1, 3000)),
    ],
    "transition-out-of-step": [_transition(start=_version(5, 0, 77), end=_version(6, 0, 78))],
    # Mutations and actions: the rig has mutation 0, action 1 and mutation 2 in flight.
    "mutation-ok-then-observed": [
        _s(
            MutationResponse(
                request_id=0,
                success=True,
                result={"id": _INT64_MAX},
                ts=1000,
                log_lines=("[LOG] 'sent'",),
            )
        ),
        _CONFIRMING,
    ],
    "mutation-failed": [
        _s(
            MutationResponse(
                request_id=0,
                success=False,
                result="Uncaught Error: nope",
                ts=None,
                log_lines=(),
                error_data={"code": "E1", "n": {"$integer": "AQAAAAAAAAA="}},
            )
        )
    ],
    "mutation-failed-with-null-data": [
        '{"type":"MutationResponse","requestId":2,"success":false,"result":"bad","ts":null,'
        '"logLines":[],"errorData":null}'
    ],
    "mutation-failed-without-ts": [
        '{"type":"MutationResponse","requestId":2,"success":false,"result":"bad","logLines":[]}'
    ],
    "mutation-ok-golden": [
        '{"type":"MutationResponse","requestId":2,"success":true,"result":null,'
        '"ts":"AAAAAAEAAAA=","logLines":[]}'
    ],
    "action-ok": [
        _s(
            ActionResponse(
                request_id=1, success=True, result={"$bytes": "AQID"}, log_lines=("[INFO] 'ok'",)
            )
        )
    ],
    "action-failed": [
        _s(
            ActionResponse(
                request_id=1,
                success=False,
                result="Uncaught ConvexError",
                log_lines=(),
                error_data=[1, {"$integer": "//////////8="}],
            )
        )
    ],
    "responses-for-unknown-requests": [
        '{"type":"MutationResponse","requestId":99,"success":true,"result":1,'
        '"ts":"AQAAAAAAAAA=","logLines":[]}',
        '{"type":"ActionResponse","requestId":98,"success":false,"result":"x","logLines":[]}',
    ],
    "auth-error-then-fatal": [
        _s(AuthError(error="bad token", base_version=0, auth_update_attempted=True)),
        _s(FatalError(error="InternalServerError")),
    ],
    # Chunked Transitions: in order, with multi-byte characters, and interrupted.
    "chunked-transition": chunked(_CONFIRMING, 2),
    "chunked-transition-unicode": chunked(_BIG_CHUNKED_TEXT, 4),
    "chunked-transition-interrupted": [*chunked(_CONFIRMING, 3)[:2], _s(Ping())],
    "chunked-transition-out-of-order": list(reversed(chunked(_CONFIRMING, 2))),
    "chunked-not-a-transition": chunked('{"type":"Ping"}', 2),
}


def _deep_bad_value(depth: int) -> str:
    return "[" * depth + '{"$x":1}' + "]" * depth


def _one_query(value: str, *, then: str = "", extra: str = "") -> bytes:
    """A Transition updating query 0 to ``value`` (JSON text), then ``then``; ``extra`` fields."""
    update = f'{{"type":"QueryUpdated","queryId":0,"value":{value},"logLines":[],"journal":null}}'
    return (
        '{"type":"Transition","startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
        '"endVersion":{"querySet":1,"identity":1,"ts":"6AMAAAAAAAA="},'
        f'"modifications":[{update}{then}]{extra}}}'
    ).encode()


REGRESSIONS: Final[dict[str, bytes]] = {
    # Minimised inputs of the bugs fuzzing found, each a regression test in
    # tests/reliability/test_fuzz_receive.py (strict-xfail while in rig.KNOWN_BUGS).
    "lost-request-mutation-error-data": (
        b'{"type":"MutationResponse","requestId":0,"success":false,"result":"x","ts":null,'
        b'"logLines":[],"errorData":{"$x":1}}'
    ),
    "lost-request-action-result": (
        b'{"type":"ActionResponse","requestId":1,"success":true,"result":{"$x":1},"logLines":[]}'
    ),
    "lost-request-action-error-data": (
        b'{"type":"ActionResponse","requestId":1,"success":false,"result":"x","logLines":[],'
        b'"errorData":{"$x":1}}'
    ),
    "exponential-error-path": _one_query(_deep_bad_value(40)),
    "non-ascii-base64": _one_query(
        "null",
        then=',{"type":"QueryFailed","queryId":1,"errorMessage":"x","logLines":[],'
        '"journal":null,"errorData":{"$bytes":"AAA\u00e9"}}',
    ),
    "non-ascii-base64-read": _one_query('{"$bytes":"AAA\u00e9"}'),
    # rig.check_core's first frame arrives at 0.25 s: (EPOCH + 0.25) * 1000 - skew = 0 ms.
    "debug-timing-overflow": _one_query(
        "null", extra=',"clientClockSkew":1800000000250,"serverTs":0'
    ),
    "lone-surrogate-text": b'{"type":"FatalError","error":"\xff"}',
    "removed-after-update": _one_query("null", then=',{"type":"QueryRemoved","queryId":0}'),
    "removed-after-update-twice": _one_query(
        "null",
        then=',{"type":"QueryUpdated","queryId":0,"value":null,"logLines":[],"journal":null},'
        '{"type":"QueryRemoved","queryId":0}',
    ),
}


def _file_name(name: str, frames: int) -> str:
    return f"{name}.json" if frames == 1 else f"{name}.frames"


def corpus() -> dict[str, bytes]:
    """File name → content: every seed, and every regression as ``regression-*``."""
    files = {_file_name(name, len(frames)): join_frames(frames) for name, frames in SEEDS.items()}
    for name, data in REGRESSIONS.items():
        frames = len(split_frames(data))
        files[_file_name(f"regression-{name}", frames)] = data
    return files


def write_corpus(directory: Path) -> list[Path]:
    """Write the corpus, one file per input (frames joined by ``FRAME_SEPARATOR``)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in corpus().items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


def corpus_matches(directory: Path) -> bool:
    """Whether ``directory`` holds exactly ``corpus()`` (it was regenerated after a change)."""
    actual = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    return actual == corpus()
