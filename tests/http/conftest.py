"""Fixtures of the HTTP client tests."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from tests.http.support import Deployment
from tests.http.support import Driver


@pytest.fixture(params=["HttpClient", "ConvexHttpClient"])
def drive(request: pytest.FixtureRequest) -> Iterator[Callable[..., Driver]]:
    """``drive(deployment, **options)``: each client in turn on a scripted deployment."""
    drivers: list[Driver] = []

    def make(deployment: Deployment, **options: Any) -> Driver:
        driver = Driver(request.param, deployment, **options)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.finish()
