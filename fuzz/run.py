"""Run the server-message fuzzer for a fixed time and report what it did (``make fuzz``).

Starts ``fuzz_server_messages.py`` under libFuzzer with the seed corpus, for
``--time`` seconds (60 by default), then prints how many inputs ran, how fast,
what they reached, and the verdict. Exits 0 when no input broke an invariant,
1 when one did (the input is kept under ``--artifacts``; replay it with
``python fuzz/fuzz_server_messages.py FILE``), 2 when the fuzzer could not run.

New inputs libFuzzer finds go to a scratch corpus (a temporary directory, or
``--workdir`` to keep growing one across runs): ``fuzz/corpus/`` stays the
reviewed seed corpus. Options after ``--`` go to the harness and libFuzzer,
for example ``-- --strict`` or ``-- -max_len=65536``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
HARNESS: Final = HERE / "fuzz_server_messages.py"
CORPUS: Final = HERE / "corpus"
_DONE: Final = re.compile(rb"^Done (\d+) runs in (\d+) second", re.MULTILINE)
_EXECUTED: Final = re.compile(rb"^stat::number_of_executed_units: *(\d+)", re.MULTILINE)
_ECHO: Final = re.compile(rb"pulse|INITED|DONE|^Done|^stat::")
"""libFuzzer's lines worth showing live: progress every doubling, and the totals."""
_TAIL: Final = 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--time", type=int, default=60, help="seconds to fuzz (default 60)")
    parser.add_argument("--workdir", type=Path, help="keep the grown corpus here")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("fuzz-artifacts"),
        help="where a failing input is written (default ./fuzz-artifacts, made on failure)",
    )
    parser.add_argument("extra", nargs="*", help="after --: harness and libFuzzer options")
    args = parser.parse_args(argv)
    if args.time <= 0:
        parser.error("--time must be positive")

    with tempfile.TemporaryDirectory(prefix="syncwire-fuzz-") as scratch:
        scratch_dir = Path(scratch)
        workdir = args.workdir or scratch_dir / "corpus"
        workdir.mkdir(parents=True, exist_ok=True)
        crashes = scratch_dir / "artifacts"
        crashes.mkdir()
        stats_file = scratch_dir / "stats.json"
        command = [
            sys.executable,
            str(HARNESS),
            f"--stats={stats_file}",
            f"-max_total_time={args.time}",
            "-timeout=60",  # wall seconds for one input; the rig's own CPU budget is 2 s
            "-print_final_stats=1",
            f"-artifact_prefix={crashes}/",
            *args.extra,
            str(workdir),
            str(CORPUS),
        ]
        print("$", " ".join(command), flush=True)
        started = time.monotonic()
        returncode, log = _run(command)
        elapsed = time.monotonic() - started
        executed = _count(log)
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else None
        kept = _keep(crashes, args.artifacts)

    if returncode != 0:
        sys.stderr.buffer.write(b"".join(log[-_TAIL:]))  # a crash's traceback is at the end
    print()
    print(f"fuzz_server_messages: {executed:,} inputs in {elapsed:.0f} s", end="")
    print(f" ({executed / elapsed:.0f}/s)" if executed and elapsed else "")
    if stats:
        print(f"reached, as of input {stats['inputs']:,}: {stats['summary']}")
    if returncode == 0:
        known = stats and stats["known"]
        besides = f" besides the known bugs counted above ({', '.join(known)})" if known else ""
        print(f"result: PASS - 0 uncaught exceptions, 0 stuck managers{besides}")
        return 0
    if kept:
        print("result: FAIL - an input broke an invariant (traceback above)")
        for path in kept:
            print(f"  kept {path}; replay: python {os.path.relpath(HARNESS)} {path}")
        return 1
    print(f"result: the fuzzer did not run to the end (exit code {returncode})")
    return 2


def _run(command: list[str]) -> tuple[int, list[bytes]]:
    """Run libFuzzer, echoing its periodic and final lines; return its exit code and log."""
    log: list[bytes] = []
    with subprocess.Popen(command, stderr=subprocess.PIPE) as process:  # noqa: S603
        assert process.stderr is not None  # noqa: S101 - stderr=PIPE
        for line in process.stderr:
            log.append(line)
            if _ECHO.search(line):
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
    return process.returncode, log


def _count(lines: list[bytes]) -> int:
    """Inputs executed, from libFuzzer's final statistics (or its last progress line)."""
    log = b"".join(lines)
    for pattern in (_EXECUTED, _DONE):
        match = pattern.search(log)
        if match:
            return int(match.group(1))
    progress = re.findall(rb"^#(\d+)\s", log, re.MULTILINE)
    return int(progress[-1]) if progress else 0


def _keep(crashes: Path, artifacts: Path) -> list[Path]:
    """Move failing inputs out of the scratch directory before it is deleted."""
    found = sorted(crashes.iterdir())
    if not found:
        return []
    artifacts.mkdir(parents=True, exist_ok=True)
    kept = []
    for path in found:
        target = artifacts / path.name
        target.write_bytes(path.read_bytes())
        kept.append(target)
    return kept


if __name__ == "__main__":
    sys.exit(main())
