"""Driver tests run on async-solipsism's virtual-time loop: no real sleeping, exact times."""

from tests.virtual_time import pytest_asyncio_loop_factories  # noqa: F401 - the hook
