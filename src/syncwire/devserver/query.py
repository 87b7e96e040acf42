"""``Query``: the builder ``ctx.db.query(table)`` returns (filter, order, collect, paginate).

Why apart: it is the function author's read API and knows nothing of
sessions, transactions or tracking; it only filters and orders what it loads.

``paginate`` cursors are positions, not offsets: a cursor holds the order key
of the last document returned (its field value, ``_creationTime`` and
``_id``), so the next page starts strictly after it. A document inserted or
deleted during a walk never shifts the pages: nothing already past is
repeated and nothing not yet reached is skipped.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import json
import math
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Literal
from typing import TypeAlias

from syncwire.devserver.database import Document
from syncwire.protocol import ConvexInt64

__all__ = ["Query"]

_Position: TypeAlias = tuple[tuple[int, Any], float, str]
"""Where a document sits in an order: (its key's sort value, ``_creationTime``, ``_id``)."""


class Query:
    """A lazy query over one table: ``filter``, ``order``, then
    ``collect``/``first``/``take``/``unique`` or ``paginate``."""

    def __init__(self, load: Callable[[], list[Document]], *, table: str = "") -> None:
        self._load = load
        self._table = table
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

    def _ordered(self) -> list[Document]:
        """The matching stored documents, ascending (not copied)."""
        docs = [d for d in self._load() if all(f(d) for f in self._filters)]
        if self._key != "_creationTime":  # stable: ties stay in creation order
            docs.sort(key=lambda d: _sort_key(d.get(self._key)))
        return docs

    def _run(self) -> list[Document]:
        docs = self._ordered()
        if self._order == "desc":
            docs.reverse()
        return [copy.deepcopy(d) for d in docs]

    def paginate(self, opts: object) -> dict[str, Any]:
        """One page: ``opts`` is the function's ``paginationOpts``
        (``{"numItems": n, "cursor": None | str}``); returns
        ``{"page": [...], "isDone": bool, "continueCursor": str}``.

        Pass ``continueCursor`` as the next ``cursor``; the walk is over when
        ``isDone``. See the module for why the pages are stable.
        """
        size, cursor = _check_opts(opts)
        start = None if cursor is None else self._decode(cursor)
        docs = self._ordered()
        positions = [self._position(d) for d in docs]
        if self._order == "asc":
            first = 0 if start is None else bisect.bisect_right(positions, start)
            rest = docs[first:]
        else:
            end = len(docs) if start is None else bisect.bisect_left(positions, start)
            rest = docs[:end][::-1]
        page = rest[:size]
        if page:
            continue_cursor = self._encode(self._position(page[-1]))
        else:
            continue_cursor = cursor if cursor is not None else self._encode(None)
        return {
            "page": [copy.deepcopy(d) for d in page],
            "isDone": len(rest) <= size,
            "continueCursor": continue_cursor,
        }

    def _position(self, doc: Document) -> _Position:
        created = doc.get("_creationTime")
        return (
            _sort_key(doc.get(self._key)),
            float(created) if isinstance(created, (int, float)) else 0.0,
            str(doc.get("_id")),
        )

    def _encode(self, position: _Position | None) -> str:
        where = None if position is None else [list(position[0]), position[1], position[2]]
        text = json.dumps([self._table, self._order, self._key, where], separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def _decode(self, cursor: str) -> _Position | None:
        """The position in a cursor of this table and order; ``ValueError`` otherwise."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            table, order, key, where = json.loads(raw)
        except (binascii.Error, ValueError, TypeError):
            raise ValueError(f"paginationOpts.cursor is not a cursor: {cursor[:40]!r}") from None
        if [table, order, key] != [self._table, self._order, self._key]:
            raise ValueError(
                "paginationOpts.cursor belongs to another query "
                f"(table {table!r}, order {order!r} by {key!r}); "
                f"this one is table {self._table!r}, order {self._order!r} by {self._key!r}"
            )
        if where is None:
            return None
        try:
            (rank, value), created, doc_id = where
            return ((int(rank), value), float(created), str(doc_id))
        except (TypeError, ValueError):
            raise ValueError(f"paginationOpts.cursor is not a cursor: {cursor[:40]!r}") from None

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


def _check_opts(opts: object) -> tuple[int, str | None]:
    """The page size and cursor of a ``paginationOpts`` value, or a clear ``ValueError``."""
    if not isinstance(opts, Mapping):
        raise ValueError(
            'paginationOpts must be an object {"numItems": number, "cursor": string | null}, '
            f"not {type(opts).__name__}"
        )
    if "numItems" not in opts:
        raise ValueError("paginationOpts.numItems is missing")
    num = opts["numItems"]
    if isinstance(num, ConvexInt64):
        num = num.value
    if isinstance(num, bool) or not isinstance(num, (int, float)):
        raise ValueError(f"paginationOpts.numItems must be a number, not {type(num).__name__}")
    if not (math.isfinite(num) and num > 0):
        raise ValueError(f"paginationOpts.numItems must be a positive number, not {num!r}")
    cursor = opts.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ValueError(
            f"paginationOpts.cursor must be a string or null, not {type(cursor).__name__}"
        )
    return max(1, int(num)), cursor
