"""What a subcommand is to ``main``, and what several subcommands share."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Command", "require_positive_timeout", "stop_on_signals"]


@dataclass(frozen=True, slots=True)
class Command:
    """One ``syncwire COMMAND``: its help, its arguments, and what runs it."""

    name: str
    help: str
    """One line in ``syncwire --help``."""
    description: str
    """The paragraph of ``syncwire COMMAND --help``."""
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, argparse.ArgumentParser], int]
    """Runs the command with its parsed arguments (and its parser, for errors: exit
    code 2); returns the exit code."""


def require_positive_timeout(parser: argparse.ArgumentParser, seconds: float) -> None:
    """``--timeout``: a positive number of seconds, or exit 2 with the command's usage."""
    if not (seconds > 0 and math.isfinite(seconds)):
        parser.error("--timeout must be positive")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C, ``kill``), for a clean stop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    return stop
