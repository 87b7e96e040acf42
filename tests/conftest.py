"""Test-wide settings."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck
from hypothesis import settings

from syncwire.transport.base import Transport
from tests.helpers import LogLines
from tests.transports import CAPABILITIES
from tests.transports import KINDS
from tests.transports import Kind

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "transport_needs(capability): a strict xfail on a transport kind that lacks it "
        "(tests/transports.py says which, and why)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        expect_failure_where_lacking(item)
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="a long tier: runs with --full (make reliability)")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


def expect_failure_where_lacking(item: pytest.Item) -> None:
    """``transport_needs(capability)`` on a kind without it: a strict xfail, which runs
    the test (it must fail) and fails the run once the kind gains the capability;
    ``strict=False`` where the failure is a measurement near its goal."""
    callspec = getattr(item, "callspec", None)
    kind = callspec.params.get("transport_kind") if callspec is not None else None
    for mark in item.iter_markers("transport_needs"):
        (capability,) = mark.args
        assert capability in CAPABILITIES, f"{item.nodeid}: unknown capability {capability!r}"
        assert isinstance(kind, Kind), f"{item.nodeid}: transport_needs without transport_kind"
        if not kind.has(capability):
            reason = f"{kind.name} lacks {capability}: {kind.lacks[capability]}"
            strict = bool(mark.kwargs.get("strict", True))
            item.add_marker(pytest.mark.xfail(reason=reason, strict=strict))


@pytest.fixture(
    params=[
        pytest.param(
            kind,
            id=kind.name,
            marks=pytest.mark.skipif(kind.missing is not None, reason=kind.missing or ""),
        )
        for kind in KINDS
    ]
)
def transport_kind(request: pytest.FixtureRequest) -> Kind:
    """Each shipped transport in turn (``tests/transports.py``): a test taking this,
    or ``make_transport``, runs once per transport, with its name as the id."""
    kind: Kind = request.param
    return kind


@pytest.fixture
def make_transport(transport_kind: Kind) -> Callable[..., Transport]:
    """Builds the transport under test: ``make_transport(max_message_size=1024)``."""
    return transport_kind.make


@pytest.fixture
def full(request: pytest.FixtureRequest) -> bool:
    """``True`` under ``--full`` (``make reliability``): use the full counts, and assert
    the measured goals (tight bounds on real time) that the default tier only records."""
    return bool(request.config.getoption("--full"))


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog with every logger there is at DEBUG, for the tests that look for secrets,
    and every transport's loggers at the lowest level their library logs at (picows
    logs the upgrade request, every header in it, at 9)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("syncwire", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    for kind in KINDS:
        names = kind.log_names if kind.missing else (*kind.log_names, kind.logger_name)
        for name in names:
            caplog.set_level(kind.lowest_log_level, logger=name)
    # Each set_level also sets caplog's handler level: keep the lowest.
    caplog.handler.setLevel(min(kind.lowest_log_level for kind in KINDS))
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
