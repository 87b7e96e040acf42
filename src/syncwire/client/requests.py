"""Mutations and actions in flight (convex-js ``request_manager.ts``).

Mutations are idempotent on the server (keyed by session and requestId), so
every one not yet *observed* is re-sent on reconnect, and a successful one is
delivered only once a Transition covers its timestamp (read-your-writes).
Actions run at most once: one that was sent and not answered when the
connection dropped fails with ``ConnectionLostError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from syncwire.client.remote_query_set import function_error
from syncwire.errors import ConnectionLostError
from syncwire.errors import ProtocolError
from syncwire.protocol import Action
from syncwire.protocol import ActionResponse
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import json_to_convex

__all__ = ["ACTION_LOST", "RequestManager", "Settle"]

ACTION_LOST = "Connection lost while action was in flight"

Settle = Callable[[object, BaseException | None], None]
"""Called once with ``(result, None)`` or ``(None, error)``."""


class _Status(Enum):
    NOT_SENT = "not sent"
    REQUESTED = "requested"
    COMPLETED = "completed"
    """A mutation the server answered, waiting for a Transition to cover ``ts``."""


@dataclass(slots=True)
class _Request:
    message: Mutation | Action
    settle: Settle
    status: _Status
    sent_at: float
    ts: int = 0
    result: object = None


class RequestManager:
    """Requests by requestId, in the order they were made."""

    __slots__ = ("_completed", "_older_than_restart", "_requests")

    def __init__(self) -> None:
        self._requests: dict[int, _Request] = {}
        self._older_than_restart: set[int] = set()
        self._completed = 0
        """Mutations answered and waiting for a covering Transition: while there are
        none, ``remove_completed`` (called on every Transition) costs one test."""

    def request(
        self, message: Mutation | Action, settle: Settle, *, sent: bool, now: float
    ) -> None:
        status = _Status.REQUESTED if sent else _Status.NOT_SENT
        self._requests[message.request_id] = _Request(message, settle, status, now)

    def on_response(self, response: MutationResponse | ActionResponse) -> str | None:
        """Settle what can be settled now; returns the request's path if it is ours.

        An answer whose value Convex cannot represent settles its request with
        the ``ProtocolError`` (the caller must not wait forever), then raises
        it so that the manager resyncs.
        """
        request = self._requests.get(response.request_id)
        if request is None:
            return None
        try:
            if response.success:
                result: object = json_to_convex(response.result)
                error: BaseException | None = None
            else:
                text = response.result if isinstance(response.result, str) else str(response.result)
                result, error = None, function_error(text, response.error_data)
        except ProtocolError as bad:
            self._finish(response.request_id)
            request.settle(None, bad)
            raise
        if isinstance(response, MutationResponse) and response.success:
            # Held until a Transition covers ``ts``; a re-sent mutation's second
            # answer carries the same result.
            if request.status is not _Status.COMPLETED:
                self._completed += 1
            request.status, request.ts = _Status.COMPLETED, response.ts or 0
            request.result = result
            return request.message.udf_path
        self._finish(response.request_id)
        request.settle(result, error)
        return request.message.udf_path

    def _finish(self, request_id: int) -> None:
        if self._requests.pop(request_id).status is _Status.COMPLETED:
            self._completed -= 1
        self._older_than_restart.discard(request_id)

    def remove_completed(self, ts: int) -> None:
        """Deliver the mutations whose effects are visible at ``ts``."""
        if not self._completed:
            return
        done = [
            request_id
            for request_id, request in self._requests.items()
            if request.status is _Status.COMPLETED and request.ts <= ts
        ]
        for request_id in done:
            request = self._requests[request_id]
            self._finish(request_id)
            request.settle(request.result, None)

    def restart(self) -> list[Mutation | Action]:
        """On every open (docs/client.md#on-open, step 5): what to send, in request order."""
        self._older_than_restart = set(self._requests)
        to_send: list[Mutation | Action] = []
        lost: list[_Request] = []
        for request in self._requests.values():
            if request.status is _Status.NOT_SENT or isinstance(request.message, Mutation):
                # Unsent requests go out now; mutations are re-sent until observed.
                if request.status is _Status.NOT_SENT:
                    request.status = _Status.REQUESTED
                to_send.append(request.message)
            else:
                lost.append(request)
        for request in lost:
            request_id = request.message.request_id
            del self._requests[request_id]
            self._older_than_restart.discard(request_id)
            request.settle(None, ConnectionLostError(ACTION_LOST))
        return to_send

    def resume(self) -> list[Mutation | Action]:
        """After a pause: the requests made meanwhile, never sent."""
        to_send = []
        for request in self._requests.values():
            if request.status is _Status.NOT_SENT:
                request.status = _Status.REQUESTED
                to_send.append(request.message)
        return to_send

    def withdraw(self, request_id: int) -> bool:
        """Forget a request never sent (its caller gave up); ``False`` if it was sent."""
        request = self._requests.get(request_id)
        if request is None or request.status is not _Status.NOT_SENT:
            return False
        self._finish(request_id)
        return True

    def fail_unanswered(self, error: BaseException) -> None:
        """Auth failed: fail what the server has not answered; a mutation it answered
        committed, so it returns its result (no Transition will come to cover it)."""
        requests = list(self._requests.values())
        self._requests.clear()
        self._older_than_restart.clear()
        self._completed = 0
        for request in requests:
            if request.status is _Status.COMPLETED:
                request.settle(request.result, None)
            else:
                request.settle(None, error)

    def fail_all(self, error: BaseException) -> None:
        """The client is finished: every pending request fails with ``error``."""
        requests = list(self._requests.values())
        self._requests.clear()
        self._older_than_restart.clear()
        self._completed = 0
        for request in requests:
            request.settle(None, error)

    def has_synced_past_last_reconnect(self) -> bool:
        """No request that was pending at the last restart still is."""
        return not self._older_than_restart

    def counts(self) -> tuple[int, int, float | None]:
        """(mutations, actions, when the oldest was made) of what is pending."""
        mutations = actions = 0
        oldest: float | None = None
        for request in self._requests.values():
            if isinstance(request.message, Mutation):
                mutations += 1
            else:
                actions += 1
            if oldest is None or request.sent_at < oldest:
                oldest = request.sent_at
        return mutations, actions, oldest
