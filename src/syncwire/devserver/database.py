"""``Database``: the dev server's documents, in memory, shared by every session.

Why apart: the data is what outlives a server (keep a ``Database`` across
restarts; ``state.py`` saves and loads it). The contexts, the query builder
and the engine act on it; this module only stores. ``History`` keeps the
before-images of recent commits, so that a query can read the database as it
was at an earlier timestamp (the HTTP API's ``/api/query_at_ts``), as a
deployment keeps about 30 seconds of history.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Final
from typing import Protocol
from typing import TypeAlias

from syncwire.protocol import ConvexValue

__all__ = [
    "HISTORY_MAX_COMMITS",
    "HISTORY_SECONDS",
    "BeforeImages",
    "Database",
    "Document",
    "History",
    "Snapshot",
    "SnapshotUnavailableError",
    "Store",
]

HISTORY_SECONDS: Final = 30.0
"""How far back a read at an earlier timestamp may go (a deployment keeps about 30 s)."""
HISTORY_MAX_COMMITS: Final = 100_000
"""At most this many commits are kept for reads in the past, whatever their age."""

Document: TypeAlias = dict[str, ConvexValue]
"""A stored document: user fields plus ``_id`` (str) and ``_creationTime`` (float ms)."""
BeforeImages: TypeAlias = dict[str, tuple[str, Document | None]]
"""What one commit changed: ``_id`` → (table, the document before it; ``None`` if inserted)."""


class Store(Protocol):
    """What reading needs: a ``Database``, or a ``Snapshot`` of it at an earlier ts."""

    def table_of(self, doc_id: str) -> str | None: ...
    def get(self, doc_id: str) -> Document | None: ...
    def documents(self, table: str) -> list[Document]: ...


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


class SnapshotUnavailableError(ValueError):
    """A read at a timestamp outside the history kept (too old, or not reached yet)."""


class Snapshot:
    """The database as it was at one timestamp: the current documents with the
    commits after it undone (read-only; valid until the next commit)."""

    def __init__(self, database: Database, overlay: BeforeImages) -> None:
        self._db = database
        self._overlay = overlay
        self._touched = {table for table, _ in overlay.values()}

    def table_of(self, doc_id: str) -> str | None:
        return self._db.table_of(doc_id)

    def get(self, doc_id: str) -> Document | None:
        if doc_id in self._overlay:
            return self._overlay[doc_id][1]
        return self._db.get(doc_id)

    def documents(self, table: str) -> list[Document]:
        docs = self._db.documents(table)
        if table not in self._touched:
            return docs
        docs = [d for d in docs if str(d["_id"]) not in self._overlay]
        docs += [d for t, d in self._overlay.values() if t == table and d is not None]
        docs.sort(key=_creation_key)
        return docs


class History:
    """The before-images of recent commits, oldest first, bounded in age and count.

    A read at ``ts`` undoes every commit after ``ts``, so it needs all of them:
    ``floor`` is the oldest readable timestamp (the newest commit dropped, or
    where the history began). As on a deployment, a read more than ``seconds``
    before the latest commit is refused even if nothing was dropped.
    """

    def __init__(
        self,
        floor: int,
        *,
        seconds: float = HISTORY_SECONDS,
        max_commits: int = HISTORY_MAX_COMMITS,
    ) -> None:
        self.floor = floor
        self._keep_ns = int(seconds * 1e9)
        self._max_commits = max_commits
        self._commits: deque[tuple[int, BeforeImages]] = deque()

    def record(self, ts: int, before: BeforeImages) -> None:
        """Keep what the commit at ``ts`` changed; forget what is too old."""
        if before:
            self._commits.append((ts, before))
        while self._commits and (
            self._commits[0][0] < ts - self._keep_ns or len(self._commits) > self._max_commits
        ):
            self.floor = max(self.floor, self._commits.popleft()[0])

    def restart_at(self, ts: int) -> None:
        """Forget everything: reads before ``ts`` are no longer possible."""
        self._commits.clear()
        self.floor = max(self.floor, ts)

    def snapshot(self, database: Database, ts: int, latest: int) -> Snapshot:
        """``database`` as of ``ts`` (every commit ≤ ``ts``, none after)."""
        if ts > latest:
            raise SnapshotUnavailableError(f"timestamp {ts} is later than the latest ({latest})")
        if ts < self.floor or ts < latest - self._keep_ns:
            raise SnapshotUnavailableError(
                f"timestamp {ts} is older than the history kept (from {self.floor})"
            )
        overlay: BeforeImages = {}
        for commit_ts, before in reversed(self._commits):
            if commit_ts <= ts:
                break
            overlay.update(before)  # an older commit's before-image wins
        return Snapshot(database, overlay)
