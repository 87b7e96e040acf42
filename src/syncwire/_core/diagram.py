"""The state diagram in ``docs/manager.md``, generated from ``TRANSITIONS``.

The seed's hand-drawn diagram (docs/manager.md#seed) drifted from its code; this one cannot, because
a test regenerates it and compares. Run ``python -m syncwire._core.diagram``
to print it after changing the table.
"""

from __future__ import annotations

from collections import defaultdict

from syncwire._core.states import STATE_LABELS
from syncwire._core.states import TRANSITIONS

__all__ = ["mermaid_state_diagram"]


def _node(label: str) -> str:
    return label.replace("(", "_").replace(")", "")


def mermaid_state_diagram() -> str:
    """A Mermaid ``stateDiagram-v2`` of every transition, edges merged per state pair."""
    events: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for source, event, target in TRANSITIONS:
        events[source, target].append(event)
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{label}" as {_node(label)}' for label in STATE_LABELS if "(" in label]
    lines.append("    [*] --> disconnected")
    for source, target in sorted(
        events, key=lambda k: (STATE_LABELS.index(k[0]), STATE_LABELS.index(k[1]))
    ):
        label = " / ".join(sorted(events[source, target]))
        lines.append(f"    {_node(source)} --> {_node(target)}: {label}")
    lines.append("    terminated --> [*]")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(mermaid_state_diagram(), end="")
