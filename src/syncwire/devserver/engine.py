"""``Engine``: runs an ``App``'s functions against a ``Database`` with Convex's guarantees.

Queries read a consistent snapshot; mutations are serializable transactions
(one at a time, all or nothing, each committed at a strictly increasing
nanosecond timestamp); actions run concurrently and reach the database only
through ``run_query``/``run_mutation``. Why apart: this is the deployment
without a network; each run reports the tables it read, so that after a
commit a server re-runs only the subscriptions the commit may have changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import TypeAlias
from typing import cast

from msgspec import UNSET
from msgspec import UnsetType

from syncwire.devserver.app import App
from syncwire.devserver.app import FunctionKind
from syncwire.devserver.capture import capturing
from syncwire.devserver.context import ActionCtx
from syncwire.devserver.context import Args
from syncwire.devserver.context import DatabaseReader
from syncwire.devserver.context import DatabaseWriter
from syncwire.devserver.context import MutationCtx
from syncwire.devserver.context import QueryCtx
from syncwire.devserver.context import Tracking
from syncwire.devserver.context import UserIdentity
from syncwire.devserver.database import Database
from syncwire.devserver.database import History
from syncwire.errors import AppError
from syncwire.errors import NestedCallError
from syncwire.protocol import ConvexValue
from syncwire.protocol import JSONValue
from syncwire.protocol import convex_to_json

__all__ = ["CommitListener", "Engine", "Outcome"]


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

    @property
    def result(self) -> JSONValue:
        """A response's ``result``: the value (as JSON), or the error message."""
        return self.json_value if self.success else self.error_message


CommitListener: TypeAlias = Callable[[int, frozenset[str]], None]


class Engine:
    """Runs an ``App``'s functions against a ``Database`` with Convex's guarantees.

    ``lock`` serializes database access: a mutation holds it from start to
    commit, a query run holds it so its result is consistent with ``ts``.
    Commit listeners are called with the lock held, right after each commit,
    so a server can invalidate subscriptions before anything else runs.
    ``clock`` (nanoseconds since the epoch) stamps commits and ``_creationTime``.
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
        self.history = History(self.ts)
        """Recent commits' before-images, for ``query_at`` (bounded)."""
        self._listeners: list[CommitListener] = []

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener(ts, tables_written)`` after every commit."""
        self._listeners.append(listener)

    def remove_listener(self, listener: CommitListener) -> None:
        """Stop calling ``listener``."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def advance_to(self, ts: int) -> None:
        """Never give out a timestamp ≤ ``ts`` (data loaded from elsewhere):
        reads before it are not possible."""
        if ts > self.ts:
            self.ts = ts
            self.history.restart_at(ts)

    def _next_ts(self) -> int:
        self.ts = max(self._clock(), self.ts + 1)
        return self.ts

    def _now_ms(self) -> float:
        return self._clock() / 1_000_000

    async def query(self, name: str, args: Args, identity: UserIdentity | None) -> Outcome:
        """Run a query at the latest timestamp."""
        async with self.lock:
            return await self.query_locked(name, args, identity)

    async def query_locked(self, name: str, args: Args, identity: UserIdentity | None) -> Outcome:
        """Run a query; the caller holds ``lock``."""
        tracking = Tracking()
        ctx = QueryCtx(db=DatabaseReader(self.db, tracking), auth=identity)
        return await self._run("query", name, args, ctx, tracking)

    async def query_at(
        self, ts: int, name: str, args: Args, identity: UserIdentity | None
    ) -> Outcome:
        """Run a query on the data as of ``ts``: every commit ≤ ``ts``, none after.

        Raises ``SnapshotUnavailableError`` for a ``ts`` outside the history
        kept (older than about 30 s, or later than ``self.ts``).
        """
        async with self.lock:
            snapshot = self.history.snapshot(self.db, ts, self.ts)
            tracking = Tracking()
            ctx = QueryCtx(db=DatabaseReader(snapshot, tracking), auth=identity)
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
            tracking = Tracking()
            ctx = MutationCtx(db=DatabaseWriter(self.db, tracking, self._now_ms), auth=identity)
            try:
                outcome = await self._run("mutation", name, args, ctx, tracking)
            except BaseException:  # cancelled mid-run (its connection killed): all or nothing
                _undo(tracking)
                raise
            if not outcome.success:
                _undo(tracking)
                return outcome
            ts = self._next_ts()
            self.history.record(ts, tracking.before)
            outcome = dataclasses.replace(outcome, ts=ts)
            if on_commit is not None:
                on_commit(outcome)
            for listener in list(self._listeners):
                listener(ts, outcome.writes)
            return outcome

    async def action(self, name: str, args: Args, identity: UserIdentity | None) -> Outcome:
        """Run an action; it holds no lock, so actions run concurrently."""
        ctx = ActionCtx(auth=identity, call=self._nested)
        return await self._run("action", name, args, ctx, Tracking())

    async def _nested(
        self, kind: FunctionKind, name: str, args: Args, identity: UserIdentity | None
    ) -> ConvexValue:
        """An action's ``ctx.run_*``: the value, or ``NestedCallError``."""
        run = {"query": self.query, "mutation": self.mutation, "action": self.action}[kind]
        outcome = await run(name, args, identity)
        if not outcome.success:
            raise NestedCallError(outcome.error_message, outcome.error_data)
        return outcome.value

    async def _run(
        self, kind: FunctionKind, name: str, args: Args, ctx: Any, tracking: Tracking
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
        error: BaseException | None = None
        value: ConvexValue = None
        with capturing() as lines:
            try:
                result = handler(ctx, dict(args))
                value = await result if inspect.isawaitable(result) else result
            except Exception as exc:
                error = exc
        common: dict[str, Any] = {
            "log_lines": tuple(lines),
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


def _undo(tracking: Tracking) -> None:
    """Take back a mutation's writes, newest first: it never commits."""
    for undo in reversed(tracking.undo):
        undo()


def _describe_error(error: BaseException) -> dict[str, Any]:
    """The message and data a Convex deployment sends for an uncaught error."""
    request_id = secrets.token_hex(8)
    if isinstance(error, NestedCallError):
        return {"error_message": error.error_message, "error_data": error.error_data}
    prefix = f"[Request ID: {request_id}] Server Error\n"
    if isinstance(error, AppError):
        try:
            data: JSONValue | UnsetType = convex_to_json(cast("ConvexValue", error.data))
        except (TypeError, ValueError):
            data = UNSET
        return {
            "error_message": f"{prefix}Uncaught ConvexError: {error}",
            "error_data": data,
        }
    return {"error_message": f"{prefix}Uncaught {type(error).__name__}: {error}"}
