"""``syncwire demo`` from start to exit code: the config, the view, the watchdog."""

from __future__ import annotations

import random
import sys

from syncwire.demo.checks import passed
from syncwire.demo.config import DemoConfig
from syncwire.demo.plain_view import run_plain
from syncwire.demo.rich_view import run_live
from syncwire.demo.watchdog import watchdog

__all__ = ["main"]


def main(
    *,
    quick: bool = False,
    seed: int | None = None,
    deadline: float = 30.0,
    plain: bool | None = None,
) -> int:
    """``syncwire demo``: run, print the summary; 0 only if every check passed.

    ``plain`` (default: stdout is not a terminal) prints event lines instead of
    the live view. A watchdog thread ends the process if even the deadline
    cannot stop the run (a stuck event loop).
    """
    seed = random.randrange(1_000_000) if seed is None else seed  # noqa: S311 - not a secret
    config = DemoConfig.quick(seed, deadline) if quick else DemoConfig(deadline=deadline, seed=seed)
    if plain is None:
        plain = not sys.stdout.isatty()
    with watchdog(deadline):
        checks = run_plain(config) if plain else run_live(config)
    return 0 if passed(checks) else 1
