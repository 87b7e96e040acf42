"""Convex functions written in Python, and the in-memory database they run against.

An ``App`` maps function names (``"messages:list"``) to Python callables. The
``Engine`` runs them the way a Convex deployment does: queries read a consistent
snapshot, mutations are serializable transactions (one at a time, all or
nothing, each committed at a strictly increasing nanosecond timestamp), actions
run concurrently and reach the database only through ``run_query`` /
``run_mutation``. Each query run reports which tables it read, so that after a
commit only the subscriptions it may have changed are re-run.

Functions take ``(ctx, args)`` and may be plain or ``async`` functions. What
they ``print`` or log is captured and returned as Convex log lines
(``[LOG] 'text'``), as the real server sends them to clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import inspect
import io
import logging
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar, overload

from msgspec import UNSET, UnsetType

from syncwire.protocol import (
    ConvexValue,
    JSONValue,
    canonicalize_udf_path,
    convex_to_json,
)

__all__ = [
    "ActionCtx",
    "App",
    "ConvexError",
    "Database",
    "DatabaseReader",
    "DatabaseWriter",
    "Document",
    "Engine",
    "FunctionKind",
    "MutationCtx",
    "Outcome",
    "Query",
    "QueryCtx",
    "UserIdentity",
    "console",
]

Document: TypeAlias = dict[str, ConvexValue]
"""A stored document: user fields plus ``_id`` (str) and ``_creationTime`` (float ms)."""
UserIdentity: TypeAlias = Mapping[str, Any]
"""The verified token's claims plus ``tokenIdentifier``, ``subject`` and ``issuer``."""
FunctionKind: TypeAlias = Literal["query", "mutation", "action"]
Args: TypeAlias = Mapping[str, ConvexValue]
Handler: TypeAlias = Callable[[Any, Any], Any]
"""``(ctx, args) -> value`` (or an awaitable of it); loosely typed so typed handlers fit."""
_F = TypeVar("_F", bound=Handler)


class ConvexError(Exception):
    """An error meant for the client: its ``data`` travels as ``errorData``."""

    def __init__(self, data: ConvexValue) -> None:
        super().__init__(data if isinstance(data, str) else repr(data))
        self.data = data


# --- the database ------------------------------------------------------------


class Database:
    """In-memory tables of documents; shared by every session of a server.

    Not thread-safe and not transactional by itself: the ``Engine`` serializes
    access and keeps the undo log that makes a failed mutation leave no trace.
    Keep one across server restarts to keep the data.
    """

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Document]] = {}
        self._table_of: dict[str, str] = {}  # every id ever issued, even deleted
        self._last_creation_time = 0.0

    def table_of(self, doc_id: str) -> str | None:
        """The table an id belongs to (``None`` for an id this database never issued)."""
        return self._table_of.get(doc_id)

    def tables(self) -> list[str]:
        """Names of the tables that have (or had) documents."""
        return list(self._tables)

    def _new_id(self, table: str) -> str:
        while True:
            doc_id = secrets.token_hex(16)
            if doc_id not in self._table_of:
                self._table_of[doc_id] = table
                return doc_id

    def _creation_time(self) -> float:
        # Float milliseconds, strictly increasing so that creation order is total.
        now = time.time() * 1000.0
        self._last_creation_time = max(now, self._last_creation_time + 0.001)
        return self._last_creation_time

    def _docs(self, table: str) -> list[Document]:
        return list(self._tables.get(table, {}).values())

    def _get(self, doc_id: str) -> Document | None:
        table = self._table_of.get(doc_id)
        return None if table is None else self._tables.get(table, {}).get(doc_id)

    def _put(self, table: str, doc: Document) -> None:
        self._tables.setdefault(table, {})[str(doc["_id"])] = doc

    def _remove(self, table: str, doc_id: str) -> None:
        self._tables.get(table, {}).pop(doc_id, None)

    def _insert_raw(self, table: str, doc: Document) -> None:
        """Re-insert a document at its place in creation order (undoing a delete)."""
        rows = self._tables.setdefault(table, {})
        rows[str(doc["_id"])] = doc
        ordered = sorted(rows.values(), key=_creation_key)
        rows.clear()
        rows.update((str(d["_id"]), d) for d in ordered)


def _creation_key(doc: Document) -> float:
    value = doc["_creationTime"]
    return float(value) if isinstance(value, (int, float)) else 0.0


def _check_fields(fields: Mapping[str, ConvexValue], *, allow_system: bool = False) -> None:
    if not isinstance(fields, Mapping):
        raise TypeError(f"a document is a dict, not {type(fields).__name__}")
    for key in fields:
        if key.startswith("_") and not (allow_system and key in ("_id", "_creationTime")):
            raise ValueError(f"field {key!r}: names starting with '_' are reserved for Convex")
    convex_to_json(dict(fields))  # raises TypeError/ValueError for what Convex cannot store


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


@dataclass
class _Tracking:
    """What one function run read and wrote, and how to undo its writes."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    undo: list[Callable[[], None]] = field(default_factory=list)


class DatabaseReader:
    """``ctx.db`` in a query: reads only, and records which tables were read."""

    def __init__(self, database: Database, tracking: _Tracking) -> None:
        self._db = database
        self._tracking = tracking

    def get(self, doc_id: str) -> Document | None:
        """The document with this id, or ``None``."""
        table = self._db.table_of(doc_id)
        if table is None:
            return None  # an id never issued cannot appear later: nothing to track
        self._tracking.reads.add(table)
        doc = self._db._get(doc_id)
        return None if doc is None else copy.deepcopy(doc)

    def query(self, table: str) -> Query:
        """A query over ``table`` (empty if it has no documents)."""
        self._tracking.reads.add(table)
        return Query(lambda: self._db._docs(table))


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in a mutation: reads and writes, undone if the mutation fails."""

    def insert(self, table: str, fields: Mapping[str, ConvexValue]) -> str:
        """Insert a document; returns its new ``_id``."""
        _check_fields(fields)
        doc: Document = copy.deepcopy(dict(fields))
        doc_id = self._db._new_id(table)
        doc["_id"] = doc_id
        doc["_creationTime"] = self._db._creation_time()
        self._db._put(table, doc)
        self._wrote(table, lambda: self._db._remove(table, doc_id))
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
        self._db._remove(table, doc_id)
        self._wrote(table, lambda: self._db._insert_raw(table, old))

    def _existing(self, doc_id: str) -> tuple[str, Document]:
        table = self._db.table_of(doc_id)
        doc = None if table is None else self._db._get(doc_id)
        if table is None or doc is None:
            raise ValueError(f"Document with id {doc_id!r} does not exist")
        self._tracking.reads.add(table)
        return table, doc

    def _replace(self, table: str, old: Document, new: Document) -> None:
        rows = self._db._tables[table]
        doc_id = str(old["_id"])
        rows[doc_id] = new  # same key: keeps its place in creation order

        def undo() -> None:
            rows[doc_id] = old

        self._wrote(table, undo)

    def _wrote(self, table: str, undo: Callable[[], None]) -> None:
        self._tracking.writes.add(table)
        self._tracking.undo.append(undo)


# --- function contexts -------------------------------------------------------


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


@dataclass(frozen=True)
class ActionCtx:
    """What an action receives: no ``db``; it calls queries and mutations instead."""

    auth: UserIdentity | None
    _engine: Engine

    async def run_query(self, name: str, args: Args | None = None) -> ConvexValue:
        """Run a query as this caller; raises if it fails."""
        return _value_or_raise(await self._engine.query(name, args or {}, self.auth))

    async def run_mutation(self, name: str, args: Args | None = None) -> ConvexValue:
        """Run (and commit) a mutation as this caller; raises if it fails."""
        return _value_or_raise(await self._engine.mutation(name, args or {}, self.auth))

    async def run_action(self, name: str, args: Args | None = None) -> ConvexValue:
        """Run another action as this caller; raises if it fails."""
        return _value_or_raise(await self._engine.action(name, args or {}, self.auth))


class FunctionFailed(Exception):
    """A nested ``run_*`` call failed; carries the callee's message and data."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error_message)
        self.outcome = outcome


def _value_or_raise(outcome: Outcome) -> ConvexValue:
    if not outcome.success:
        raise FunctionFailed(outcome)
    return outcome.value


# --- the app -----------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    kind: FunctionKind
    name: str
    handler: Handler


class App:
    """A set of Convex functions, registered by name (``"module:function"``).

    Names are canonicalized as clients canonicalize them (``"mod"`` →
    ``"mod:default"``), so either spelling finds the function.
    """

    def __init__(self) -> None:
        self._functions: dict[str, _Function] = {}

    def _register(self, kind: FunctionKind, name: str, handler: _F | None) -> Any:
        def add(fn: _F) -> _F:
            path = canonicalize_udf_path(name)
            if path in self._functions:
                raise ValueError(f"function {path!r} is already registered")
            self._functions[path] = _Function(kind, path, fn)
            return fn

        return add if handler is None else add(handler)

    @overload
    def query(self, name: str) -> Callable[[_F], _F]: ...
    @overload
    def query(self, name: str, handler: _F) -> _F: ...
    def query(self, name: str, handler: _F | None = None) -> Any:
        """Register a query: ``@app.query("messages:list")`` or ``app.query(name, fn)``."""
        return self._register("query", name, handler)

    @overload
    def mutation(self, name: str) -> Callable[[_F], _F]: ...
    @overload
    def mutation(self, name: str, handler: _F) -> _F: ...
    def mutation(self, name: str, handler: _F | None = None) -> Any:
        """Register a mutation (decorator or direct call, as ``query``)."""
        return self._register("mutation", name, handler)

    @overload
    def action(self, name: str) -> Callable[[_F], _F]: ...
    @overload
    def action(self, name: str, handler: _F) -> _F: ...
    def action(self, name: str, handler: _F | None = None) -> Any:
        """Register an action (decorator or direct call, as ``query``)."""
        return self._register("action", name, handler)

    def lookup(self, name: str) -> tuple[FunctionKind, Handler] | None:
        """The kind and handler registered under ``name`` (any spelling), or ``None``."""
        fn = self._functions.get(canonicalize_udf_path(name))
        return None if fn is None else (fn.kind, fn.handler)

    def names(self) -> dict[str, FunctionKind]:
        """Every registered function's canonical name and kind."""
        return {name: fn.kind for name, fn in self._functions.items()}


# --- log capture -------------------------------------------------------------


class _LogCapture:
    """Log lines of one function run; ``print`` output is split into lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._partial = ""

    def write(self, text: str) -> None:
        self._partial += text
        *done, self._partial = self._partial.split("\n")
        self.lines.extend(_format_log("LOG", line) for line in done)

    def finish(self) -> list[str]:
        if self._partial:
            self.lines.append(_format_log("LOG", self._partial))
            self._partial = ""
        return self.lines


_CAPTURE: contextvars.ContextVar[_LogCapture | None] = contextvars.ContextVar(
    "syncwire_devserver_log_capture", default=None
)


def _js_quote(text: str) -> str:
    """Quote a string as Node's ``util.inspect`` does, which is how Convex shows it."""
    if "'" not in text:
        quote = "'"
    elif '"' not in text:
        quote = '"'
    elif "`" not in text and "${" not in text:
        quote = "`"
    else:
        quote = "'"
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    if quote == "'":
        escaped = escaped.replace("'", "\\'")
    return f"{quote}{escaped}{quote}"


def _format_log(level: str, text: str) -> str:
    return f"[{level}] {_js_quote(text)}"


class _StdoutRouter(io.TextIOBase):
    """Sends writes made inside a function run to its capture, others through."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def write(self, text: str) -> int:
        capture = _CAPTURE.get()
        if capture is None:
            return int(self._target.write(text))
        capture.write(text)
        return len(text)

    def flush(self) -> None:
        if _CAPTURE.get() is None:
            self._target.flush()


class _LogHandler(logging.Handler):
    """Turns ``logging`` records emitted inside a function run into log lines."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _CAPTURE.get()
        if capture is None:
            return
        if record.levelno >= logging.ERROR:
            level = "ERROR"
        elif record.levelno >= logging.WARNING:
            level = "WARN"
        elif record.levelno >= logging.INFO:
            level = "INFO"
        else:
            level = "DEBUG"
        capture.finish()  # keep print and logging output in order
        capture.lines.append(_format_log(level, record.getMessage()))


_installed = 0
_saved_stdout: Any = None
_router: _StdoutRouter | None = None
_handler = _LogHandler()


@contextlib.contextmanager
def _capturing(capture: _LogCapture) -> Iterator[None]:
    """Route ``print`` and ``logging`` to ``capture`` in this context only.

    ``sys.stdout`` is wrapped while any function runs (a context variable tells
    runs apart, so concurrent actions each get their own lines) and restored
    when the last one ends, unless someone else replaced it meanwhile.
    """
    global _installed, _saved_stdout, _router
    if _installed == 0:
        _saved_stdout = sys.stdout
        _router = _StdoutRouter(_saved_stdout)
        sys.stdout = _router
        logging.getLogger().addHandler(_handler)
    _installed += 1
    token = _CAPTURE.set(capture)
    try:
        yield
    finally:
        _CAPTURE.reset(token)
        _installed -= 1
        if _installed == 0:
            logging.getLogger().removeHandler(_handler)
            if sys.stdout is _router:
                sys.stdout = _saved_stdout
            _router = _saved_stdout = None


class _Console:
    """``console.log/info/warn/error/debug`` with Convex's exact levels.

    ``logging`` records below the logger's level never reach the capture
    (the root logger defaults to WARNING); ``console`` always does.
    """

    def _emit(self, level: str, args: tuple[object, ...]) -> None:
        capture = _CAPTURE.get()
        parts = [_js_quote(a) if isinstance(a, str) else _inspect(a) for a in args]
        line = f"[{level}] {' '.join(parts)}"
        if capture is None:
            print(line)
        else:
            capture.finish()
            capture.lines.append(line)

    def log(self, *args: object) -> None:
        self._emit("LOG", args)

    def info(self, *args: object) -> None:
        self._emit("INFO", args)

    def warn(self, *args: object) -> None:
        self._emit("WARN", args)

    def error(self, *args: object) -> None:
        self._emit("ERROR", args)

    def debug(self, *args: object) -> None:
        self._emit("DEBUG", args)


def _inspect(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


console = _Console()


# --- running functions -------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The result of one function run, ready to be put into a response."""

    success: bool
    value: ConvexValue = None
    json_value: JSONValue = None
    error_message: str = ""
    error_data: JSONValue | UnsetType = UNSET
    log_lines: tuple[str, ...] = ()
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    ts: int | None = None


CommitListener: TypeAlias = Callable[[int, frozenset[str]], None]


class Engine:
    """Runs an ``App``'s functions against a ``Database`` with Convex's guarantees.

    ``lock`` serializes database access: a mutation holds it from start to
    commit, a query run holds it so its result is consistent with ``ts``.
    Commit listeners are called with the lock held, right after each commit,
    so a server can invalidate subscriptions before anything else runs.
    """

    def __init__(
        self,
        app: App,
        database: Database | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.app = app
        self.db = database if database is not None else Database()
        self.lock = asyncio.Lock()
        self._clock = clock
        self.ts = clock()
        self._listeners: list[CommitListener] = []

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener(ts, tables_written)`` after every commit."""
        self._listeners.append(listener)

    def remove_listener(self, listener: CommitListener) -> None:
        """Stop calling ``listener``."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _next_ts(self) -> int:
        self.ts = max(self._clock(), self.ts + 1)
        return self.ts

    async def query(self, name: str, args: Args, identity: UserIdentity | None) -> Outcome:
        """Run a query at the latest timestamp."""
        async with self.lock:
            return await self.query_locked(name, args, identity)

    async def query_locked(self, name: str, args: Args, identity: UserIdentity | None) -> Outcome:
        """Run a query; the caller holds ``lock``."""
        tracking = _Tracking()
        ctx = QueryCtx(db=DatabaseReader(self.db, tracking), auth=identity)
        return await self._run("query", name, args, ctx, tracking)

    async def mutation(
        self,
        name: str,
        args: Args,
        identity: UserIdentity | None,
        on_commit: Callable[[Outcome], None] | None = None,
    ) -> Outcome:
        """Run a mutation as one transaction and commit it at a new timestamp.

        ``on_commit(outcome)`` runs before any listener, with the lock still
        held: a session queues its MutationResponse there, so the response
        precedes the Transition that reflects the commit.
        """
        async with self.lock:
            tracking = _Tracking()
            ctx = MutationCtx(db=DatabaseWriter(self.db, tracking), auth=identity)
            outcome = await self._run("mutation", name, args, ctx, tracking)
            if not outcome.success:
                for undo in reversed(tracking.undo):
                    undo()
                return outcome
            ts = self._next_ts()
            outcome = Outcome(
                success=True,
                value=outcome.value,
                json_value=outcome.json_value,
                log_lines=outcome.log_lines,
                reads=outcome.reads,
                writes=outcome.writes,
                ts=ts,
            )
            if on_commit is not None:
                on_commit(outcome)
            for listener in list(self._listeners):
                listener(ts, outcome.writes)
            return outcome

    async def action(self, name: str, args: Args, identity: UserIdentity | None) -> Outcome:
        """Run an action; it holds no lock, so actions run concurrently."""
        ctx = ActionCtx(auth=identity, _engine=self)
        return await self._run("action", name, args, ctx, _Tracking())

    async def _run(
        self, kind: FunctionKind, name: str, args: Args, ctx: Any, tracking: _Tracking
    ) -> Outcome:
        found = self.app.lookup(name)
        if found is None:
            return Outcome(
                success=False,
                error_message=f"Could not find public function for '{name}'. "
                "Did you forget to run `npx convex dev` or `npx convex deploy`?",
            )
        if found[0] != kind:  # a deployment's words for this, which clients may match
            return Outcome(
                success=False,
                error_message=f"Trying to execute {name} as {kind.capitalize()}, "
                f"but it is defined as {found[0].capitalize()}.",
            )
        handler = found[1]
        capture = _LogCapture()
        error: BaseException | None = None
        value: ConvexValue = None
        with _capturing(capture):
            try:
                result = handler(ctx, dict(args))
                value = await result if inspect.isawaitable(result) else result
            except Exception as exc:
                error = exc
        log_lines = tuple(capture.finish())
        common: dict[str, Any] = {
            "log_lines": log_lines,
            "reads": frozenset(tracking.reads),
            "writes": frozenset(tracking.writes),
        }
        if error is None:
            try:
                json_value = convex_to_json(value)
            except (TypeError, ValueError) as exc:
                error = exc
            else:
                return Outcome(success=True, value=value, json_value=json_value, **common)
        return Outcome(success=False, **_describe_error(error), **common)


def _describe_error(error: BaseException) -> dict[str, Any]:
    """The message and data a Convex deployment sends for an uncaught error."""
    request_id = secrets.token_hex(8)
    if isinstance(error, FunctionFailed):
        return {
            "error_message": error.outcome.error_message,
            "error_data": error.outcome.error_data,
        }
    prefix = f"[Request ID: {request_id}] Server Error\n"
    if isinstance(error, ConvexError):
        try:
            data: JSONValue | UnsetType = convex_to_json(error.data)
        except (TypeError, ValueError):
            data = UNSET
        return {
            "error_message": f"{prefix}Uncaught ConvexError: {error}",
            "error_data": data,
        }
    return {"error_message": f"{prefix}Uncaught {type(error).__name__}: {error}"}
