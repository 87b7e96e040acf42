"""Client tests on async-solipsism's virtual-time loop, against ``FakeTransport``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import async_solipsism
import pytest


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Any]:
    """Every asyncio test in this folder gets a virtual-time event loop."""
    return {"virtual_time": async_solipsism.EventLoop}
