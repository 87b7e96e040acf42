"""docs/manager.md shows the transition table the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from syncwire._core.diagram import mermaid_state_diagram
from syncwire._core.states import TRANSITIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "manager.md"


def test_the_documented_diagram_is_generated_from_the_table() -> None:
    text = DOC.read_text()
    match = re.search(
        r"<!-- BEGIN GENERATED DIAGRAM.*?-->\n```mermaid\n(.*?)```\n<!-- END GENERATED DIAGRAM -->",
        text,
        re.S,
    )
    assert match, "docs/manager.md keeps the generated diagram between its markers"
    assert match.group(1) == mermaid_state_diagram(), (
        "the diagram drifted from TRANSITIONS: paste `python -m syncwire._core.diagram`"
    )


def _node(label: str) -> str:
    return label.replace("(", "_").replace(")", "")


def test_every_transition_is_an_edge_of_the_diagram() -> None:
    edges: dict[tuple[str, str], set[str]] = {}
    for line in mermaid_state_diagram().splitlines():
        found = re.fullmatch(r"    (\w+) --> (\w+): (.*)", line)
        if found:
            edges[found[1], found[2]] = set(found[3].split(" / "))
    expected: dict[tuple[str, str], set[str]] = {}
    for source, event, target in TRANSITIONS:
        expected.setdefault((_node(source), _node(target)), set()).add(event)
    assert edges == expected
