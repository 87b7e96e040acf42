"""atheris harness: hostile server frames through the codec, the manager core and a Client.

Each input is up to eight frames separated by ASCII RS (``0x1e``), as a server
would send them on one socket. Every frame goes through ``parse_server_message``
(as bytes and as text: only ``ProtocolError`` may come out), the frames through
a ready ``ManagerCore`` (never raises; afterwards ready with a deadline, or it
closed the socket and scheduled a reconnect) and through a real ``Client`` on
``FakeTransport`` on a reused virtual-time loop (nothing swallowed by a
catch-all, delivered query results read back as a value or ``ProtocolError``,
no request dropped, no event loop blocked, resynced on a new socket within 180
virtual seconds). The checks live in ``tests/reliability/fuzz/rig.py``, shared with
the Hypothesis tier, so both fuzzers hold the code to the same invariants.

Mutation mixes libFuzzer's byte-level mutator with structure-aware mutation of
the JSON tree and of the frame sequence (``tests/reliability/fuzz/mutate.py``):
msgspec's C parser gives libFuzzer no coverage to learn JSON from, so without
it few inputs would get past the parser. ``syncwire`` is instrumented for
coverage. The seed corpus, ``fuzz/corpus/``, holds real server messages.

Run it time-boxed through ``fuzz/run.py`` (``make fuzz``), or directly::

    python fuzz/fuzz_server_messages.py -max_total_time=60 WORKDIR fuzz/corpus
    python fuzz/fuzz_server_messages.py CRASH_FILE          # replay one input
    python fuzz/fuzz_server_messages.py --write-corpus      # regenerate fuzz/corpus/

Harness options (``--``; libFuzzer's take one dash): ``--strict`` fails on the
bugs listed as open in ``rig.KNOWN_BUGS`` too (by default they are counted;
the list is empty now), ``--stats=FILE`` writes the tally as JSON every 1,000
inputs.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import zlib
from pathlib import Path
from typing import Final

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # no stubs; `make fuzz` installs it

ROOT: Final = Path(__file__).resolve().parent.parent
CORPUS: Final = ROOT / "fuzz" / "corpus"
sys.path.insert(0, str(ROOT))  # the rig lives in tests/, shared with the Hypothesis tier

# syncwire's modules are instrumented for coverage as the rig imports them.
with atheris.instrument_imports(include=["syncwire"]):
    from tests.reliability.fuzz.mutate import mutate_frames
    from tests.reliability.fuzz.rig import ClientRig
    from tests.reliability.fuzz.rig import Tally
    from tests.reliability.fuzz.rig import check_input
    from tests.reliability.fuzz.seeds import join_frames_bytes
    from tests.reliability.fuzz.seeds import split_frames
    from tests.reliability.fuzz.seeds import write_corpus

_STATS_EVERY: Final = 1000


@dataclasses.dataclass
class Options:
    strict: bool = False
    stats: Path | None = None
    write_corpus: bool = False


def parse_options(argv: list[str]) -> tuple[Options, list[str]]:
    """Split the harness's ``--options`` from what goes to libFuzzer."""
    options = Options()
    rest = []
    for arg in argv:
        if arg == "--strict":
            options.strict = True
        elif arg.startswith("--stats="):
            options.stats = Path(arg.partition("=")[2])
        elif arg == "--write-corpus":
            options.write_corpus = True
        elif arg.startswith("--"):
            raise SystemExit(f"unknown option {arg} (libFuzzer's options take one dash)")
        else:
            rest.append(arg)
    return options, rest


class Harness:
    """The fuzz target and its mutator, around one ``ClientRig`` for the whole run."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.rig = ClientRig(strict=options.strict)
        self.tally = Tally()

    def test_one_input(self, data: bytes) -> None:
        # Half the inputs run with DEBUG logging: its code paths format fuzzed values.
        debug = zlib.crc32(data) & 1 == 1
        check_input(data, self.rig, self.tally, debug=debug)
        if self.options.stats is not None and self.tally.inputs % _STATS_EVERY == 0:
            self.write_stats(self.options.stats)

    def mutate(self, data: bytes, max_size: int, seed: int) -> bytes:
        """A third of the time libFuzzer's byte mutator; otherwise structure-aware."""
        choices = random.Random(seed)  # noqa: S311 - libFuzzer's seed, for replay
        if choices.randint(0, 2) == 0:
            return bytes(atheris.Mutate(data, max_size))
        return join_frames_bytes(mutate_frames(split_frames(data), choices))[:max_size]

    def write_stats(self, path: Path) -> None:
        stats = dataclasses.asdict(self.tally)
        stats["summary"] = self.tally.summary()
        path.write_text(json.dumps(stats, indent=1))


def main(argv: list[str]) -> None:
    options, libfuzzer_argv = parse_options(argv)
    if options.write_corpus:
        for path in write_corpus(CORPUS):
            print(path.relative_to(ROOT))
        return
    harness = Harness(options)
    atheris.Setup(libfuzzer_argv, harness.test_one_input, custom_mutator=harness.mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
