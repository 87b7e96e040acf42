"""Test-wide settings."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck
from hypothesis import settings

from syncwire.transport.websockets import LOGGER_NAME
from tests.helpers import LogLines

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


@pytest.fixture
def full(request: pytest.FixtureRequest) -> bool:
    """``True`` under ``--full`` (``make reliability``): use the full counts, and assert
    the measured goals (tight bounds on real time) that the default tier only records."""
    return bool(request.config.getoption("--full"))


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog with every logger there is at DEBUG, for the tests that look for secrets."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("websockets", "websockets.client", "syncwire", "asyncio", LOGGER_NAME):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture(autouse=True)
def no_asyncio_errors() -> Iterator[None]:
    """Fail a test after which asyncio reported an error.

    "Task was destroyed but it is pending!", "Task exception was never
    retrieved" and unclosed transports are logged, not raised; collecting
    garbage at teardown makes them show up in the test that caused them.
    """
    handler = LogLines(logging.ERROR)
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(handler)
    try:
        yield
        gc.collect()
    finally:
        asyncio_logger.removeHandler(handler)
    assert not handler.lines, f"asyncio reported: {handler.lines}"
