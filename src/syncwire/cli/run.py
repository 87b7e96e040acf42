"""``syncwire run``: one query, mutation or action, its result on stdout as JSON."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING
from typing import Final

from syncwire.cli.answers import auth_rejected
from syncwire.cli.answers import dumps
from syncwire.cli.answers import error_text
from syncwire.cli.answers import wrong_kind
from syncwire.cli.call import VALUES_HELP
from syncwire.cli.call import Call
from syncwire.cli.call import add_call_arguments
from syncwire.cli.call import client_for
from syncwire.cli.call import parse_call
from syncwire.cli.command import Command
from syncwire.cli.command import require_positive_timeout
from syncwire.cli.logs import configure_logging
from syncwire.console import describe_connection
from syncwire.console import write_line

if TYPE_CHECKING:
    from syncwire.client import Client

__all__ = ["RUN"]

_CONNECT_WITHIN: Final = 10.0
"""Seconds ``run`` waits for a first connection before it gives up with the cause."""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_call_arguments(parser)
    parser.add_argument(
        "--kind",
        choices=["auto", "query", "mutation", "action"],
        default="auto",
        help="what FUNCTION is (default: auto, see above)",
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
    call = parse_call(parser, args)
    configure_logging(verbose=args.verbose)
    require_positive_timeout(parser, args.timeout)
    try:
        return asyncio.run(_run_once(call, args.kind, answer_within=args.timeout))
    except KeyboardInterrupt:
        write_line("syncwire run: interrupted", "stderr")
        return 130


async def _run_once(call: Call, kind: str, *, answer_within: float) -> int:
    """One call; the result on stdout as JSON (0), a failure on stderr (1).

    It ends as soon as the outcome is known: an answer, a rejected token, or a
    first connection attempt that failed, or no connection within
    ``_CONNECT_WITHIN`` (a one-shot command has nothing to gain from retrying a
    deployment it never reached); else at ``answer_within``.
    """
    loop = asyncio.get_running_loop()
    trying = ["query" if kind == "auto" else kind]  # the kind the call is being run as
    async with client_for(call) as client:
        if call.auth is not None:
            client.set_auth(call.auth)
        calling = asyncio.ensure_future(_call(client, call, kind, trying))
        unreachable = asyncio.ensure_future(_first_failure(client, _CONNECT_WITHIN))
        try:
            async with asyncio.timeout(answer_within):
                await asyncio.wait([calling, unreachable], return_when=asyncio.FIRST_COMPLETED)
                cause = None if calling.done() else unreachable.result()
                if cause is not None:
                    write_line(f"syncwire run: cannot connect: {cause}", "stderr")
                    return 1
                return await calling
        except TimeoutError:
            state = client.connection_state()
            text = (
                f"syncwire run: no answer within {answer_within:g} s "
                f"({describe_connection(state, loop.time())})"
            )
            if kind == "auto":
                article = "an" if trying[0] == "action" else "a"
                text += f"; {call.function} was being run as {article} {trying[0]}"
            if not state.connection.has_ever_connected:
                text += "; nothing was sent: the client never connected"
            elif trying[0] == "action":
                text += "; the action may still run"
            elif trying[0] == "mutation":
                text += "; the mutation may still commit (once at most)"
            write_line(text, "stderr")
            return 1
        finally:
            for task in (calling, unreachable):
                task.cancel()
            await asyncio.gather(calling, unreachable, return_exceptions=True)


async def _first_failure(client: Client, within: float) -> str | None:
    """The cause of the first failed connection attempt; ``None`` once one succeeded.

    A server that accepts the connection and never answers fails no attempt
    before the client's inactivity threshold (60 s): past ``within`` seconds
    without a connection, that is the cause.
    """
    try:
        async with asyncio.timeout(within):
            async for state in client.connection_states():
                if state.connection.has_ever_connected:
                    return None
                if state.last_error is not None:
                    return state.last_error
    except TimeoutError:
        return client.connection_state().last_error or (
            f"no answer to the WebSocket handshake within {within:g} s: "
            "is this a Convex deployment URL?"
        )
    return None


async def _call(client: Client, call: Call, kind: str, trying: list[str]) -> int:
    """Run the function as ``kind`` (or, for ``auto``, each kind in turn until the
    deployment stops saying it is not one); ``trying[0]`` is the kind being tried."""
    from syncwire.errors import AuthenticationError
    from syncwire.errors import ConvexError
    from syncwire.errors import FunctionError
    from syncwire.errors import SyncwireError

    calls = {"query": client.query, "mutation": client.mutation, "action": client.action}
    kinds = ["query", "mutation", "action"] if kind == "auto" else [kind]
    first_error: FunctionError | None = None
    while kinds:
        current = trying[0] = kinds.pop(0)
        try:
            result = await calls[current](call.function, call.args)
        except FunctionError as exc:
            wrong = wrong_kind(exc, call.function) if kind == "auto" else None
            if wrong is None or not kinds:
                error = exc if wrong is None or first_error is None else first_error
                write_line(f"error: {error_text(error)}", "stderr")
                if isinstance(error, ConvexError):
                    write_line(f"data: {dumps(error.data)}", "stderr")
                return 1
            first_error = first_error or exc
            if wrong and wrong in kinds:
                kinds = [wrong]  # the deployment said which kind it is
            continue
        except AuthenticationError as exc:
            write_line(auth_rejected("run", exc), "stderr")
            return 1
        except SyncwireError as exc:  # e.g. ConnectionLostError, FatalServerError
            write_line(f"error: {type(exc).__name__}: {exc}", "stderr")
            return 1
        write_line(dumps(result, indent=2))  # a reader gone (`| head -0`) is no failure
        return 0
    return 1  # unreachable: each pass returns or continues with a kind left


RUN = Command(
    name="run",
    help="run one query, mutation or action and print its result as JSON",
    description="Run FUNCTION once and print its result as JSON. The sync protocol does "
    "not tell a client what kind a function is, so by default (--kind auto) it is run as "
    'a query first; if the deployment answers that it is not a query ("defined as '
    'Mutation", or "Could not find public function"), it is run as a mutation, then as an '
    "action. A function that is not of a kind never runs as that kind, so nothing runs "
    "twice. A function error goes to stderr (exit code 1), and so do the function's "
    "console.log lines. A one-shot command does not wait on a deployment it cannot "
    "reach: if the first connection attempt fails (refused, DNS or TLS failure, an HTTP "
    "answer that is not Convex's), run exits 1 at once with the cause; a connection "
    "lost after it was made is retried until --timeout. With --auth, nothing runs "
    "until the deployment accepts the token; if it rejects it, run exits 1. " + VALUES_HELP,
    add_arguments=_add_arguments,
    run=_run,
)
