"""Test-wide settings."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# No per-example deadline: CI machines are shared and timing is not what these
# properties test. Example counts are set per test where a figure is promised.
settings.register_profile("syncwire", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("syncwire")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        help="run the long reliability tiers too (make reliability)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="a long tier: runs with --full (make reliability)")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


class _AsyncioErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_asyncio_errors() -> Iterator[None]:
    """Fail a test after which asyncio reported an error.

    "Task was destroyed but it is pending!", "Task exception was never
    retrieved" and unclosed transports are logged, not raised; collecting
    garbage at teardown makes them show up in the test that caused them.
    """
    handler = _AsyncioErrors()
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(handler)
    try:
        yield
        gc.collect()
    finally:
        asyncio_logger.removeHandler(handler)
    assert not handler.messages, f"asyncio reported: {handler.messages}"
