"""Lines for the command line's terminal, and a quiet end when its reader leaves.

``syncwire serve | head`` closes stdout under the program: the next write raises
``BrokenPipeError``. The commands then go on (or end) quietly, as Unix tools do,
instead of printing a traceback.
"""

from __future__ import annotations

import os
import sys

__all__ = ["silence_stdout", "write_line"]


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that no later write or the flush at exit fails again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def write_line(text: str, stream: str = "stdout") -> bool:
    """Print a line; once stdout's reader has gone, print nothing more there.

    Returns ``False`` for the line that found stdout's reader gone (``| head``), so
    that a command with nothing else to do can end there.
    """
    out = sys.stdout if stream == "stdout" else sys.stderr
    try:
        out.write(text + "\n")
        out.flush()
    except BrokenPipeError:
        if out is not sys.stdout:
            raise
        silence_stdout()
        return False
    return True
