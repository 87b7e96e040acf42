"""Typed results: a 5 MB result converted into msgspec Structs, against plain values.

Run it with ``make bench`` (or ``.venv/bin/python bench/bench_typed.py``);
``--quick`` runs a small value a few times, to check that the script still works
(its figures mean nothing).

The value is a list of seeded chat-like documents (``_harness.chat_documents``)
in a Transition frame of about 5 MB, received the way ``Client`` receives it:

* **plain** (what a value costs today): ``parse_server_message`` on the frame,
  then the query's value as ``Client.query`` returns it (``QueryResult.value``).
  For a frame this large without special values the codec settles the values in
  place while it parses (docs/protocol.md), so this is decoding and conversion.
* **typed**: the same, then ``convert_result`` into ``list[ChatDoc]`` (Structs),
  as ``Client.query(..., result_type=list[ChatDoc])`` does.

The goal (issue #14) compares the two conversions: **the conversion into Structs
costs no more than the conversion into plain values**, where the plain
conversion is what the parse costs beyond msgspec's bare decode of the same
frame. Both whole paths are printed too. Rounds are interleaved; each figure is
the best round, and the paired median is printed beside it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import syncwire
from _harness import Timing
from _harness import chat_documents
from _harness import interleaved
from _harness import machine_text
from _harness import print_rows
from _harness import size_text
from syncwire.protocol import QueryUpdated
from syncwire.protocol import Transition
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_server_message
from syncwire.results import convert_result

GOAL: Final = 1.0
"""Structs conversion / plain conversion, at most."""


class Meta(msgspec.Struct):
    edited: bool
    tags: list[str]


class ChatDoc(msgspec.Struct):
    _creationTime: float
    _id: str
    author: str
    body: str
    channel: str
    likes: float
    meta: Meta


def transition_frame(size: int) -> bytes:
    """A Transition carrying one query's value of about ``size`` bytes."""
    value = chat_documents(size)
    return msgspec.json.encode(
        {
            "type": "Transition",
            "startVersion": {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="},
            "endVersion": {"querySet": 1, "identity": 0, "ts": "AQAAAAAAAAA="},
            "modifications": [
                {"type": "QueryUpdated", "queryId": 0, "value": value, "logLines": []}
            ],
        }
    )


def received_value(frame: bytes) -> object:
    """The query's value as the client hands it over, untyped."""
    message = parse_server_message(frame)
    assert isinstance(message, Transition)
    modification = message.modifications[0]
    assert isinstance(modification, QueryUpdated)
    return json_to_convex(modification.value)  # the settled value comes back as it is


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run: checks the script")
    options = parser.parse_args(argv)
    size, rounds = (200_000, 3) if options.quick else (5_000_000, 15)
    frame = transition_frame(size)
    settled = received_value(frame)

    candidates: list[tuple[Timing, Callable[[], object]]] = [
        (Timing("msgspec decode only", len(frame)), lambda: msgspec.json.decode(frame)),
        (Timing("plain: parse + value", len(frame)), lambda: received_value(frame)),
        (
            Timing("typed: parse + value + Structs", len(frame)),
            lambda: convert_result(received_value(frame), list[ChatDoc]),
        ),
        (
            Timing("Structs conversion alone", len(frame)),
            lambda: convert_result(settled, list[ChatDoc]),
        ),
    ]
    for index in interleaved(len(candidates), rounds):
        timing, run = candidates[index]
        gc.collect()
        start = time.perf_counter()
        run()
        timing.seconds.append(time.perf_counter() - start)

    decode, plain, typed, structs = (timing for timing, _ in candidates)
    plain_conversion = [p - d for p, d in zip(plain.seconds, decode.seconds, strict=True)]
    title = "# Typed results" + (" (--quick: the figures mean nothing)" if options.quick else "")
    print(title)
    print(machine_text(f"syncwire {syncwire.__version__}, msgspec {msgspec.__version__}"))
    print(f"\nA Transition of {size_text(len(frame))}: {len(settled)} chat documents.\n")  # type: ignore[arg-type]
    print_rows(
        ("path", "best", "median"),
        [
            (t.label, f"{t.best * 1e3:.1f} ms", f"{statistics.median(t.seconds) * 1e3:.1f} ms")
            for t in (decode, plain, typed, structs)
        ],
    )
    best_plain_conversion = max(min(plain_conversion), 1e-9)
    ratio = structs.best / best_plain_conversion
    paired = statistics.median(
        s / max(p, 1e-9) for s, p in zip(structs.seconds, plain_conversion, strict=True)
    )
    print(
        f"\nPlain conversion (parse + value − decode only): {best_plain_conversion * 1e3:.1f} ms; "
        f"Structs conversion: {structs.best * 1e3:.1f} ms."
    )
    whole = statistics.median(t / p for t, p in zip(typed.seconds, plain.seconds, strict=True))
    print(
        f"Whole typed path / whole plain path: {typed.best / plain.best:.2f}x "
        f"(paired {whole:.2f}x)."
    )
    verdict = "PASS" if max(ratio, paired) <= GOAL else "FAIL"
    print(
        f"{verdict} (structs) Structs conversion / plain conversion: {ratio:.2f}x "
        f"(paired {paired:.2f}x), goal ≤ {GOAL:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
