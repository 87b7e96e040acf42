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
# [text](#anchor) links within a page.
IN_PAGE_LINK = re.compile(r"\]\(#([^)\s]+)\)")

# Citations a reader of the repository cannot follow: the workplace folder next
# to the checkout, the specification files in it, their rule and section numbers.
# (Each alternative is spelled so that it does not match its own source text.)
OUTSIDE = re.compile(
    r"\.\./shared\b"
    r"|\bshared/(?:spec|seed)\b"
    r"|\bspec/\w+\.md\b"
    r"|\bspec:\s*\w+\.md\b"
    r"|(?i:\b(?:the|protocol|manager|client)\s+spec\b)"
    r"|\bspec(?:'s)?\s+(?:on_open|rules?\b)"
    r"|(?i:\brules?\s+\d+)"
)
# A section sign must name a public standard (or the project's issue) right before it;
# the repository's own docs are cited by anchor, never by section number.
SECTION_SIGN = "\N{SECTION SIGN}"
STANDARD_BEFORE_SECTION = re.compile(r"(?:RFC \d+|ECMA-\d+|issue #\d+) $")
# docs/<page>#<anchor>, the way code and tests cite the docs.
DOC_CITATION = re.compile(r"\bdocs/([\w.-]+\.md)#([\w-]+)")
# The docs' anchor convention: <a id="name"></a> opening a line or a list item.
EXPLICIT_ANCHOR = re.compile(r'^(?:- )?<a id="([\w-]+)"></a>', re.M)
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
# Everything a reader may find a citation in, besides the pages above.
SOURCE_DIRS = ["src", "tests", "bench", "fuzz", "scripts", ".ci"]
SOURCE_FILES = ["Makefile", "CHANGELOG.md", "pyproject.toml"]
SOURCE_SUFFIXES = {"", ".py", ".mjs", ".js", ".sh", ".md", ".toml", ".txt"}


def _explicit_anchors(page: Path) -> set[str]:
    return set(EXPLICIT_ANCHOR.findall(page.read_text()))


def _heading_slugs(page: Path) -> set[str]:
    """GitHub's ids for the page's headings, for links within the docs."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        for heading in HEADING.findall(text)
    }


def _sources() -> list[Path]:
    files = [ROOT / name for name in SOURCE_FILES if (ROOT / name).exists()]
    for folder in SOURCE_DIRS:
        files += [
            path
            for path in (ROOT / folder).rglob("*")
            if path.is_file()
            and path.suffix in SOURCE_SUFFIXES
            and "__pycache__" not in path.parts
            and ".venv" not in path.parts
        ]
    return sorted(files)


def bad_citations(text: str) -> list[str]:
    """What in ``text`` cites something a reader of the repository does not have."""
    found = [f"cites outside the repository: {m[0]!r}" for m in OUTSIDE.finditer(text)]
    for match in re.finditer(SECTION_SIGN, text):
        before = text[max(0, match.start() - 24) : match.start()]
        if not STANDARD_BEFORE_SECTION.search(before):
            line = text[: match.start()].count("\n") + 1
            found.append(f"line {line}: a section number of no document in the repository")
    for page, anchor in DOC_CITATION.findall(text):
        doc = ROOT / "docs" / page
        if not doc.exists():
            found.append(f"cites docs/{page}, which does not exist")
        elif anchor not in _explicit_anchors(doc):
            found.append(f'cites docs/{page}#{anchor}: no <a id="{anchor}"></a> there')
    return found


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
    assert not bad_citations(text), f"{page.name}: {bad_citations(text)}"
    for target in LINK.findall(text):
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"
        if anchor and path.suffix == ".md":
            ids = _explicit_anchors(path) | _heading_slugs(path)
            assert anchor in ids, f"{page.name} links to a missing anchor: {target}"
    ids = _explicit_anchors(page) | _heading_slugs(page)
    for anchor in IN_PAGE_LINK.findall(text):
        assert anchor in ids, f"{page.name} links to a missing anchor: #{anchor}"


def test_code_cites_only_what_the_repository_has() -> None:
    """Comments, docstrings and tests cite the docs by anchor (``docs/manager.md#backoff``),
    never the workplace's spec files, their rule numbers or section numbers."""
    sources = _sources()
    assert ROOT / "src" / "syncwire" / "_core" / "machine.py" in sources
    problems = [
        f"{path.relative_to(ROOT)}: {problem}"
        for path in sources
        for problem in bad_citations(path.read_text(errors="replace"))
    ]
    assert not problems, "\n".join(problems)


# Each example is split in two so that this file does not cite what it tests.
@pytest.mark.parametrize(
    "text",
    [
        "see ../" + "shared/" + "seed/web_socket_manager.ts",
        "in shared/" + "spec/" + "client.md",
        "Rule numbers in comments refer to ``spec/" + "manager.md`` \N{SECTION SIGN}2",
        "Frames (protocol " + "spec \N{SECTION SIGN}1)",
        "the URL-safe alphabet (spec \N{SECTION SIGN}2)",
        "the frames protocol.md \N{SECTION SIGN}7 captured",
        "docs/manager.md" + "#no-such-anchor",
        "docs/no-such-page.md" + "#backoff",
        "(rule" + " 8)",
        "(spec: " + "client.md)",
    ],
)
def test_a_bad_citation_is_caught(text: str) -> None:
    assert bad_citations(text)


def test_good_citations_pass() -> None:
    assert not bad_citations("docs/manager.md#backoff, docs/protocol.md#transition-chunks")
    assert not bad_citations("RFC 6455 \N{SECTION SIGN}7.1.5, ECMA-262 \N{SECTION SIGN}6.1.6")
