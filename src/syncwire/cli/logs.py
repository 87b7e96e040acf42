"""stderr for ``watch`` and ``run``: the function log lines always, the library's log with -v."""

from __future__ import annotations

import logging
import sys
from typing import Final

__all__ = ["configure_logging"]

_HANDLER_NAME: Final = "syncwire-cli"


def configure_logging(*, verbose: bool) -> None:
    """stderr carries what the command itself says, plus the function log lines
    (``[CONVEX Q(messages:list)] [LOG] 'hello'``, as the official client prints
    them); with -v, also the library's own log. The library's connection warnings
    are off by default: the command reports the cause itself, once."""
    from syncwire.function_logs import FUNCTION_LOGGER_NAME

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


def _install(logger: logging.Logger, handler: logging.Handler) -> None:
    """Add ``handler``, replacing one an earlier ``main()`` call in this process added."""
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
    handler.set_name(_HANDLER_NAME)
    logger.addHandler(handler)
