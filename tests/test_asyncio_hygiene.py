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

import json
import os
from pathlib import Path
from typing import Any

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


# Writes what happened to each inner test, from pytest's report objects (not its
# terminal output, whose wording is pytest's): phase, outcome, the exception raised
# and its cause, and the text of an AssertionError (the nets' own words).
RECORDER = """
import json

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    exc = call.excinfo.value if call.excinfo is not None else None
    cause = getattr(exc, "__cause__", None)
    with open("outcomes.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps({
            "test": item.name,
            "when": call.when,
            "outcome": report.outcome,
            "error": None if exc is None else type(exc).__qualname__,
            "is_unraisable_warning": isinstance(exc, pytest.PytestUnraisableExceptionWarning),
            "cause": None if cause is None else type(cause).__qualname__,
            "assertion": str(exc) if isinstance(exc, AssertionError) else None,
        }) + "\\n")
    return report
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest project with this project's conftest, config and the inner tests."""
    # The conftest imports tests.helpers: the inner run finds this checkout's tests/.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyprojecttoml((ROOT / "pyproject.toml").read_text())
    pytester.makepyfile(test_inner=INNER_TESTS, outcome_recorder=RECORDER)
    return pytester


def outcomes(pytester: pytest.Pytester) -> dict[tuple[str, str], dict[str, Any]]:
    """``(test, phase)`` → what ``RECORDER`` wrote about it."""
    lines = (pytester.path / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    return {(record["test"], record["when"]): record for record in records}


def test_the_safety_nets_fail_leaky_tests(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "outcome_recorder", "test_inner.py", timeout=60
    )
    # test_pending_task_destroyed passes its call and errors at teardown.
    result.assert_outcomes(passed=2, failed=1, errors=1)
    seen = outcomes(inner)
    phases = ("setup", "call", "teardown")
    # Only the tidy test is clean.
    assert [seen["test_tidy", when]["outcome"] for when in phases] == ["passed"] * 3
    # The pending task: no_asyncio_errors fails the test at teardown, in its own words.
    pending = [seen["test_pending_task_destroyed", when] for when in phases]
    assert [record["outcome"] for record in pending] == ["passed", "passed", "failed"]
    assert pending[2]["error"] == "AssertionError"
    assert pending[2]["assertion"].startswith("asyncio reported: ")
    # The unclosed socket: the ResourceWarning, as an error, fails the test.
    unclosed = seen["test_unclosed_socket", "call"]
    assert unclosed["outcome"] == "failed"
    assert unclosed["is_unraisable_warning"]
    assert unclosed["cause"] == "ResourceWarning"


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
