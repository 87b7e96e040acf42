"""The ``syncwire`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from syncwire._version import __version__

if TYPE_CHECKING:
    from syncwire.devserver import App

DEFAULT_APP = "syncwire.devserver.example:chat_app"

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
    serve = commands.add_parser(
        "serve",
        help="run the local dev server (faults can be injected from stdin)",
        description="Serve an app over the Convex sync protocol until Ctrl-C or SIGTERM. "
        "Fault commands are read from stdin, one per line; type `help` for the list.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument(
        "--app",
        default=DEFAULT_APP,
        metavar="MODULE:ATTR",
        help="an App, or a function returning one (default: the example chat app)",
    )
    serve.add_argument("--auth-secret", help="accept HS256 user tokens signed with this secret")
    args = parser.parse_args(argv)
    if args.command == "demo":
        sys.stdout.write(_DEMO_NOT_YET)
        return 0
    if args.command == "serve":
        try:
            app = _load_app(args.app)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            parser.exit(2, f"syncwire serve: cannot load --app {args.app!r}: {exc}\n")
        return asyncio.run(_serve(app, args.host, args.port, args.auth_secret))
    parser.print_help()
    return 2


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


def _say(text: str, stream: str = "stdout") -> None:
    out = sys.stdout if stream == "stdout" else sys.stderr
    out.write(text + "\n")
    out.flush()


def _read_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Thread: stdin lines into ``lines``; ``None`` at end of input."""
    try:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)
    except RuntimeError:  # the loop is closed: the server has stopped
        return


async def _serve(app: App, host: str, port: int, auth_secret: str | None) -> int:
    from syncwire.devserver import DevServer
    from syncwire.devserver.faults import run_command

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    server = DevServer(app, host=host, port=port, auth_secret=auth_secret)
    try:
        await server.start()
    except OSError as exc:
        _say(f"syncwire serve: cannot listen on {host}:{port}: {exc}", "stderr")
        return 1
    _say(f"syncwire dev server {__version__}")
    _say(f"  deployment URL: {server.url}")
    _say(f"  WebSocket URL:  {server.ws_url}")
    _say("type `help` for fault commands; Ctrl-C stops")
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
                _say(f"error: {exc}", "stderr")
                continue
            except Exception as exc:  # e.g. restart cannot listen again: keep serving
                _say(f"error: {type(exc).__name__}: {exc}", "stderr")
                continue
            if reply:
                _say(reply)

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
        _say("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
