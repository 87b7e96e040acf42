"""The ``syncwire`` command line: ``demo``, ``serve``, ``watch`` and ``run``.

``demo`` is ``syncwire.demo``; ``serve`` runs the dev server with fault
commands on stdin; ``watch`` and ``run`` are a ``Client`` pointed at any
deployment, for a look at live data or one call without writing code.

``main`` builds the parser from the table of commands and runs the one named;
each command is a module here (``demo``, ``serve``, ``watch``, ``run``), with
what ``watch`` and ``run`` share in ``call``, ``answers`` and ``logs``.

The command line needs ``rich`` (the ``cli`` extra); the library does not.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Final

from syncwire._version import __version__
from syncwire.cli.command import Command
from syncwire.cli.demo import DEMO
from syncwire.cli.run import RUN
from syncwire.cli.serve import SERVE
from syncwire.cli.watch import WATCH
from syncwire.console import write_line

__all__ = ["COMMANDS", "NEEDS_RICH", "main"]

COMMANDS: Final[Sequence[Command]] = (DEMO, SERVE, WATCH, RUN)
"""Every ``syncwire COMMAND``, in the order ``syncwire --help`` lists them."""

NEEDS_RICH: Final = (
    "syncwire: the command line needs its extra dependencies (rich): pip install 'syncwire[cli]'"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    try:
        importlib.import_module("rich")
    except ImportError:
        write_line(NEEDS_RICH, "stderr")
        return 2
    parser = argparse.ArgumentParser(
        prog="syncwire", description="A Convex sync client for asyncio, and its tools."
    )
    parser.add_argument("--version", action="version", version=f"syncwire {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, tuple[Command, argparse.ArgumentParser]] = {}
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.add_arguments(sub)
        commands[command.name] = (command, sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    command, sub = commands[args.command]
    return command.run(args, sub)
