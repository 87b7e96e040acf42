"""``syncwire serve``: the dev server until Ctrl-C or SIGTERM, fault commands on stdin."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import sys
import threading
from typing import TYPE_CHECKING

from syncwire._version import __version__
from syncwire.cli.command import Command
from syncwire.cli.command import stop_on_signals
from syncwire.console import write_line

if TYPE_CHECKING:
    from syncwire.devserver import App

__all__ = ["DEFAULT_APP", "SERVE", "load_app"]

DEFAULT_APP = "syncwire.devserver.example:chat_app"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=_port, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--app",
        default=DEFAULT_APP,
        metavar="MODULE:ATTR",
        help="an App, or a function returning one (default: the example chat app)",
    )
    parser.add_argument("--auth-secret", help="accept HS256 user tokens signed with this secret")
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="keep the data and the mutation answers in FILE (loaded at start, rewritten "
        "after every commit), so that they survive a killed server",
    )


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        app = load_app(args.app)
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


def load_app(spec: str) -> App:
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

    stop = stop_on_signals()
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
    loop = asyncio.get_running_loop()
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


SERVE = Command(
    name="serve",
    help="run the local dev server (faults can be injected from stdin)",
    description="Serve an app over the Convex sync protocol until Ctrl-C or SIGTERM. "
    "Fault commands are read from stdin, one per line; type `help` for the list.",
    add_arguments=_add_arguments,
    run=_run,
)
