"""Log lines from Convex functions, as convex-js ``logForFunction`` prints them.

The server sends ``console.log`` output as ``"[LEVEL] text"``; it is logged
as ``[CONVEX Q(path)] [LEVEL] text`` (Q, M or A for query, mutation or
action; ``?`` for a function of a kind the client does not know, as the HTTP
API's ``/api/function`` runs) at the matching Python level (``console.log`` is INFO), always on the
logger named ``syncwire.function_logs``, so one line shows them::

    logging.basicConfig(); logging.getLogger("syncwire.function_logs").setLevel("INFO")
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final
from typing import Literal

__all__ = ["FUNCTION_LOGGER", "FUNCTION_LOGGER_NAME", "log_function_lines"]

FUNCTION_LOGGER_NAME: Final = "syncwire.function_logs"
"""A stable name: the docs and the CLI turn these lines on by it."""
FUNCTION_LOGGER: Final = logging.getLogger(FUNCTION_LOGGER_NAME)

_LEVEL_PREFIX: Final = re.compile(r"\[(.*?)\] ")
_LEVELS: Final = {
    "DEBUG": logging.DEBUG,
    "LOG": logging.INFO,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
}


def log_function_lines(
    logger: logging.Logger, kind: Literal["Q", "M", "A", "?"], udf_path: str, lines: Iterable[str]
) -> None:
    for line in lines:
        match = _LEVEL_PREFIX.match(line)
        if match is None:
            logger.error("[CONVEX %s(%s)] Could not parse console.log", kind, udf_path)
            continue
        level = match.group(1)
        logger.log(
            _LEVELS.get(level, logging.INFO),
            "[CONVEX %s(%s)] [%s] %s",
            kind,
            udf_path,
            level,
            line[match.end() :],
        )
