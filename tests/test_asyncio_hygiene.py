"""The test suite's own safety nets really fail a test that leaks.

Two nets: the autouse fixture ``no_asyncio_errors`` (tests/conftest.py) fails
a test after which asyncio logged an error such as "Task was destroyed but it
is pending!"; and ``filterwarnings = ["error"]`` (pyproject.toml) turns an
unclosed socket's ResourceWarning into a failure. Each is proven by running a
tiny inner test file in a separate pytest process with the project's real
conftest and pytest configuration, then again without the net (the control),
where the same leaks pass.

A subprocess, not ``runpytest_inprocess``: in-process, the inner test's asyncio
error would reach this test's own ``no_asyncio_errors`` handler.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

INNER_TESTS = """
import asyncio
import socket


def _run_with_a_task(*, cancel: bool) -> None:
    loop = asyncio.new_event_loop()

    async def forever() -> None:
        await loop.create_future()

    async def main() -> None:
        task = asyncio.ensure_future(forever())
        await asyncio.sleep(0)  # let it start and block
        if cancel:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_tidy() -> None:
    _run_with_a_task(cancel=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))


def test_pending_task_destroyed() -> None:
    _run_with_a_task(cancel=False)  # the pending task is garbage once the loop is gone


def test_unclosed_socket() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    del sock  # ResourceWarning: unclosed <socket.socket ...>
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytest project with this project's conftest, config and the inner tests."""
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyprojecttoml((ROOT / "pyproject.toml").read_text())
    pytester.makepyfile(test_inner=INNER_TESTS)
    return pytester


def test_the_safety_nets_fail_leaky_tests(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "test_inner.py", timeout=60
    )
    # test_pending_task_destroyed passes its call and errors at teardown.
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            # The pending task: no_asyncio_errors fails the test at teardown.
            "*ERROR at teardown of test_pending_task_destroyed*",
            "E*AssertionError: asyncio reported: [?Task was destroyed but it is pending!*",
            # The unclosed socket: the ResourceWarning, as an error, fails the test.
            "*test_unclosed_socket*",
            "E*ResourceWarning: unclosed <socket.socket*",
            # Only the tidy test is clean.
            "PASSED test_inner.py::test_tidy",
            "PASSED test_inner.py::test_pending_task_destroyed",
            "ERROR test_inner.py::test_pending_task_destroyed - AssertionError*",
            "FAILED test_inner.py::test_unclosed_socket - pytest.PytestUnraisable*",
        ]
    )


def test_without_the_nets_the_same_leaks_pass(inner: pytest.Pytester) -> None:
    """The control: no conftest (no ``no_asyncio_errors``) and ResourceWarning ignored,
    and the same leaky tests pass, so the failures above come from the nets."""
    result = inner.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--noconftest",
        "-W",
        "ignore::ResourceWarning",
        "test_inner.py",
        timeout=60,
    )
    result.assert_outcomes(passed=3)
