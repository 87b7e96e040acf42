"""What a function receives: ``ctx.db`` (read, or read and write) and ``ctx.auth``.

Why apart: the contexts are the function author's whole API. The tracking
they do on the way (the tables a run read decide which subscriptions re-run;
the undo log makes a failed mutation leave no trace) stays next to it.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeAlias

from syncwire.devserver.app import FunctionKind
from syncwire.devserver.database import BeforeImages
from syncwire.devserver.database import Database
from syncwire.devserver.database import Document
from syncwire.devserver.database import Store
from syncwire.devserver.query import Query
from syncwire.protocol import ConvexValue
from syncwire.protocol import convex_to_json

__all__ = [
    "ActionCtx",
    "Args",
    "DatabaseReader",
    "DatabaseWriter",
    "MutationCtx",
    "NestedCall",
    "QueryCtx",
    "Tracking",
    "UserIdentity",
]

UserIdentity: TypeAlias = Mapping[str, Any]
"""The verified token's claims plus ``tokenIdentifier``, ``subject`` and ``issuer``."""
Args: TypeAlias = Mapping[str, ConvexValue]
NestedCall: TypeAlias = Callable[
    [FunctionKind, str, Args, UserIdentity | None], Awaitable[ConvexValue]
]
"""``(kind, name, args, identity) -> value``: runs a function for an action; raises
``NestedCallError`` if it fails (the engine's)."""


@dataclass
class Tracking:
    """What one function run read and wrote, and how to undo its writes."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    undo: list[Callable[[], None]] = field(default_factory=list)
    before: BeforeImages = field(default_factory=dict)
    """Each written document as it was before the run (the commit's history entry)."""


class DatabaseReader:
    """``ctx.db`` in a query: reads only, and records which tables were read.

    ``database`` is the ``Database``, or a ``Snapshot`` of it for a read at an earlier ts.
    """

    def __init__(self, database: Store, tracking: Tracking) -> None:
        self._db = database
        self._tracking = tracking

    def get(self, doc_id: str) -> Document | None:
        """The document with this id, or ``None``."""
        table = self._db.table_of(doc_id)
        if table is None:
            return None  # an id never issued cannot appear later: nothing to track
        self._tracking.reads.add(table)
        doc = self._db.get(doc_id)
        return None if doc is None else copy.deepcopy(doc)

    def query(self, table: str) -> Query:
        """A query over ``table`` (empty if it has no documents)."""
        self._tracking.reads.add(table)
        return Query(lambda: self._db.documents(table), table=table)


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in a mutation: reads and writes, undone if the mutation fails.

    ``now_ms`` is the server's clock, for ``_creationTime``.
    """

    def __init__(self, database: Database, tracking: Tracking, now_ms: Callable[[], float]) -> None:
        super().__init__(database, tracking)
        self._store = database
        self._now_ms = now_ms

    def insert(self, table: str, fields: Mapping[str, ConvexValue]) -> str:
        """Insert a document; returns its new ``_id``."""
        _check_fields(fields)
        doc: Document = copy.deepcopy(dict(fields))
        doc_id = self._store.new_id(table)
        doc["_id"] = doc_id
        doc["_creationTime"] = self._store.next_creation_time(self._now_ms())
        self._store.put(table, doc)
        self._wrote(table, doc_id, None, lambda: self._store.remove(table, doc_id))
        return doc_id

    def patch(self, doc_id: str, fields: Mapping[str, ConvexValue]) -> None:
        """Set the given fields (a value of ``None`` sets the field to null)."""
        _check_fields(fields)
        table, old = self._existing(doc_id)
        new = {**old, **copy.deepcopy(dict(fields))}
        self._replace(table, old, new)

    def replace(self, doc_id: str, fields: Mapping[str, ConvexValue]) -> None:
        """Replace every user field of the document."""
        _check_fields(fields, allow_system=True)
        table, old = self._existing(doc_id)
        for key in ("_id", "_creationTime"):
            if key in fields and fields[key] != old[key]:
                raise ValueError(f"replace() cannot change {key}")
        new = {k: v for k, v in copy.deepcopy(dict(fields)).items() if not k.startswith("_")}
        new["_id"], new["_creationTime"] = old["_id"], old["_creationTime"]
        self._replace(table, old, new)

    def delete(self, doc_id: str) -> None:
        """Delete the document."""
        table, old = self._existing(doc_id)
        self._store.remove(table, doc_id)
        self._wrote(table, doc_id, old, lambda: self._store.reinsert(table, old))

    def _existing(self, doc_id: str) -> tuple[str, Document]:
        table = self._db.table_of(doc_id)
        doc = None if table is None else self._db.get(doc_id)
        if table is None or doc is None:
            raise ValueError(f"Document with id {doc_id!r} does not exist")
        self._tracking.reads.add(table)
        return table, doc

    def _replace(self, table: str, old: Document, new: Document) -> None:
        self._store.put(table, new)  # same id: keeps its place in creation order
        self._wrote(table, str(old["_id"]), old, lambda: self._store.put(table, old))

    def _wrote(
        self, table: str, doc_id: str, before: Document | None, undo: Callable[[], None]
    ) -> None:
        self._tracking.writes.add(table)
        self._tracking.undo.append(undo)
        self._tracking.before.setdefault(doc_id, (table, before))  # the first write's wins


def _check_fields(fields: Mapping[str, ConvexValue], *, allow_system: bool = False) -> None:
    if not isinstance(fields, Mapping):
        raise TypeError(f"a document is a dict, not {type(fields).__name__}")
    for key in fields:
        if key.startswith("_") and not (allow_system and key in ("_id", "_creationTime")):
            raise ValueError(f"field {key!r}: names starting with '_' are reserved for Convex")
    convex_to_json(dict(fields))  # raises TypeError/ValueError for what Convex cannot store


@dataclass(frozen=True)
class QueryCtx:
    """What a query receives: a read-only ``db`` and the caller's identity."""

    db: DatabaseReader
    auth: UserIdentity | None


@dataclass(frozen=True)
class MutationCtx:
    """What a mutation receives: a read-write ``db`` and the caller's identity."""

    db: DatabaseWriter
    auth: UserIdentity | None


class ActionCtx:
    """What an action receives: no ``db``; it calls queries and mutations instead.

    ``call`` is how the engine runs them (see ``NestedCall``).
    """

    __slots__ = ("_call", "auth")

    def __init__(self, auth: UserIdentity | None, call: NestedCall) -> None:
        self.auth = auth
        self._call = call

    async def run_query(self, name: str, args: Args | None = None) -> ConvexValue:
        """Run a query as this caller; raises if it fails."""
        return await self._call("query", name, args or {}, self.auth)

    async def run_mutation(self, name: str, args: Args | None = None) -> ConvexValue:
        """Run (and commit) a mutation as this caller; raises if it fails."""
        return await self._call("mutation", name, args or {}, self.auth)

    async def run_action(self, name: str, args: Args | None = None) -> ConvexValue:
        """Run another action as this caller; raises if it fails."""
        return await self._call("action", name, args or {}, self.auth)
