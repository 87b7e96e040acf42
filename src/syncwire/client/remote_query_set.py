"""The server's side of the session: results at a version (convex-js ``remote_query_set.ts``)."""

from __future__ import annotations

import copy

from syncwire.errors import ConvexError
from syncwire.errors import FunctionError
from syncwire.errors import ProtocolError
from syncwire.errors import SyncwireError
from syncwire.protocol import UNSET
from syncwire.protocol import JSONValue
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryUpdated
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import UnsetType
from syncwire.protocol import json_to_convex

__all__ = ["INITIAL_VERSION", "QueryResult", "RemoteQuerySet"]

INITIAL_VERSION = StateVersion(query_set=0, identity=0, ts=0)


_NOT_YET = object()


class QueryResult:
    """A query's latest result: a value, or the error the server reported.

    A value from the wire is converted when first read: a subscriber that
    skips to the newest value never pays for the ones it skipped. (A value
    Convex cannot represent then raises ``ProtocolError`` from the read.)
    """

    __slots__ = ("_value", "_wire", "error")

    def __init__(
        self, value: object = None, error: SyncwireError | None = None, wire: JSONValue = None
    ) -> None:
        """``error``: the query's ``FunctionError`` (or, in the blocking client's
        hub, the ``AuthenticationError`` that stopped it). ``wire``: for
        ``from_wire`` only (``value`` is then ``_NOT_YET``)."""
        self._value = value
        self._wire = wire
        self.error = error

    @classmethod
    def from_wire(cls, wire: JSONValue) -> QueryResult:
        return cls(_NOT_YET, None, wire)

    def __repr__(self) -> str:
        return f"<QueryResult {'error' if self.error is not None else 'value'}>"

    @property
    def value(self) -> object:
        if self._value is _NOT_YET:
            self._value = json_to_convex(self._wire)
            self._wire = None
        return self._value

    def unwrap(self) -> object:
        """The value, or raise the query's error."""
        if self.error is not None:
            raise copy.copy(self.error)  # subscribers share the result, not the traceback
        return self.value


class RemoteQuerySet:
    """Results by queryId plus the version they are at; reset on every open."""

    __slots__ = ("results", "version")

    def __init__(self) -> None:
        self.version = INITIAL_VERSION
        self.results: dict[int, QueryResult] = {}

    def transition(self, transition: Transition) -> dict[int, None]:
        """Apply one Transition; returns the queryIds whose result it changed, once each.

        Raises ``ProtocolError`` when it does not start where we are: the
        session is out of step and only a reconnect resyncs it.
        """
        start = transition.start_version
        if start != self.version:
            raise ProtocolError(
                f"a Transition starts at {_text(start)} but the client is at {_text(self.version)}"
            )
        changed: dict[int, None] = {}  # an ordered set: a query updated twice counts once
        results = self.results
        for modification in transition.modifications:
            query_id = modification.query_id
            if type(modification) is QueryUpdated:
                # QueryResult.from_wire, without the classmethod's extra call (per Transition).
                results[query_id] = QueryResult(_NOT_YET, None, modification.value)
            elif type(modification) is QueryFailed:
                error = function_error(modification.error_message, modification.error_data)
                results[query_id] = QueryResult(error=error)
            else:
                results.pop(query_id, None)
                changed.pop(query_id, None)  # updated, then removed, in one Transition
                continue
            changed[query_id] = None
        self.version = transition.end_version
        return changed


def function_error(message: str, error_data: JSONValue | UnsetType) -> FunctionError:
    """The typed exception for a failed query, mutation or action."""
    if error_data is UNSET:
        return FunctionError(message)
    return ConvexError(message, json_to_convex(error_data))


def _text(version: StateVersion) -> str:
    return f"(querySet {version.query_set}, identity {version.identity}, ts {version.ts})"
