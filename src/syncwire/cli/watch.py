"""``syncwire watch``: each new value of a query on stdout, one JSON line each."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

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
from syncwire.cli.command import stop_on_signals
from syncwire.cli.logs import configure_logging
from syncwire.console import ConnectionLines
from syncwire.console import silence_stdout
from syncwire.console import write_line

if TYPE_CHECKING:
    from syncwire.client import Client

__all__ = ["WATCH"]


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    call = parse_call(parser, args)
    configure_logging(verbose=args.verbose)
    try:
        return asyncio.run(_watch(call))
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 0


async def _watch(call: Call) -> int:
    """Each value on stdout as one line of JSON, the rest on stderr, until a signal
    or stdout's reader going away (0) or a failure that will not pass (1)."""
    loop = asyncio.get_running_loop()
    stop = stop_on_signals()
    forget_reader = _when_stdout_reader_leaves(loop, stop.set)
    code = 0
    try:
        async with client_for(call) as client:
            if call.auth is not None:

                def auth_changed(confirmed: bool) -> None:
                    if confirmed:  # a rejection raises AuthenticationError from next()
                        _status("auth: confirmed")

                client.set_auth(call.auth, on_change=auth_changed)
            printer = asyncio.ensure_future(_print_states(client))
            reader = asyncio.ensure_future(_print_values(client, call))
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait([reader, stopping], return_when=asyncio.FIRST_COMPLETED)
                if reader.done() and not reader.cancelled():
                    code = reader.result()
            finally:
                for task in (printer, reader, stopping):
                    task.cancel()
                await asyncio.gather(printer, reader, stopping, return_exceptions=True)
    finally:
        forget_reader()
    return code


def _status(text: str) -> None:
    """A timestamped line on stderr."""
    write_line(f"{datetime.datetime.now().isoformat(timespec='milliseconds')} {text}", "stderr")


async def _print_states(client: Client) -> None:
    loop = asyncio.get_running_loop()
    lines = ConnectionLines()
    async for state in client.connection_states():
        if (line := lines.line(state, loop.time())) is not None:
            _status(line)


async def _print_values(client: Client, call: Call) -> int:
    """Each value as a line of JSON until a failure that will not pass (1) or stdout's
    reader going away (0)."""
    from syncwire.errors import AuthenticationError
    from syncwire.errors import FatalServerError
    from syncwire.errors import FunctionError

    async with client.subscribe(call.function, call.args) as subscription:
        while True:
            try:
                value = await subscription.next()
            except StopAsyncIteration:
                return 0
            except AuthenticationError as exc:
                write_line(auth_rejected("watch", exc), "stderr")
                return 1
            except FatalServerError as exc:
                write_line(f"syncwire watch: the server ended the session: {exc}", "stderr")
                return 1
            except FunctionError as exc:
                if wrong_kind(exc, call.function) is not None:
                    # Not a query, or no such function: no later value will come.
                    write_line(f"syncwire watch: {error_text(exc)}", "stderr")
                    return 1
                _status(f"error: {error_text(exc)}")
                continue
            if not write_line(dumps(value)):  # stdout's reader has gone (`| head`)
                return 0


def _when_stdout_reader_leaves(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
) -> Callable[[], None]:
    """Call ``callback`` as soon as stdout is a pipe whose reader has gone (``| head -1``
    has its line), rather than at the next value, which may never come; returns the
    undo. A pipe's write end polls as ready (an error) only then; a terminal or a
    file is left alone (a terminal polls readable on input)."""
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return lambda: None

        def gone() -> None:
            loop.remove_reader(fd)
            silence_stdout()
            callback()

        loop.add_reader(fd, gone)
    except (OSError, ValueError, NotImplementedError):  # no fd, or no such polling here
        return lambda: None

    def forget() -> None:
        with contextlib.suppress(OSError, ValueError):
            loop.remove_reader(fd)

    return forget


WATCH = Command(
    name="watch",
    help="subscribe to a query and print each new value until Ctrl-C",
    description="Subscribe to FUNCTION (a query) on a deployment and print each new "
    "value on stdout as one line of JSON, nothing else, so that `syncwire watch ... | jq` "
    "works. On stderr: a timestamped line when the connection changes (with the cause "
    "of a failed attempt: a connection is retried until stopped), when the --auth token "
    "is confirmed, and when the query fails (watching goes on: a later value may "
    "succeed); and the function's console.log lines, as the official client prints them. "
    "Ctrl-C or SIGTERM stops (exit code 0), and so does stdout's reader going away "
    "(`| head -1`). Exit code 1, with the reason on stderr: FUNCTION does not exist or "
    "is not a query, the deployment rejected the --auth token, or the server ended the "
    "session. " + VALUES_HELP,
    add_arguments=add_call_arguments,
    run=_run,
)
