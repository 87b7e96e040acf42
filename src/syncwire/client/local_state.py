"""The client's side of the session: its query set and its identity (docs/client.md).

Sans-I/O, like convex-js ``local_state.ts``: methods return the messages to
send and the caller sends them. The server's view is rebuilt from this on
every (re)connect by ``restart()``; while the socket is paused (an auth token
is being fetched) changes are collected and sent, collapsed, by ``resume()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

import msgspec

from syncwire.protocol import Authenticate
from syncwire.protocol import ConvexValue
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryRemove
from syncwire.protocol import QueryRemoved
from syncwire.protocol import Transition
from syncwire.protocol import canonicalize_udf_path
from syncwire.protocol import convex_to_json

__all__ = ["LocalQuery", "LocalState"]

_encode_json = msgspec.json.Encoder().encode
_PATHS_KEPT = 1024
"""Canonical paths remembered (an application calls a bounded set of functions)."""


@dataclass(slots=True)
class LocalQuery:
    """One live query, shared by every subscriber with the same path and args."""

    query_id: int
    udf_path: str
    """Canonical (``module:function``)."""
    args: Mapping[str, ConvexValue]
    token: str
    """Path and args as one string: the key that makes subscribers share the query.

    The canonical path, NUL, the args as JSON (``convex_to_json``)."""
    subscribers: int = 1
    journal: str | None = None

    def add(self) -> QueryAdd:
        return QueryAdd(
            query_id=self.query_id, udf_path=self.udf_path, args=self.args, journal=self.journal
        )


@dataclass(frozen=True, slots=True)
class _Auth:
    token_type: Literal["User", "Admin"]
    value: str
    impersonating: JSONValue = None

    def message(self, base_version: int) -> Authenticate:
        return Authenticate(
            base_version=base_version,
            token_type=self.token_type,
            value=self.value,
            impersonating=self.impersonating,
        )


@dataclass(slots=True)
class LocalState:
    """Queries by (canonical path, args), query-set and identity versions, auth."""

    _next_query_id: int = 0
    query_set_version: int = 0
    """ModifyQuerySet messages sent on this socket (the server's ``querySet``)."""
    identity_version: int = 0
    """Authenticate messages sent on this socket (the server's ``identity``)."""
    _by_token: dict[str, LocalQuery] = field(default_factory=dict)
    _by_id: dict[int, LocalQuery] = field(default_factory=dict)
    _auth: _Auth | None = None
    paused: bool = False
    _pending_modifications: dict[int, QueryAdd | QueryRemove] = field(default_factory=dict)
    _pending_auth: bool = False
    """An auth change was made while paused; ``resume()`` sends it."""
    _outstanding_queries: set[int] = field(default_factory=set)
    """Queries re-sent at the last restart that the server has not answered yet."""
    _outstanding_auth: bool = False
    """Auth re-sent at the last restart that the server has not confirmed yet."""
    _paths: dict[str, str] = field(default_factory=dict)
    """Canonical paths by the path given: computed once, and one string for all
    the queries of a function (10,000 subscriptions to it hold one copy)."""

    # -- queries ------------------------------------------------------------------

    def subscribe(
        self, udf_path: str, args: Mapping[str, ConvexValue], args_json: JSONValue = None
    ) -> tuple[LocalQuery, ModifyQuerySet | None]:
        """Add a subscriber; a new query yields the ModifyQuerySet that adds it.

        ``args`` are checked here (``convex_to_json`` raises for values Convex
        cannot hold), so a bad argument fails the call, not a later send.
        ``args_json``: ``convex_to_json(dict(args))`` if the caller has it
        already (the args were checked then): it is not converted twice.
        """
        path = self._paths.get(udf_path)
        if path is None:
            path = canonicalize_udf_path(udf_path)
            if len(self._paths) < _PATHS_KEPT:
                self._paths[udf_path] = path
        if args_json is None:
            args_json = convex_to_json(dict(args))
        token = path + "\x00" + _encode_json(args_json).decode()
        query = self._by_token.get(token)
        if query is not None:
            query.subscribers += 1
            return query, None
        query = LocalQuery(
            query_id=self._next_query_id, udf_path=path, args=dict(args), token=token
        )
        self._next_query_id += 1
        self._by_token[token] = query
        self._by_id[query.query_id] = query
        return query, self._modify(query.query_id, query.add())

    def unsubscribe(self, query_id: int) -> ModifyQuerySet | None:
        """Drop a subscriber; the last one's leaving yields the Remove."""
        query = self._by_id.get(query_id)
        if query is None:
            return None
        query.subscribers -= 1
        if query.subscribers > 0:
            return None
        del self._by_id[query_id]
        del self._by_token[query.token]
        self._outstanding_queries.discard(query_id)
        return self._modify(query_id, QueryRemove(query_id=query_id))

    def query(self, query_id: int) -> LocalQuery | None:
        return self._by_id.get(query_id)

    def queries(self) -> list[LocalQuery]:
        return list(self._by_id.values())

    def _modify(self, query_id: int, change: QueryAdd | QueryRemove) -> ModifyQuerySet | None:
        if self.paused:
            # A subscribe and unsubscribe while paused cancel out: nothing is sent.
            queued = self._pending_modifications.pop(query_id, None)
            if not (isinstance(queued, QueryAdd) and isinstance(change, QueryRemove)):
                self._pending_modifications[query_id] = change
            return None
        return self._next_query_set((change,))

    def _next_query_set(self, changes: tuple[QueryAdd | QueryRemove, ...]) -> ModifyQuerySet:
        base = self.query_set_version
        self.query_set_version = base + 1
        return ModifyQuerySet(base_version=base, new_version=base + 1, modifications=changes)

    # -- identity -------------------------------------------------------------------

    @property
    def has_auth(self) -> bool:
        return self._auth is not None

    @property
    def auth_token(self) -> str | None:
        return self._auth.value if self._auth is not None else None

    def set_auth(self, token: str) -> Authenticate | None:
        return self._set_identity(_Auth("User", token))

    def set_admin_auth(self, key: str, acting_as: JSONValue = None) -> Authenticate | None:
        return self._set_identity(_Auth("Admin", key, acting_as))

    def clear_auth(self) -> Authenticate | None:
        self._outstanding_auth = False
        return self._set_identity(None)

    def mark_auth_confirmed(self) -> None:
        self._outstanding_auth = False

    def _set_identity(self, auth: _Auth | None) -> Authenticate | None:
        self._auth = auth
        if self.paused:
            self._pending_auth = True
            return None
        return self._next_identity()

    def _next_identity(self) -> Authenticate:
        base = self.identity_version
        self.identity_version = base + 1
        if self._auth is None:
            return Authenticate(base_version=base, token_type="None")  # noqa: S106 - a tag
        return self._auth.message(base)

    # -- the socket's life -------------------------------------------------------------

    def restart(self) -> tuple[Authenticate | None, ModifyQuerySet]:
        """On every open (docs/client.md#on-open, steps 3-4): the whole state, from version 0."""
        self.paused = False
        self._pending_modifications.clear()
        self._pending_auth = False
        self._outstanding_queries = set(self._by_id)
        self.query_set_version = 0
        query_set = self._next_query_set(tuple(q.add() for q in self._by_id.values()))
        self.identity_version = 0
        if self._auth is None:
            self._outstanding_auth = False
            return None, query_set
        self._outstanding_auth = True
        return self._next_identity(), query_set

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> tuple[Authenticate | None, ModifyQuerySet | None]:
        """The changes made while paused: the auth change, then the query set."""
        self.paused = False
        authenticate = self._next_identity() if self._pending_auth else None
        self._pending_auth = False
        changes = tuple(self._pending_modifications.values())
        self._pending_modifications.clear()
        return authenticate, self._next_query_set(changes) if changes else None

    def transition(self, transition: Transition) -> bool:
        """Note answered queries and their journals; ``True`` if a modification
        carries function log lines (the caller logs them)."""
        outstanding = self._outstanding_queries
        log_lines = False
        for modification in transition.modifications:
            if outstanding:
                outstanding.discard(modification.query_id)
            if isinstance(modification, QueryRemoved):
                continue
            if modification.log_lines:
                log_lines = True
            journal = modification.journal
            query = self._by_id.get(modification.query_id) if journal is not None else None
            if query is not None:
                query.journal = journal
        return log_lines

    def has_synced_past_last_reconnect(self) -> bool:
        """Every query and the auth re-sent at the last restart are answered."""
        return not self._outstanding_queries and not self._outstanding_auth
