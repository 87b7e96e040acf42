"""`make bench` stays runnable: each benchmark script, in its ``--quick`` mode, runs to
the end and prints its whole report.

What these tests check is that the scripts run, not how fast anything is: the
``--quick`` figures mean nothing (the scripts say so in their title), so the
verdict on a goal (``PASS`` or ``FAIL``) may be either. A row with a verdict,
whichever, shows that the script got as far as comparing that figure.
"""

from __future__ import annotations

import gc
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import require_node

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``bench/<name>.py`` as a module, without running it."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_quick(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """Run ``bench/<name>.py --quick`` to the end; what it printed."""
    module = load_bench(name, monkeypatch)
    assert capsys.readouterr().out == "", "importing the benchmark must not run it"
    assert module.main(["--quick"]) == 0  # 0 unless the script crashed, whatever the figures
    return capsys.readouterr().out


def assert_verdict_rows(out: str, labels: tuple[str, ...]) -> None:
    """The report has a verdict row for each label (either verdict: see the docstring)."""
    for label in labels:
        assert re.search(rf"^(PASS|FAIL) \({re.escape(label)}\) ", out, re.MULTILINE), out


@pytest.mark.parametrize(
    ("name", "headings", "labels"),
    [
        pytest.param(
            "bench_codec",
            ("## Parse (GC enabled)", "## Encode (GC enabled)", "## Garbage collector"),
            ("a", "a2", "b", "c"),  # a row per frame shape
            id="codec",
        ),
        pytest.param(
            "bench_manager",
            ("## Receive path", "## The server's own send ceiling", "## Idle memory"),
            ("a", "a2", "b", "mem"),  # a row per shape, and memory
            id="manager",
        ),
        pytest.param(
            "bench_typed",
            ("| plain: parse + value ", "| typed: parse + value + Structs "),
            ("structs",),
            id="typed",
        ),
    ],
)
def test_bench_quick_runs_to_the_end_and_prints_its_report(
    name: str,
    headings: tuple[str, ...],
    labels: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = run_quick(name, monkeypatch, capsys)
    assert gc.isenabled()
    for heading in headings:
        assert heading in out
    assert_verdict_rows(out, labels)


def test_bench_client_quick_runs_to_the_end_and_prints_its_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("convex") is None:
        pytest.skip("the official Python client (PyPI `convex`) is not installed")
    out = run_quick("bench_client", monkeypatch, capsys)
    for heading in ("## Throughput", "## Latency", "## Goals"):
        assert heading in out
    for candidate in ("server ceiling: socket", "syncwire", "official"):  # a table row each
        assert re.search(rf"^\| {re.escape(candidate)} ", out, re.MULTILINE), out
    assert_verdict_rows(out, ("throughput", "latency"))


def test_bench_deflate_quick_runs_to_the_end_and_prints_its_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_quick("bench_deflate", monkeypatch, capsys)
    for compression in ("on", "off"):
        assert re.search(rf"^\| loopback +\| {compression} +\| +\d", out, re.MULTILINE), out
    # The slow link is measured, or the row says why it could not be.
    assert re.search(r"^\| 10mbit \((tbf|skipped: .+)\) ", out, re.MULTILINE), out


def test_bench_results_quick_runs_to_the_end_and_prints_its_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("convex") is None:
        pytest.skip("the official Python client (PyPI `convex`) is not installed")
    require_node("the three-client benchmark (bench/bench_results.py)")
    out = run_quick("bench_results", monkeypatch, capsys)
    for heading in ("## Large results", "## Subscriptions at scale", "## Goals"):
        assert heading in out
    header = r"^\| work +\| [^|]+\| +syncwire \| +official Python \| +official JS \|$"
    assert len(re.findall(header, out, re.MULTILINE)) == 2, out
    # Every client has a figure in every cell: at quick sizes none fails or hits its cap.
    figure = r" +[\d,.]+ ms[^|]*\| +[\d,.]+ ms[^|]*\| +[\d,.]+ ms[^|]* \|$"
    assert len(re.findall(rf"^\| one [^|]+ result[^|]*\|[^|]+\|{figure}", out, re.MULTILINE)) == 3
    rows = re.findall(
        rf"^\| [\d,]+ subscriptions, all first values [^|]*\|[^|]+\|{figure}", out, re.MULTILINE
    )
    assert len(rows) == 2, out
    assert_verdict_rows(out, ("large", "medium", "subscriptions"))


def test_bench_http_quick_runs_to_the_end_and_prints_its_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("convex") is None:
        pytest.skip("the official Python client (PyPI `convex`) is not installed")
    out = run_quick("bench_http", monkeypatch, capsys)
    for heading in ("## One-shot", "## Keep-alive", "## Ratios"):
        assert heading in out
    for client in ("official ConvexHttpClient", "syncwire ConvexHttpClient", "syncwire HttpClient"):
        # A figure for each client in both tables: every one of them ran.
        assert len(re.findall(rf"^\| {client} +\| +[\d.]+ ms", out, re.MULTILINE)) == 2, out
