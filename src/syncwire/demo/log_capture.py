"""The library's log during a run: its warnings become event lines, off stderr."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from syncwire.demo.status import DemoStatus

__all__ = ["library_log_to"]


class _LogLines(logging.Handler):
    """Warnings and errors the library logs during the run become event lines."""

    def __init__(self, status: DemoStatus) -> None:
        super().__init__(logging.WARNING)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: after the run
            self.status.log(f"{record.levelname.lower()}: {record.name}: {record.getMessage()}")


@contextlib.contextmanager
def library_log_to(status: DemoStatus) -> Iterator[None]:
    """The library's warnings become event lines, and stay off stderr (and the live view)."""
    library = logging.getLogger("syncwire")
    handler, propagate = _LogLines(status), library.propagate
    library.addHandler(handler)
    library.propagate = False
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.propagate = propagate
