"""Client tests on async-solipsism's virtual-time loop, against ``FakeTransport``."""

from tests.virtual_time import pytest_asyncio_loop_factories  # noqa: F401 - the hook
