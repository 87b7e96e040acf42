"""The README and docs/ as a newcomer reads them: every snippet runs, every link resolves."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) links, minus the web ones and in-page anchors.
LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+)\)")


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_python_snippet_runs(page: Path) -> None:
    """Each ```python block runs on its own, as pasted into a fresh file, or, if it
    awaits at the top level, into a notebook cell (Jupyter runs such a cell in its loop)."""
    for number, block in enumerate(_python_blocks(page), 1):
        name = f"{page.relative_to(ROOT)} (python block {number})"
        code = compile(block, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, {"__name__": "__main__"})  # noqa: S307 - our own docs
        if inspect.iscoroutine(result):
            asyncio.run(result)


def test_the_docs_have_snippets() -> None:
    assert _python_blocks(ROOT / "README.md")
    assert _python_blocks(ROOT / "docs" / "client.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_point_into_the_repository(page: Path) -> None:
    """Readers have the repository, not the workplace around it: no link leaves it."""
    text = page.read_text()
    assert "../shared" not in text
    for target in LINK.findall(text):
        path = (page.parent / target.partition("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"
