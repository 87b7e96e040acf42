"""``syncwire demo``: the fault-injection demo (``syncwire.demo``)."""

from __future__ import annotations

import argparse

from syncwire.cli.command import Command
from syncwire.cli.command import require_positive_timeout
from syncwire.console import write_line

__all__ = ["DEMO"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="shorter pauses (about 7 s)")
    parser.add_argument("--seed", type=int, help="seed of the backoff jitter and the writer")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="stop and fail after this long (default: 30)",
    )
    parser.add_argument("--plain", action="store_true", help="print event lines, not the live view")


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from syncwire import demo

    require_positive_timeout(parser, args.timeout)
    try:
        return demo.main(
            quick=args.quick,
            seed=args.seed,
            deadline=args.timeout,
            plain=True if args.plain else None,
        )
    except KeyboardInterrupt:
        write_line("syncwire demo: interrupted", "stderr")
        return 130


DEMO = Command(
    name="demo",
    help="run the fault-injection demo against a local server",
    description="Start the dev server in-process, subscribe to the chat app while a "
    "writer sends messages, inject faults (overload, internal error, silence, kill and "
    "restart, a rejected token) and check that nothing promised was lost. "
    "Exit code 0 only if every check passed.",
    add_arguments=_add_arguments,
    run=_run,
)
