"""Manager cores for the tests in ``tests/core/``, on plain float time (no tests here)."""

from __future__ import annotations

import logging
from typing import Any

from syncwire._core.machine import CoreConfig
from syncwire._core.machine import ManagerCore

EPOCH = 1_800_000_000.0  # wall-clock seconds at loop time 0
LOGGER = "tests.core"


def make_core(rand: float = 0.5, **config: Any) -> ManagerCore:
    """A core whose jitter is ``rand`` (0.5 means none), whose wall clock is EPOCH + now
    and which logs to ``LOGGER``."""
    return ManagerCore(
        config=CoreConfig(**config),
        rand=lambda: rand,
        epoch_at_zero=EPOCH,
        logger=logging.getLogger(LOGGER),
    )


def ready_core(now: float = 0.0, **config: Any) -> ManagerCore:
    """A core started at ``now`` whose socket 1 opened at once; no actions pending."""
    core = make_core(**config)
    core.start(now)
    core.socket_opened(1, now)
    core.take_actions()
    return core
