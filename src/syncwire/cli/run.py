"""``syncwire run``: one query, mutation or action over the HTTP API, its result on
stdout as JSON.

The HTTP API knows what kind a function is: ``POST /api/function`` runs any kind,
so nothing is guessed and nothing is tried twice (``--kind`` names the endpoint
of one kind instead). A one-shot command needs no socket kept open.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Final

from syncwire.cli.answers import auth_rejected
from syncwire.cli.answers import dumps
from syncwire.cli.answers import error_text
from syncwire.cli.call import VALUES_HELP
from syncwire.cli.call import Call
from syncwire.cli.call import add_call_arguments
from syncwire.cli.call import parse_call
from syncwire.cli.command import Command
from syncwire.cli.command import require_positive_timeout
from syncwire.cli.logs import configure_logging
from syncwire.console import write_line

__all__ = ["RUN"]

_ENDPOINTS: Final = ("query", "mutation", "action")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_call_arguments(parser)
    parser.add_argument(
        "--kind",
        choices=["auto", *_ENDPOINTS],
        default="auto",
        help="what FUNCTION is (default: auto, the deployment knows)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up (exit code 1) without an answer after this long (default: 30); "
        "the message says whether a mutation or an action that was sent may still run",
    )


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from syncwire.urls import http_origin

    call = parse_call(parser, args)
    try:
        http_origin(call.url)
    except ValueError as exc:
        parser.error(f"bad URL {args.url!r}: {exc}")
    configure_logging(verbose=args.verbose)
    require_positive_timeout(parser, args.timeout)
    try:
        return asyncio.run(_run_once(call, args.kind, answer_within=args.timeout))
    except KeyboardInterrupt:
        write_line("syncwire run: interrupted", "stderr")
        return 130


async def _run_once(call: Call, kind: str, *, answer_within: float) -> int:
    """One call; the result on stdout as JSON (0), a failure on stderr (1)."""
    from syncwire.errors import AuthenticationError
    from syncwire.errors import ConnectError
    from syncwire.errors import ConvexError
    from syncwire.errors import FunctionError
    from syncwire.errors import SyncwireError
    from syncwire.http import HttpClient

    async with HttpClient(call.url, timeout=answer_within, auth=call.auth) as client:
        run = client.function if kind == "auto" else getattr(client, kind)
        try:
            result = await run(call.function, call.args)
        except FunctionError as exc:
            write_line(f"error: {error_text(exc)}", "stderr")
            if isinstance(exc, ConvexError):
                write_line(f"data: {dumps(exc.data)}", "stderr")
            return 1
        except AuthenticationError as exc:
            write_line(auth_rejected("run", exc), "stderr")
            return 1
        except ConnectError as exc:
            write_line(f"syncwire run: cannot connect: {exc.cause}", "stderr")
            return 1
        except (SyncwireError, TimeoutError) as exc:  # HttpError, ConnectionLostError, …
            write_line(f"syncwire run: {exc}", "stderr")
            return 1
    write_line(dumps(result, indent=2))  # a reader gone (`| head -0`) is no failure
    return 0


RUN = Command(
    name="run",
    help="run one query, mutation or action and print its result as JSON",
    description="Run FUNCTION once over the deployment's HTTP API and print its result as "
    "JSON. By default (--kind auto) it is sent to /api/function, which runs a function of "
    "any kind: the deployment knows which it is, so nothing is guessed or tried twice; "
    "--kind query, mutation or action sends it to that kind's endpoint, which refuses a "
    "function of another kind. A function error goes to stderr (exit code 1), and so do "
    "the function's console.log lines. A deployment that cannot be reached (refused, DNS "
    "or TLS failure) ends the run at once with the cause (exit code 1); one that does not "
    "answer within --timeout too, saying whether a mutation or an action that was sent "
    "may still run. With --auth, the call runs under that token; if the deployment "
    "rejects it, nothing runs and run exits 1. " + VALUES_HELP,
    add_arguments=_add_arguments,
    run=_run,
)
