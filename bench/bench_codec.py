"""Codec throughput: our typed codec against the standard library's ``json``.

Run it with ``make bench`` (or ``.venv/bin/python bench/bench_codec.py``); the
figures it prints are recorded in ``docs/benchmarks.md``. ``--quick`` runs tiny
iteration counts and a smaller large frame, to check that the script still
works (its figures mean nothing).

What is measured, on server frames built here from a fixed random seed
(Convex-like documents: ``_id`` strings, ``_creationTime`` floats, text, numbers,
an ``int64``, nested objects):

* parse: ``json.loads(frame)`` (the baseline) against ``parse_server_message``,
  with the frame as ``bytes`` and as ``str``;
* encode: ``encode_server_message`` / ``encode_client_message`` against
  ``json.dumps`` of the equivalent wire dict (a prebuilt compact
  ``json.JSONEncoder``, the fastest way the standard library has).

Method: the candidates of one shape run interleaved (A B C …, then … C B A)
for several rounds, so background noise on a busy machine hits them alike.
Throughput is the best round (noise only ever adds time; the collector's work
is deterministic, so best-of does not skip it); "paired" is the median over the
rounds of the ratio within a round, as a check on the best-of ratio. The
garbage collector stays enabled, as in normal operation: its cost is in every
headline figure. The same rounds also run the ``bytes`` parsers with it disabled,
to show its share, and frames of 1 MB and up are parsed once more the way a
client keeps a query result (the previous result held while the next one is
parsed), where the collector costs most. Frames of 64 KB and up are timed call
by call, each ``str`` frame a fresh object: msgspec caches the UTF-8 form of a
non-ASCII ``str`` on the object, so reusing one would flatter it.

"Decode to Python values" is what a client does with a query result: the
frame to the Convex value in the application's hands (``parse_server_message``
and ``json_to_convex``), on Transitions of flat documents (``_id``,
``_creationTime``, ``author``, ``body``, an integral ``n``) of 5 and 20 MB,
against ``json.loads`` alone and ``json.loads`` (numbers as ``float``, all it
takes) with the official ``convex`` package's Python ``json_to_convex``; with
the peak of traced memory of one call.

The full run (not ``--quick``) also measures the 20 MB frame *all-in*: parse it,
keep the last two results, allocate 200,000 small dicts, five times over; the
same loop without a parser is the allocation baseline to subtract. This is where
deferred collections walking large results show up, whichever parser made them.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any
from typing import Final
from typing import cast

import msgspec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _harness, beside us
from _harness import Timing
from _harness import interleaved
from _harness import machine_text
from _harness import print_rows
from _harness import size_text
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import Transition
from syncwire.protocol import encode_client_message
from syncwire.protocol import encode_server_message
from syncwire.protocol import encode_u64
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_server_message

SEED: Final = 20240521
GOAL: Final = 2.0
"""Typed parse must be at least this many times as fast as ``json.loads``."""

_PER_CALL_FROM: Final = 64 * 1024
"""Frames this large are timed call by call, each ``str`` frame a fresh copy."""
_BIG_FROM: Final = 1_000_000
"""Frames this large are also parsed with the previous result kept."""
ALL_IN_FRAMES: Final = 5
"""All-in loop (full run, shape (c)): frames parsed per timed repetition..."""
ALL_IN_DICTS: Final = 200_000
"""... each followed by this many small dicts, allocated as an application would."""
ALL_IN_ROUNDS: Final = 4
"""Interleaved rounds of the all-in loop (about 45 s in all)."""

_ID_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
_WORD_TEXT: Final = (
    "the of and to in is you that it was for on are as with they at be this have from or "
    "one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some would make "
    "like into time has look two more write go see number no way could people than first "
    "water been call who now find long down day did get come made may part deploy query "
    "schema index table cursor mutation action server client socket retry backoff commit"
)
_WORDS: Final = tuple(_WORD_TEXT.split())
_NON_ASCII_WORDS: Final = ("café", "naïve", "über", "日本語", "—", "👍", "🎉")
_CHANNELS: Final = ("general", "random", "dev", "support", "announcements")
_JSON_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


# --- deterministic Convex-like data ---------------------------------------


def _int64(value: int) -> str:
    """The ``$integer`` payload of a Convex int64."""
    return base64.b64encode(value.to_bytes(8, "little", signed=True)).decode("ascii")


class _DataMaker:
    """Documents, frames and messages, all from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._time_ms = 1_716_312_345_678.125
        self._ts_ns = 1_716_312_345_678_123_456

    def convex_id(self) -> str:
        return "".join(self._rng.choices(_ID_ALPHABET, k=32))

    def text(self, low: int, high: int) -> str:
        rng = self._rng
        words = rng.choices(_WORDS, k=rng.randint(low, high))
        if rng.random() < 0.08:  # some messages carry accents or emoji
            words.insert(rng.randrange(len(words) + 1), rng.choice(_NON_ASCII_WORDS))
        return " ".join(words)

    def document(self) -> dict[str, Any]:
        rng = self._rng
        self._time_ms += rng.uniform(0.5, 2_000.0)
        created = round(self._time_ms, 3)
        return {
            "_creationTime": created,
            "_id": self.convex_id(),
            "author": self.convex_id(),
            "body": self.text(4, 40),
            "channel": rng.choice(_CHANNELS),
            "likes": rng.randint(0, 500),
            "meta": {
                "edited": rng.random() < 0.2,
                "score": rng.random() * 100.0,
                "tags": rng.choices(_WORDS, k=rng.randint(0, 4)),
                "thread": {
                    "lastReplyAt": round(created + rng.uniform(0.0, 1e6), 3),
                    "replies": rng.randint(0, 20),
                },
            },
            "seq": {"$integer": _int64(rng.getrandbits(62))},
        }

    def flat_document(self) -> dict[str, Any]:
        """A document as most tables hold them: no nesting, no special value."""
        self._time_ms += self._rng.uniform(0.5, 2_000.0)
        return {
            "_creationTime": round(self._time_ms, 3),
            "_id": self.convex_id(),
            "author": self.convex_id(),
            "body": self.text(4, 40),
            "n": self._rng.randint(0, 500),
        }

    def flat_documents(self, target_bytes: int) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        size = 0
        while size < target_bytes:
            batch = [
                self.flat_document()
                for _ in range(max(1, min(2_000, (target_bytes - size) // 250)))
            ]
            size += len(_JSON_ENCODER.encode(batch).encode())
            docs.extend(batch)
        return docs

    def documents(self, target_bytes: int) -> list[dict[str, Any]]:
        """Documents whose JSON text adds up to about ``target_bytes``."""
        docs: list[dict[str, Any]] = []
        size = 0
        while size < target_bytes:
            # Grow in batches sized from what is still missing, measuring each.
            missing = target_bytes - size
            batch = [self.document() for _ in range(max(1, min(2_000, missing // 450)))]
            size += len(_JSON_ENCODER.encode(batch).encode())
            docs.extend(batch)
        return docs

    def version(self, query_set: int) -> dict[str, Any]:
        self._ts_ns += self._rng.randint(1_000, 5_000_000)
        return {"querySet": query_set, "identity": 0, "ts": encode_u64(self._ts_ns)}

    def transition(self, value: Any, query_id: int = 0) -> dict[str, Any]:
        return {
            "type": "Transition",
            "startVersion": self.version(3),
            "endVersion": self.version(3),
            "modifications": [
                {
                    "type": "QueryUpdated",
                    "queryId": query_id,
                    "value": value,
                    "logLines": [],
                    "journal": None,
                }
            ],
            "clientClockSkew": -3,
            "serverTs": self._ts_ns,
        }

    def mutation_response(self) -> dict[str, Any]:
        self._ts_ns += 1_000
        return {
            "type": "MutationResponse",
            "requestId": 1042,
            "success": True,
            "result": {"_id": self.convex_id(), "likes": 3},
            "ts": encode_u64(self._ts_ns),
            "logLines": [],
        }

    def mutation_wire(self) -> dict[str, Any]:
        """A ~150-byte Mutation as the official client writes it (keys sorted)."""
        args = {"author": self.convex_id(), "body": "see you at the standup", "channel": "dev"}
        return {"type": "Mutation", "requestId": 1042, "udfPath": "messages:send", "args": [args]}


@dataclass(frozen=True)
class Frame:
    """One server frame: its JSON text and its UTF-8 bytes."""

    key: str
    title: str
    text: str
    data: bytes
    rounds: int


def build_frames(quick: bool) -> list[Frame]:
    """The frames to measure; the wire dicts are dropped so the heap stays small."""
    maker = _DataMaker(SEED)
    large = 1_000_000 if quick else 20_000_000
    wires: list[tuple[str, str, dict[str, Any], int]] = [
        ("a", "MutationResponse", maker.mutation_response(), 7),
        ("a2", "small Transition", maker.transition(42.0, query_id=7), 7),
        ("b", "Transition, 1 query", maker.transition(maker.documents(100_000)), 7),
        ("c", "Transition, 1 query", maker.transition(maker.documents(large)), 5),
    ]
    frames = []
    for key, title, wire, rounds in wires:
        text = _JSON_ENCODER.encode(wire)
        frames.append(Frame(key, title, text, text.encode(), 2 if quick else rounds))
    return frames


def build_value_frames(quick: bool) -> list[Frame]:
    """Transitions of flat documents, for "Decode to Python values"."""
    maker = _DataMaker(SEED + 1)
    sizes = [("d", 1_200_000)] if quick else [("d", 5_000_000), ("e", 20_000_000)]
    frames = []
    for key, size in sizes:
        text = _JSON_ENCODER.encode(maker.transition(maker.flat_documents(size)))
        frames.append(
            Frame(key, "Transition of flat documents", text, text.encode(), 2 if quick else 5)
        )
    return frames


def _values_ours(data: bytes) -> list[object]:
    """What the client does: parse, then ``json_to_convex`` of each query result."""
    message = parse_server_message(data)
    assert isinstance(message, Transition)
    return [json_to_convex(m.value) for m in message.modifications]  # type: ignore[union-attr]


def _official_json_to_convex() -> Callable[[Any], object] | None:
    try:
        from convex.values import json_to_convex as official  # optional: the official package
    except ImportError:
        return None
    return cast(Callable[[Any], object], official)


def value_candidates(frame: Frame) -> list[Candidate]:
    candidates = [Candidate("json.loads(bytes)", json.loads, frame.data)]
    official = _official_json_to_convex()
    if official is not None:

        def values_official(data: bytes) -> list[object]:
            wire = json.loads(data, parse_int=float)  # it takes numbers as float only
            return [official(m["value"]) for m in wire["modifications"]]

        candidates.append(
            Candidate("json.loads + convex.values.json_to_convex", values_official, frame.data)
        )
    candidates.append(Candidate("parse_server_message + json_to_convex", _values_ours, frame.data))
    return candidates


def peak_mib(cand: Candidate) -> float:
    """The peak of traced memory during one call (untimed: tracing slows it down)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = cand.fn(cand.arg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak / 2**20


# --- timing ----------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One way to process a frame: ``fn(arg)``; ``fresh`` gives a new ``arg``."""

    label: str
    fn: Callable[[Any], object]
    arg: object
    fresh: Callable[[], object] | None = None
    gc_off: bool = False


def _seconds_per_call(cand: Candidate, number: int) -> float:
    gc.collect()  # every repetition starts from the same heap state
    if not cand.gc_off:
        return _run(cand, number)
    gc.disable()
    try:
        return _run(cand, number)
    finally:
        gc.enable()


def _run(cand: Candidate, number: int) -> float:
    fn = cand.fn
    if cand.fresh is None:
        arg = cand.arg
        start = time.perf_counter()
        for _ in repeat(None, number):
            fn(arg)
        return (time.perf_counter() - start) / number
    total = 0.0
    for _ in repeat(None, number):
        arg = cand.fresh()
        start = time.perf_counter()
        fn(arg)  # the result is freed inside the timed region, as in real use
        total += time.perf_counter() - start
    return total / number


def measure(
    candidates: Sequence[Candidate], nbytes: int, rounds: int, target_s: float
) -> list[Timing]:
    """Interleaved rounds; one Timing per candidate."""
    numbers = []
    for cand in candidates:  # warm up (caches, allocator), and size a repetition to target_s
        once = _seconds_per_call(cand, 1)
        numbers.append(max(1, min(200_000, int(target_s / max(once, 1e-9)))))
    timings = [Timing(cand.label, nbytes) for cand in candidates]
    for i in interleaved(len(candidates), rounds):
        timings[i].seconds.append(_seconds_per_call(candidates[i], numbers[i]))
    return timings


def measure_kept(
    candidates: Sequence[Candidate], nbytes: int, rounds: int, calls: int
) -> list[Timing]:
    """Parse ``calls`` times in a row, each result kept until the next replaces it.

    This is what a client does with a query's value, and what the collector
    sees in a long-running program: the previous result is alive while the
    next one is built, and every full collection walks it too. One untimed call
    first, so every timed call has a predecessor; no ``gc.collect()`` between
    the timed calls.
    """
    timings = [Timing(cand.label, nbytes) for cand in candidates]
    for i in interleaved(len(candidates), rounds):
        fn, arg = candidates[i].fn, candidates[i].arg
        gc.collect()
        kept = fn(arg)
        start = time.perf_counter()
        for _ in repeat(None, calls):
            kept = fn(arg)  # the old result is freed here, the new one kept
        timings[i].seconds.append((time.perf_counter() - start) / calls)
        del kept
    return timings


def _no_parse(data: object) -> None:
    """The all-in loop's baseline: no parser, the same allocations."""


def _all_in_seconds(fn: Callable[[Any], object], data: bytes) -> float:
    """Seconds per frame of: parse, keep the last two results, allocate small dicts.

    Two untimed parses first, so that every timed one runs with two earlier
    results alive, as in steady state. No ``gc.collect()`` inside the timed
    region: every collection the loop triggers, young or full, is in the figure.
    """
    gc.collect()
    kept: list[object] = [fn(data), fn(data)]
    garbage: list[dict[str, int]] = []
    start = time.perf_counter()
    for i in range(ALL_IN_FRAMES):
        kept[i % 2] = fn(data)  # the oldest result is freed here
        garbage = [{"n": n} for n in range(ALL_IN_DICTS)]  # the previous list is freed here
    elapsed = time.perf_counter() - start
    del kept, garbage
    return elapsed / ALL_IN_FRAMES


def measure_all_in(frame: Frame, rounds: int) -> list[Timing]:
    """Interleaved rounds of the all-in loop: no parser, ``json.loads``, typed parse."""
    candidates: list[tuple[str, Callable[[Any], object]]] = [
        ("no parser", _no_parse),
        ("json.loads(bytes)", json.loads),
        ("parse_server_message(bytes)", parse_server_message),
    ]
    timings = [Timing(label, len(frame.data)) for label, _ in candidates]
    for i in interleaved(len(candidates), rounds):
        timings[i].seconds.append(_all_in_seconds(candidates[i][1], frame.data))
    return timings


def _print_all_in(frame: Frame, timings: Sequence[Timing]) -> None:
    """Per-frame times, gross and with the allocation loop's own time subtracted."""
    base, loads, typed = timings
    net_loads = [j - b for j, b in zip(loads.seconds, base.seconds, strict=True)]
    net_typed = [t - b for t, b in zip(typed.seconds, base.seconds, strict=True)]
    header = ("candidate", "loop", "ms/frame (best)", "net of no parser", "median", "net median")
    lines = [
        (
            t.label,
            "allocations only" if t is base else "parse + allocations",
            f"{t.best * 1e3:,.0f}",
            "" if t is base else f"{(t.best - base.best) * 1e3:,.0f}",
            f"{statistics.median(t.seconds) * 1e3:,.0f}",
            "" if net is None else f"{statistics.median(net) * 1e3:,.0f}",
        )
        for t, net in ((base, None), (loads, net_loads), (typed, net_typed))
    ]
    print_rows(header, lines)
    gross = typed.ratio_to(loads)
    gross_paired = typed.paired_ratio_to(loads)
    net = (loads.best - base.best) / (typed.best - base.best)
    net_paired = statistics.median(j / t for j, t in zip(net_loads, net_typed, strict=True))
    print(
        f"\nparse_server_message vs json.loads, all-in ({frame.key}) {size_text(len(frame.data))}: "
        f"{net:.2f}x net of the allocations (paired {net_paired:.2f}x), "
        f"{gross:.2f}x gross (paired {gross_paired:.2f}x)"
    )


# --- what is compared ------------------------------------------------------


def parse_candidates(frame: Frame) -> list[Candidate]:
    """The four ways to parse with GC enabled, then the two ``bytes`` ones with it off."""
    fresh_str: Callable[[], object] | None = None
    if len(frame.data) >= _PER_CALL_FROM:
        fresh_str = frame.data.decode  # a new str each call, as a socket would deliver
    elif not frame.text.isascii():
        raise RuntimeError(f"small frame {frame.key} must be ASCII (msgspec caches UTF-8 of str)")
    return [
        Candidate("json.loads(bytes)", json.loads, frame.data),
        Candidate("parse_server_message(bytes)", parse_server_message, frame.data),
        Candidate("json.loads(str)", json.loads, frame.text, fresh_str),
        Candidate("parse_server_message(str)", parse_server_message, frame.text, fresh_str),
        Candidate("json.loads(bytes)", json.loads, frame.data, gc_off=True),
        Candidate("parse_server_message(bytes)", parse_server_message, frame.data, gc_off=True),
    ]


def check_frame(frame: Frame) -> None:
    """The typed codec accepts the frame and writes back the same JSON value."""
    message = parse_server_message(frame.data)
    expected = MutationResponse if frame.key == "a" else Transition
    if not isinstance(message, expected):
        raise RuntimeError(f"frame {frame.key} parsed as {type(message).__name__}")
    if json.loads(encode_server_message(message)) != json.loads(frame.data):
        raise RuntimeError(f"frame {frame.key} does not survive parse + encode")


def encode_candidates(frame: Frame) -> list[Candidate]:
    wire = json.loads(frame.data)
    message = parse_server_message(frame.data)
    return [
        Candidate("json.dumps(dict)", _JSON_ENCODER.encode, wire),
        Candidate("encode_server_message", encode_server_message, message),
    ]


def client_encode_candidates() -> tuple[int, list[Candidate]]:
    wire = _DataMaker(SEED).mutation_wire()
    (args,) = wire["args"]
    message = Mutation(request_id=wire["requestId"], udf_path=wire["udfPath"], args=args)
    text = encode_client_message(message)
    if text != _JSON_ENCODER.encode(wire):
        raise RuntimeError(f"encode_client_message wrote {text!r}")
    return len(text.encode()), [
        Candidate("json.dumps(dict)", _JSON_ENCODER.encode, wire),
        Candidate("encode_client_message", encode_client_message, message),
    ]


# --- report ----------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def _print_table(groups: Sequence[tuple[str, Sequence[Timing]]]) -> None:
    """Throughput per shape; the first Timing of each group is the baseline."""
    header = ("shape", "candidate", "msgs/s", "MB/s", "vs baseline", "paired")
    lines = [
        (
            shape,
            t.label,
            _rate(t.msgs_per_s),
            f"{t.mb_per_s:,.1f}",
            f"{t.ratio_to(ts[0]):.2f}x",
            f"{t.paired_ratio_to(ts[0]):.2f}x",
        )
        for shape, ts in groups
        for t in ts
    ]
    print_rows(header, lines)


def _machine() -> str:
    return machine_text(f"msgspec {msgspec.__version__}", f"; gc thresholds {gc.get_threshold()}")


@dataclass
class _ShapeResult:
    frame: Frame
    parse: list[Timing]  # GC enabled
    parse_no_gc: list[Timing]  # json.loads(bytes), parse_server_message(bytes), GC disabled
    encode: list[Timing]
    kept: list[Timing] | None  # big frames: the previous result kept while parsing

    @property
    def shape(self) -> str:
        return f"({self.frame.key}) {size_text(len(self.frame.data))}"


def _print_gc_table(results: Sequence[_ShapeResult]) -> None:
    header = ("shape", "candidate", "msgs/s GC on", "msgs/s GC off", "GC share", "GC off: vs base")
    lines = [
        (
            r.shape,
            on.label,
            _rate(on.msgs_per_s),
            _rate(off.msgs_per_s),
            f"{1 - off.best / on.best:.0%}",  # the part of the GC-on time GC takes
            f"{off.ratio_to(r.parse_no_gc[0]):.2f}x",
        )
        for r in results
        for on, off in zip(r.parse[:2], r.parse_no_gc, strict=True)
    ]
    print_rows(header, lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; the exit status is 0 unless it crashes."""
    parser = argparse.ArgumentParser(description="Codec throughput against json.loads/dumps.")
    parser.add_argument(
        "--quick", action="store_true", help="tiny iteration counts, to check the script runs"
    )
    quick: bool = parser.parse_args(argv).quick
    gc_was_enabled = gc.isenabled()
    gc.enable()  # normal operation; restored on the way out
    try:
        _run_all(quick)
    finally:
        if not gc_was_enabled:
            gc.disable()
    return 0


def _run_all(quick: bool) -> None:
    started = time.perf_counter()
    target_s = 0.001 if quick else 0.04
    print(f"# syncwire codec benchmark{' (QUICK: the figures mean nothing)' if quick else ''}")
    print(_machine())
    frames = build_frames(quick)
    print("frames: " + ", ".join(f"({f.key}) {f.title} {size_text(len(f.data))}" for f in frames))

    results: list[_ShapeResult] = []
    for frame in frames:
        check_frame(frame)
        nbytes = len(frame.data)
        parse = measure(parse_candidates(frame), nbytes, frame.rounds, target_s)
        encode = measure(encode_candidates(frame), nbytes, frame.rounds, target_s)
        kept = None
        if nbytes >= _BIG_FROM:
            kept = measure_kept(parse_candidates(frame)[:2], nbytes, 2, 2)
        results.append(_ShapeResult(frame, parse[:4], parse[4:], encode, kept))
    values: list[tuple[Frame, list[Timing], list[float]]] = []
    for frame in build_value_frames(quick):
        candidates = value_candidates(frame)
        timings = measure(candidates, len(frame.data), frame.rounds, target_s)
        values.append((frame, timings, [peak_mib(cand) for cand in candidates]))
    client_bytes, client = client_encode_candidates()
    client_timings = measure(client, client_bytes, 2 if quick else 7, target_s)
    # All costs included, on the 20 MB frame: full run only (about 45 s).
    all_in = None if quick else (frames[-1], measure_all_in(frames[-1], ALL_IN_ROUNDS))

    print("\n## Parse (GC enabled), baseline json.loads(bytes)\n")
    _print_table([(r.shape, r.parse) for r in results])

    print("\n## Decode to Python values (GC enabled), baseline json.loads(bytes)\n")
    _print_table([(f"({f.key}) {size_text(len(f.data))}", ts) for f, ts, _ in values])
    print()
    print_rows(
        ("shape", "candidate", "ms (best)", "peak MiB (traced)"),
        [
            (f"({f.key}) {size_text(len(f.data))}", t.label, f"{t.best * 1e3:,.0f}", f"{p:,.1f}")
            for f, ts, peaks in values
            for t, p in zip(ts, peaks, strict=True)
        ],
    )

    print("\n## Encode (GC enabled), baseline json.dumps of the wire dict\n")
    encodes: list[tuple[str, Sequence[Timing]]] = [(r.shape, r.encode) for r in results]
    encodes.append((f"(m) Mutation {size_text(client_bytes)}", client_timings))
    _print_table(encodes)

    print("\n## Garbage collector: the same rounds with GC disabled (bytes frames)\n")
    _print_gc_table(results)
    kept_groups = [(r.shape, r.kept) for r in results if r.kept is not None]
    if kept_groups:
        print("\n## Parse with the previous result kept (GC enabled), bytes frames\n")
        _print_table(kept_groups)

    if all_in is not None:
        frame, timings = all_in
        print(
            f"\n## All-in ({frame.key}) {size_text(len(frame.data))}: parse, keep the last two "
            f"results, allocate {ALL_IN_DICTS:,} small dicts; x{ALL_IN_FRAMES}, "
            f"{ALL_IN_ROUNDS} rounds (GC enabled)\n"
        )
        _print_all_in(frame, timings)

    print(f"\n## Goal: typed parse >= {GOAL:g}x json.loads on every shape (bytes frames)\n")
    print("(PASS needs both the best-of ratio and the paired median at or above the goal.)")
    for r in results:
        ratio = r.parse[1].ratio_to(r.parse[0])
        paired = r.parse[1].paired_ratio_to(r.parse[0])
        str_ratio = r.parse[3].ratio_to(r.parse[2])
        verdict = "PASS" if min(ratio, paired) >= GOAL else "FAIL"
        print(
            f"{verdict} ({r.frame.key}) {r.frame.title} {size_text(len(r.frame.data))}: "
            f"{ratio:.3f}x (paired {paired:.3f}x; str frames {str_ratio:.2f}x json.loads(str))"
        )
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
