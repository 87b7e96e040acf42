"""``Query``: the builder ``ctx.db.query(table)`` returns (filter, order, collect).

Why apart: it is the function author's read API and knows nothing of
sessions, transactions or tracking; it only filters and orders what it loads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import Literal

from syncwire.devserver.database import Document

__all__ = ["Query"]


class Query:
    """A lazy query over one table: ``filter``, ``order``, then ``collect``/``first``/``take``."""

    def __init__(self, load: Callable[[], list[Document]]) -> None:
        self._load = load
        self._filters: list[Callable[[Document], bool]] = []
        self._order: Literal["asc", "desc"] = "asc"
        self._key: str = "_creationTime"

    def filter(self, predicate: Callable[[Document], bool]) -> Query:
        """Keep documents for which ``predicate(doc)`` is true."""
        self._filters.append(predicate)
        return self

    def order(self, direction: Literal["asc", "desc"], by: str = "_creationTime") -> Query:
        """Order by a field (default: creation time, Convex's default index)."""
        if direction not in ("asc", "desc"):
            raise ValueError(f'order is "asc" or "desc", not {direction!r}')
        self._order, self._key = direction, by
        return self

    def _run(self) -> list[Document]:
        docs = [d for d in self._load() if all(f(d) for f in self._filters)]
        if self._key != "_creationTime":
            docs.sort(key=lambda d: _sort_key(d.get(self._key)))
        if self._order == "desc":
            docs.reverse()
        return [copy.deepcopy(d) for d in docs]

    def collect(self) -> list[Document]:
        """Every matching document."""
        return self._run()

    def take(self, n: int) -> list[Document]:
        """The first ``n`` matching documents."""
        return self._run()[: max(0, int(n))]

    def first(self) -> Document | None:
        """The first matching document, or ``None``."""
        docs = self._run()
        return docs[0] if docs else None

    def unique(self) -> Document | None:
        """The only matching document, or ``None``; more than one is an error."""
        docs = self._run()
        if len(docs) > 1:
            raise ValueError(f"unique() query returned {len(docs)} documents")
        return docs[0] if docs else None

    def __iter__(self) -> Iterator[Document]:
        return iter(self._run())


def _sort_key(value: object) -> tuple[int, Any]:
    # Convex orders values by type first; a simplified total order is enough here.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (3, value)
    return (4, repr(value))
