"""The house rules that no linter checks: private names stay in their module.

The floor plan itself (layers, no import cycles, the dev server apart from the
client) is checked by ``lint-imports`` against ``.importlinter`` in ``make test``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import syncwire

SOURCE = Path(syncwire.__file__).parent
# Private names of the standard library that are its documented way to do a thing.
STANDARD_PRIVATE = {("os", "_exit")}


def defined_names(tree: ast.AST) -> set[str]:
    """Every name a module defines: functions, classes, variables, arguments, attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def private_names_from_elsewhere(source: str) -> list[str]:
    """``_name``s a module imports from syncwire or reads off objects, not its own."""
    tree = ast.parse(source)
    own = defined_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("syncwire"):
            found += [
                f"line {node.lineno}: imports {alias.name} from {node.module}"
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in own
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            and (ast.unparse(node.value), node.attr) not in STANDARD_PRIVATE
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    offences = {
        str(path.relative_to(SOURCE)): found
        for path in sorted(SOURCE.rglob("*.py"))
        if (found := private_names_from_elsewhere(path.read_text(encoding="utf-8")))
    }
    assert offences == {}


def test_the_check_sees_a_private_import_and_a_private_attribute() -> None:
    source = (
        "from syncwire.client.client import _hidden\ndef f(client):\n    return client._state\n"
    )
    assert private_names_from_elsewhere(source) == [
        "line 1: imports _hidden from syncwire.client.client",
        "line 3: client._state",
    ]
    own = (
        "class A:\n"
        "    def __init__(self):\n"
        "        self._x = 1\n"
        "    def same(self, other):\n"
        "        return other._x == self._x\n"
    )
    assert private_names_from_elsewhere(own) == []
