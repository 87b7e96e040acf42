"""The package as users meet it: public names, the README example, the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import syncwire
import syncwire.protocol
from syncwire.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", [syncwire, syncwire.protocol])
def test_all_is_exact_and_sorted(module: object) -> None:
    exported = module.__all__  # type: ignore[attr-defined]
    # isort-style, as ruff keeps it: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    }
    assert set(exported) - {"__version__"} == public - {"annotations"}


def test_version_lives_in_one_place() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'path = "src/syncwire/_version.py"' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", syncwire.__version__)


def test_command_without_arguments_shows_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no line wrapped, however narrow the terminal
    assert main([]) == 2
    out = capsys.readouterr().out
    # syncwire's own words (not argparse's): its description and each command's help.
    for text in [
        "A Convex sync client for asyncio, and its tools.",
        "run the fault-injection demo against a local server",
        "run the local dev server (faults can be injected from stdin)",
        "subscribe to a query and print each new value until Ctrl-C",
        "run one query, mutation or action and print its result as JSON",
    ]:
        assert text in out, out


def test_python_dash_m_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "syncwire", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == f"syncwire {syncwire.__version__}"
