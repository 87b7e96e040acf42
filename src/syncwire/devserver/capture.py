"""``console``: how a dev server function logs, as a Convex function does.

Why apart, and why only ``console``: a Convex function logs with
``console.log``; its lines travel with the result (``[LOG] 'text'``). Here
``console`` writes into the capture of the function run it is called from,
found in a context variable, so concurrent runs (actions) keep their own
lines and nothing process-wide is touched. ``print`` and ``logging`` in a
function go where they always go (stdout, your logging setup): the dev server
replaces neither ``sys.stdout`` nor a logger's handlers, which would be
global, not thread-safe, and would fight pytest's own capture.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["Console", "capturing", "console", "js_quote"]

_LINES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "syncwire_devserver_log_lines", default=None
)


@contextlib.contextmanager
def capturing() -> Iterator[list[str]]:
    """Collect the ``console`` lines of the code run inside, in this context only."""
    lines: list[str] = []
    token = _LINES.set(lines)
    try:
        yield lines
    finally:
        _LINES.reset(token)


def js_quote(text: str) -> str:
    """Quote a string as Node's ``util.inspect`` does, which is how Convex shows it."""
    if "'" not in text:
        quote = "'"
    elif '"' not in text:
        quote = '"'
    elif "`" not in text and "${" not in text:
        quote = "`"
    else:
        quote = "'"
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    if quote == "'":
        escaped = escaped.replace("'", "\\'")
    return f"{quote}{escaped}{quote}"


def _inspect(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


class Console:
    """``console.log/info/warn/error/debug`` with Convex's exact levels.

    Inside a function run, a call adds one log line to the run's result;
    outside one, the line is printed.
    """

    def _emit(self, level: str, args: tuple[object, ...]) -> None:
        parts = [js_quote(a) if isinstance(a, str) else _inspect(a) for a in args]
        line = f"[{level}] {' '.join(parts)}"
        lines = _LINES.get()
        if lines is None:
            print(line)
        else:
            lines.append(line)

    def log(self, *args: object) -> None:
        self._emit("LOG", args)

    def info(self, *args: object) -> None:
        self._emit("INFO", args)

    def warn(self, *args: object) -> None:
        self._emit("WARN", args)

    def error(self, *args: object) -> None:
        self._emit("ERROR", args)

    def debug(self, *args: object) -> None:
        self._emit("DEBUG", args)


console = Console()
"""The ``console`` functions log with (``from syncwire.devserver import console``)."""
