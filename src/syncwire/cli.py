"""The ``syncwire`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from syncwire._version import __version__

_DEMO_NOT_YET = """\
syncwire demo: not built yet.

What is coming: the embedded local sync server starts on 127.0.0.1, a client
subscribes to a small chat app while a writer sends messages, and scripted
faults hit the connection (overload close, internal error, a silent server,
kill and restart, a rejected token). A live view shows the connection state,
retries and the data; a summary checks that nothing promised was lost.

Today syncwire ships its protocol layer (syncwire.protocol); run `make test`
to see it checked against the official Convex client.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="syncwire", description="A Convex sync client for asyncio, and its tools."
    )
    parser.add_argument("--version", action="version", version=f"syncwire {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="run the fault-injection demo against a local server")
    args = parser.parse_args(argv)
    if args.command == "demo":
        sys.stdout.write(_DEMO_NOT_YET)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
