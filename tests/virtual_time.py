"""The virtual-time event loop, for the test folders whose ``conftest.py`` imports this hook.

async-solipsism's loop: no real sleeping, exact times. A folder opts in with

    from tests.virtual_time import pytest_asyncio_loop_factories  # noqa: F401 - the hook

and every asyncio test in it (and below) runs on virtual time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import async_solipsism
import pytest


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Any]:
    """Every asyncio test in an opted-in folder gets a virtual-time event loop."""
    return {"virtual_time": async_solipsism.EventLoop}
