"""``Database``: the dev server's documents, in memory, shared by every session.

Why apart: the data is what outlives a server (keep a ``Database`` across
restarts; ``state.py`` saves and loads it). The contexts, the query builder
and the engine act on it; this module only stores.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from collections.abc import Mapping
from typing import TypeAlias

from syncwire.protocol import ConvexValue

__all__ = ["Database", "Document"]

Document: TypeAlias = dict[str, ConvexValue]
"""A stored document: user fields plus ``_id`` (str) and ``_creationTime`` (float ms)."""


class Database:
    """In-memory tables of documents; shared by every session of a server.

    Not thread-safe and not transactional by itself: the ``Engine`` serializes
    access and keeps the undo log that makes a failed mutation leave no trace.
    Keep one across server restarts to keep the data.

    Functions reach it through ``ctx.db``, which copies, checks and records.
    The methods here are the raw store under it (no copies, no checks, no
    undo), for the engine and the state file.
    """

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Document]] = {}
        self._table_of: dict[str, str] = {}  # every id ever issued, even deleted
        self._last_creation_time = 0.0

    def restore(
        self,
        tables: Mapping[str, Iterable[Document]],
        ids: Mapping[str, str],
        last_creation_time: float,
    ) -> None:
        """Hold exactly what was saved: ``documents`` by table (in creation order),
        ``issued_ids()`` and ``last_creation_time``."""
        self._tables = {
            table: {str(doc["_id"]): doc for doc in docs} for table, docs in tables.items()
        }
        self._table_of = dict(ids)
        self._last_creation_time = last_creation_time

    def table_of(self, doc_id: str) -> str | None:
        """The table an id belongs to (``None`` for an id this database never issued)."""
        return self._table_of.get(doc_id)

    def tables(self) -> list[str]:
        """Names of the tables that have (or had) documents."""
        return list(self._tables)

    def issued_ids(self) -> dict[str, str]:
        """Every id ever issued (deleted ones too) and its table."""
        return dict(self._table_of)

    @property
    def last_creation_time(self) -> float:
        """The latest ``_creationTime`` given out (float milliseconds)."""
        return self._last_creation_time

    def documents(self, table: str) -> list[Document]:
        """The documents of ``table`` in creation order (the stored objects)."""
        return list(self._tables.get(table, {}).values())

    def get(self, doc_id: str) -> Document | None:
        """The stored document with this id, or ``None``."""
        table = self._table_of.get(doc_id)
        return None if table is None else self._tables.get(table, {}).get(doc_id)

    def new_id(self, table: str) -> str:
        """A fresh id in ``table``, never issued before."""
        while True:
            doc_id = secrets.token_hex(16)
            if doc_id not in self._table_of:
                self._table_of[doc_id] = table
                return doc_id

    def next_creation_time(self, now_ms: float) -> float:
        """``now_ms``, or just after the last one: creation order is total."""
        self._last_creation_time = max(now_ms, self._last_creation_time + 0.001)
        return self._last_creation_time

    def put(self, table: str, doc: Document) -> None:
        """Store ``doc`` under its ``_id`` (an existing id keeps its place in creation order)."""
        self._tables.setdefault(table, {})[str(doc["_id"])] = doc

    def remove(self, table: str, doc_id: str) -> None:
        """Drop a document (its id stays issued)."""
        self._tables.get(table, {}).pop(doc_id, None)

    def reinsert(self, table: str, doc: Document) -> None:
        """Put a removed document back at its place in creation order (undoing a delete)."""
        rows = self._tables.setdefault(table, {})
        rows[str(doc["_id"])] = doc
        ordered = sorted(rows.values(), key=_creation_key)
        rows.clear()
        rows.update((str(d["_id"]), d) for d in ordered)


def _creation_key(doc: Document) -> float:
    value = doc["_creationTime"]
    return float(value) if isinstance(value, (int, float)) else 0.0
