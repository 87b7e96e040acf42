"""`make bench` stays runnable: the codec benchmark, in its --quick mode."""

from __future__ import annotations

import gc
import importlib.util
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_codec.py"


def test_bench_codec_quick_runs_and_reports_every_shape(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_codec", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    assert capsys.readouterr().out == "", "importing the benchmark must not run it"

    assert module.main(["--quick"]) == 0

    out = capsys.readouterr().out
    assert gc.isenabled()
    for heading in ("## Parse (GC enabled)", "## Encode (GC enabled)", "## Garbage collector"):
        assert heading in out
    for shape in ("a", "a2", "b", "c"):  # one goal verdict per frame shape
        assert re.search(rf"^(PASS|FAIL) \({shape}\) ", out, re.MULTILINE), out


BENCH_MANAGER = Path(__file__).resolve().parents[1] / "bench" / "bench_manager.py"


def test_bench_manager_quick_runs_and_reports_every_goal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_manager", BENCH_MANAGER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert capsys.readouterr().out == ""
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert gc.isenabled()
    for heading in ("## Receive path", "## The server's own send ceiling", "## Idle memory"):
        assert heading in out
    for shape in ("a", "a2", "b", "mem"):
        assert re.search(rf"^(PASS|FAIL) \({shape}\) ", out, re.MULTILINE), out


BENCH_CLIENT = Path(__file__).resolve().parents[1] / "bench" / "bench_client.py"


def test_bench_client_quick_runs_and_reports_both_goals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("convex") is None:
        pytest.skip("the official Python client (PyPI `convex`) is not installed")
    spec = importlib.util.spec_from_file_location("bench_client", BENCH_CLIENT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert capsys.readouterr().out == ""
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for heading in ("## Throughput", "## Latency", "## Goals"):
        assert heading in out
    for candidate in ("server ceiling: socket", "syncwire", "official"):
        assert re.search(rf"^\| {re.escape(candidate)} ", out, re.MULTILINE), out
    for goal in ("throughput", "latency"):
        assert re.search(rf"^(PASS|FAIL) \({goal}\) ", out, re.MULTILINE), out
