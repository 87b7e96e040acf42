"""The ``syncwire`` command line: ``demo``, ``serve``, ``watch`` and ``run``.

``demo`` is ``syncwire.demo``; ``serve`` runs the dev server with fault
commands on stdin; ``watch`` and ``run`` are a ``Client`` pointed at any
deployment, for a look at live data or one call without writing code.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import importlib
import ipaddress
import json
import logging
import math
import os
import re
import signal
import stat
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from syncwire._output import silence_stdout, write_line
from syncwire._version import __version__

if TYPE_CHECKING:
    from syncwire.client import Client, ClientConnectionState
    from syncwire.devserver import App
    from syncwire.errors import AuthenticationError
    from syncwire.protocol import ConvexValue

DEFAULT_APP = "syncwire.devserver.example:chat_app"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="syncwire", description="A Convex sync client for asyncio, and its tools."
    )
    parser.add_argument("--version", action="version", version=f"syncwire {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the fault-injection demo against a local server",
        description="Start the dev server in-process, subscribe to the chat app while a "
        "writer sends messages, inject faults (overload, internal error, silence, kill and "
        "restart, a rejected token) and check that nothing promised was lost. "
        "Exit code 0 only if every check passed.",
    )
    demo.add_argument("--quick", action="store_true", help="shorter pauses (about 7 s)")
    demo.add_argument("--seed", type=int, help="seed of the backoff jitter and the writer")
    demo.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="stop and fail after this long (default: 30)",
    )
    demo.add_argument("--plain", action="store_true", help="print event lines, not the live view")
    serve = commands.add_parser(
        "serve",
        help="run the local dev server (faults can be injected from stdin)",
        description="Serve an app over the Convex sync protocol until Ctrl-C or SIGTERM. "
        "Fault commands are read from stdin, one per line; type `help` for the list.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=_port, default=0, help="port (default: a free one)")
    serve.add_argument(
        "--app",
        default=DEFAULT_APP,
        metavar="MODULE:ATTR",
        help="an App, or a function returning one (default: the example chat app)",
    )
    serve.add_argument("--auth-secret", help="accept HS256 user tokens signed with this secret")
    serve.add_argument(
        "--state",
        metavar="FILE",
        help="keep the data and the mutation answers in FILE (loaded at start, rewritten "
        "after every commit), so that they survive a killed server",
    )
    watch = commands.add_parser(
        "watch",
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
        "session. " + _VALUES_HELP,
    )
    _add_call_arguments(watch)
    run = commands.add_parser(
        "run",
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
        "until the deployment accepts the token; if it rejects it, run exits 1. " + _VALUES_HELP,
    )
    _add_call_arguments(run)
    run.add_argument(
        "--kind",
        choices=["auto", "query", "mutation", "action"],
        default="auto",
        help="what FUNCTION is (default: auto, see above)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up (exit code 1) without an answer after this long (default: 30); "
        "the message says whether a mutation or an action that was sent may still run",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from syncwire import demo as demo_module

        if not (args.timeout > 0 and math.isfinite(args.timeout)):
            demo.error("--timeout must be positive")
        try:
            return demo_module.main(
                quick=args.quick,
                seed=args.seed,
                deadline=args.timeout,
                plain=True if args.plain else None,
            )
        except KeyboardInterrupt:
            write_line("syncwire demo: interrupted", "stderr")
            return 130
    if args.command == "serve":
        try:
            app = _load_app(args.app)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            parser.exit(2, f"syncwire serve: cannot load --app {args.app!r}: {exc}\n")
        if not _is_loopback(args.host):
            write_line(
                f"syncwire serve: warning: listening on {args.host}, not loopback: anyone who "
                "can reach it can call the app's functions"
                + ("" if args.auth_secret else ", as no one (no --auth-secret)"),
                "stderr",
            )
        return asyncio.run(_serve(app, args.host, args.port, args.auth_secret, args.state))
    if args.command in ("watch", "run"):
        sub = watch if args.command == "watch" else run
        call = _parse_call(sub, args)
        _configure_logging(verbose=args.verbose)
        if args.command == "watch":
            try:
                return asyncio.run(_watch(call))
            except KeyboardInterrupt:  # before the signal handlers were installed
                return 0
        if not (args.timeout > 0 and math.isfinite(args.timeout)):
            run.error("--timeout must be positive")
        try:
            return asyncio.run(_run(call, args.kind, answer_within=args.timeout))
        except KeyboardInterrupt:
            write_line("syncwire run: interrupted", "stderr")
            return 130
    parser.print_help()
    return 2


def _port(text: str) -> int:
    """``--port``: a TCP port number, 0 for a free one."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0: a free one), not {port}")
    return port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _load_app(spec: str) -> App:
    """``module:attr`` → the ``App`` it names (or the one a function there returns)."""
    from syncwire.devserver import App

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError("expected MODULE:ATTR")
    target: object = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not isinstance(target, App) and callable(target):
        target = target()
    if not isinstance(target, App):
        raise TypeError(f"{spec} is not an App (nor a function returning one)")
    return target


def _read_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Thread: stdin lines into ``lines``; ``None`` at end of input."""
    try:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)
    except RuntimeError:  # the loop is closed: the server has stopped
        return


async def _serve(
    app: App, host: str, port: int, auth_secret: str | None, state: str | None = None
) -> int:
    from syncwire.devserver import DevServer
    from syncwire.devserver.faults import run_command

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    try:
        server = DevServer(app, host=host, port=port, auth_secret=auth_secret, state_file=state)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        write_line(f"syncwire serve: cannot use --state {state!r}: {reason}", "stderr")
        return 1
    try:
        await server.start()
    except OSError as exc:
        write_line(f"syncwire serve: cannot listen on {host}:{port}: {exc}", "stderr")
        return 1
    write_line(f"syncwire dev server {__version__}")
    write_line(f"  deployment URL: {server.url}")
    write_line(f"  WebSocket URL:  {server.ws_url}")
    write_line("type `help` for fault commands; Ctrl-C stops")
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=_read_lines, args=(loop, lines), daemon=True).start()

    async def commands() -> None:
        while (line := await lines.get()) is not None:
            if line.strip().lower() in ("quit", "exit", "stop"):
                stop.set()
                return
            try:
                reply = await run_command(server, line)
            except ValueError as exc:
                write_line(f"error: {exc}", "stderr")
                continue
            except Exception as exc:  # e.g. restart cannot listen again: keep serving
                write_line(f"error: {type(exc).__name__}: {exc}", "stderr")
                continue
            if reply:
                write_line(reply)

    reader = asyncio.create_task(commands())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([reader, stopping], return_when=asyncio.FIRST_COMPLETED)
        if reader.done() and not stop.is_set():
            await stopping  # end of input: serve on until a signal
    finally:
        reader.cancel()
        stopping.cancel()
        await asyncio.gather(reader, stopping, return_exceptions=True)
        await server.stop()
        write_line("stopped")
    return 0


# --- watch and run: one deployment, one function ----------------------------------

_VALUES_HELP = (
    "Values are printed as JSON: Convex int64 as a plain integer, bytes as a base64 "
    "string, whole float64 numbers without a fraction (1, not 1.0, as JavaScript "
    'prints them) and NaN/Infinity as the strings "NaN", "Infinity", "-Infinity".'
)


@dataclass(frozen=True, slots=True)
class _Call:
    url: str
    function: str
    args: dict[str, ConvexValue]
    auth: str | None


def _add_call_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url",
        metavar="URL",
        help="a deployment URL (https://NAME.convex.cloud), the dev server's "
        "(http://127.0.0.1:PORT), or a ws:// or wss:// sync endpoint (one given without a "
        "path, ws://HOST:PORT, gets the sync path /api/sync, as a deployment URL does)",
    )
    parser.add_argument("function", metavar="FUNCTION", help="e.g. messages:list")
    parser.add_argument(
        "--args",
        default="{}",
        metavar="JSON",
        help='the arguments, a JSON object (default: {}); e.g. \'{"channel": "general"}\'. '
        "A JSON number is a Convex float64, as in JavaScript, so an integer beyond "
        "+-2^53 is refused (exit code 2); give an int64 as Convex encodes it: "
        '{"$integer": BASE64}, the 8 bytes of the integer, little-endian '
        '(2 is {"$integer": "AgAAAAAAAAA="}); bytes are {"$bytes": BASE64}',
    )
    parser.add_argument(
        "--auth", metavar="TOKEN", help="authenticate with this JWT (it is never printed)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print the library's log on stderr (connection attempts, reconnects)",
    )


def _parse_call(parser: argparse.ArgumentParser, args: argparse.Namespace) -> _Call:
    """The command's URL, function and arguments, checked before connecting (exit 2)."""
    from syncwire.client import sync_url
    from syncwire.protocol import json_to_convex

    url = _with_sync_path(args.url)
    try:
        sync_url(url)
    except ValueError as exc:
        parser.error(f"bad URL {args.url!r}: {exc}")
    if not args.function:
        parser.error("FUNCTION is empty; give one like messages:list")
    try:
        parsed: object = json.loads(args.args, parse_int=_float64_int)
    except _InexactIntegerError as exc:
        parser.error(f"--args: {exc}")
    except ValueError as exc:
        parser.error(f"--args is not valid JSON ({exc}); give an object like '{{\"n\": 1}}'")
    if not isinstance(parsed, dict):
        parser.error(
            f"--args must be a JSON object, not {type(parsed).__name__}; "
            'give one like \'{"channel": "general"}\''
        )
    try:
        converted = json_to_convex(parsed)
    except ValueError as exc:  # ProtocolError: e.g. a "$" field name
        parser.error(f"--args is not a Convex value: {exc}")
    if args.auth is not None and not args.auth:
        parser.error("--auth TOKEN is empty")
    assert isinstance(converted, dict)  # noqa: S101 - an object stays an object
    return _Call(url, args.function, converted, args.auth)


def _with_sync_path(url: str) -> str:
    """``ws://host:port`` → ``ws://host:port/api/sync``: without the path, the socket
    would reach no sync endpoint; a ws URL with a path is used as it is."""
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss") and parts.path in ("", "/") and not parts.query:
        return urlunsplit((parts.scheme, parts.netloc, "/api/sync", "", ""))
    return url


class _InexactIntegerError(ValueError):
    """An integer in --args that a Convex number (a float64) cannot hold exactly."""


_INT64 = range(-(2**63), 2**63)


def _float64_int(text: str) -> int:
    """``json.loads``' ``parse_int``: refuse what the Python API refuses (beyond ±2^53),
    rather than send an integer rounded to the nearest float64."""
    number = int(text)
    if abs(number) <= 2**53:
        return number
    reason = f"{text} is beyond +-2^53, where a Convex number (a float64) loses precision"
    if number not in _INT64:
        raise _InexactIntegerError(f"{reason}, and it does not fit an int64 either")
    encoded = base64.b64encode(number.to_bytes(8, "little", signed=True)).decode("ascii")
    raise _InexactIntegerError(
        f'{reason}; to send it as an int64, give {{"$integer": "{encoded}"}}'
    )


def plain_json(value: object) -> object:
    """A Convex value as plain JSON (see ``_VALUES_HELP``): ``json.dumps`` takes it."""
    from syncwire.protocol import ConvexInt64

    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) <= 2**53:
            return int(value)
        return value
    if isinstance(value, int | ConvexInt64):
        return int(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    return str(value)


def _dumps(value: object, *, indent: int | None = None) -> str:
    return json.dumps(plain_json(value), ensure_ascii=False, indent=indent)


def _configure_logging(*, verbose: bool) -> None:
    """stderr carries what the command itself says, plus the function log lines
    (``[CONVEX Q(messages:list)] [LOG] 'hello'``, as the official client prints
    them); with -v, also the library's own log. The library's connection warnings
    are off by default: the command reports the cause itself, once."""
    from syncwire.client.function_logs import FUNCTION_LOGGER_NAME

    function_lines = logging.StreamHandler(sys.stderr)
    function_lines.setFormatter(logging.Formatter("%(message)s"))
    functions = logging.getLogger(FUNCTION_LOGGER_NAME)
    _install(functions, function_lines)
    functions.setLevel(logging.DEBUG)
    functions.propagate = False
    library = logging.getLogger("syncwire")
    library.propagate = False
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        library.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()  # not Python's last-resort handler either
    _install(library, handler)


_HANDLER_NAME: Final = "syncwire-cli"


def _install(logger: logging.Logger, handler: logging.Handler) -> None:
    """Add ``handler``, replacing one an earlier ``main()`` call in this process added."""
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
    handler.set_name(_HANDLER_NAME)
    logger.addHandler(handler)


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="milliseconds")


def _print_value(text: str) -> bool:
    """One line on stdout; ``False`` once its reader has gone (``| head``)."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()  # nor fails the flush at exit
        return False
    return True


def _status_key(state: ClientConnectionState) -> tuple[object, ...]:
    """What makes a connection change worth a line on stderr: up or down, a new
    socket, a new close reason or cause of failure, not each retry of the same."""
    c = state.connection
    up = c.state == "ready"
    return (up, c.paused, c.connection_count, None if up else c.last_close_reason, state.last_error)


def _auth_rejected(command: str, error: AuthenticationError) -> str:
    """The line for a rejected --auth token: the server's reason, never the token."""
    return f"syncwire {command}: --auth: {error.reason}"


async def _watch(call: _Call) -> int:
    """Each value on stdout as one line of JSON, the rest on stderr, until a signal
    or stdout's reader going away (0) or a failure that will not pass (1)."""
    from syncwire.client import Client
    from syncwire.demo import describe_connection
    from syncwire.errors import AuthenticationError, FatalServerError, FunctionError

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    forget_reader = _when_stdout_reader_leaves(loop, stop.set)

    def status(text: str) -> None:
        write_line(f"{_now()} {text}", "stderr")

    client = Client(call.url)
    code = 0
    try:
        if call.auth is not None:

            def auth_changed(confirmed: bool) -> None:
                if confirmed:  # a rejection raises AuthenticationError from next()
                    status("auth: confirmed")

            client.set_auth(call.auth, on_change=auth_changed)

        async def states() -> None:
            last: tuple[object, ...] | None = None
            async for state in client.connection_states():
                key = _status_key(state)
                if key != last:
                    last = key
                    status(f"connection: {describe_connection(state, loop.time())}")

        async def values() -> int:
            async with client.subscribe(call.function, call.args) as subscription:
                while True:
                    try:
                        value = await subscription.next()
                    except StopAsyncIteration:
                        return 0
                    except AuthenticationError as exc:
                        write_line(_auth_rejected("watch", exc), "stderr")
                        return 1
                    except FatalServerError as exc:
                        write_line(f"syncwire watch: the server ended the session: {exc}", "stderr")
                        return 1
                    except FunctionError as exc:
                        if _wrong_kind(exc, call.function) is not None:
                            # Not a query, or no such function: no later value will come.
                            write_line(f"syncwire watch: {_error_text(exc)}", "stderr")
                            return 1
                        status(f"error: {_error_text(exc)}")
                        continue
                    if not _print_value(_dumps(value)):
                        return 0

        printer = asyncio.ensure_future(states())
        reader = asyncio.ensure_future(values())
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
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await client.close()
    return code


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


_NOT_FOUND = "Could not find public function for '"
_DEFINED_AS = re.compile(r"but it is defined as (Query|Mutation|Action)\b")


def _canonical(name: str) -> str:
    """``messages`` → ``messages:default``, ``messages.js:send`` → ``messages:send``."""
    module, _, function = name.partition(":")
    module = module.removesuffix(".js")
    return f"{module}:{function or 'default'}"


def _wrong_kind(error: Exception, name: str) -> str | None:
    """Whether a failure says the function is not of the kind tried: the kind it is
    (``"mutation"``), ``""`` for "not found as this kind", ``None`` for a real failure."""
    from syncwire.errors import ConvexError, FunctionError

    if not isinstance(error, FunctionError) or isinstance(error, ConvexError):
        return None
    found = _DEFINED_AS.search(error.message)
    if found is not None:
        return found.group(1).lower()
    at = error.message.find(_NOT_FOUND)
    if at >= 0:
        named = error.message[at + len(_NOT_FOUND) :].partition("'")[0]
        if named in (name, _canonical(name)) or _canonical(named) == _canonical(name):
            return ""
    return None


_CONNECT_WITHIN: Final = 10.0
"""Seconds ``run`` waits for a first connection before it gives up with the cause."""


async def _run(call: _Call, kind: str, *, answer_within: float) -> int:
    """One call; the result on stdout as JSON (0), a failure on stderr (1).

    It ends as soon as the outcome is known: an answer, a rejected token, or a
    first connection attempt that failed, or no connection within
    ``_CONNECT_WITHIN`` (a one-shot command has nothing to gain from retrying a
    deployment it never reached); else at ``answer_within``.
    """
    from syncwire.client import Client
    from syncwire.demo import describe_connection

    loop = asyncio.get_running_loop()
    client = Client(call.url)
    trying = ["query" if kind == "auto" else kind]  # the kind the call is being run as
    try:
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
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await client.close()


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


async def _call(client: Client, call: _Call, kind: str, trying: list[str]) -> int:
    """Run the function as ``kind`` (or, for ``auto``, each kind in turn until the
    deployment stops saying it is not one); ``trying[0]`` is the kind being tried."""
    from syncwire.errors import AuthenticationError, ConvexError, FunctionError, SyncwireError

    calls = {"query": client.query, "mutation": client.mutation, "action": client.action}
    kinds = ["query", "mutation", "action"] if kind == "auto" else [kind]
    first_error: FunctionError | None = None
    while kinds:
        current = trying[0] = kinds.pop(0)
        try:
            result = await calls[current](call.function, call.args)
        except FunctionError as exc:
            wrong = _wrong_kind(exc, call.function) if kind == "auto" else None
            if wrong is None or not kinds:
                error = exc if wrong is None or first_error is None else first_error
                write_line(f"error: {_error_text(error)}", "stderr")
                if isinstance(error, ConvexError):
                    write_line(f"data: {_dumps(error.data)}", "stderr")
                return 1
            first_error = first_error or exc
            if wrong and wrong in kinds:
                kinds = [wrong]  # the deployment said which kind it is
            continue
        except AuthenticationError as exc:
            write_line(_auth_rejected("run", exc), "stderr")
            return 1
        except SyncwireError as exc:  # e.g. ConnectionLostError, FatalServerError
            write_line(f"error: {type(exc).__name__}: {exc}", "stderr")
            return 1
        write_line(_dumps(result, indent=2))  # a reader gone (`| head -0`) is no failure
        return 0
    return 1  # unreachable: each pass returns or continues with a kind left


def _error_text(error: Exception) -> str:
    from syncwire.errors import FunctionError

    return error.message if isinstance(error, FunctionError) else str(error)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
