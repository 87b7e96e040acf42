"""The last resort: end the process if even the deadline cannot stop a run.

The scenario is bounded by ``asyncio.timeout``, which needs a working event
loop; a stuck loop (a bug) would hang ``make demo`` forever. A thread, started
before the run, exits the process a while past the deadline instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Final

__all__ = ["watchdog"]

_WATCHDOG_GRACE: Final = 15.0
"""Seconds past the deadline after which the process exits even if the loop is stuck."""


@contextlib.contextmanager
def watchdog(deadline: float) -> Iterator[None]:
    """Within this block, the process exits 1 ``deadline`` + 15 s after it began."""
    timer = threading.Timer(deadline + _WATCHDOG_GRACE, _give_up, args=(deadline,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _give_up(deadline: float) -> None:
    """The watchdog: the run outlived its deadline by far; exit without cleaning up."""
    sys.stderr.write(
        f"syncwire demo: still running {_WATCHDOG_GRACE:g} s after the {deadline:g} s "
        "deadline; giving up (FAIL)\n"
    )
    sys.stderr.flush()
    os._exit(1)
