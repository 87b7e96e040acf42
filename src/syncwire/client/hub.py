"""``Hub``: the blocking client's subscriptions, on the side of its loop thread.

Every live query has one ``Subscription`` of the asyncio client, read by a
pump task; the pump hands each result to the query's ``Slot`` (one per
``QuerySubscription``) and tells the ``Watcher``s (one per ``watch_all()``).
Everything here runs in the loop thread only; the caller's side is in
``syncwire.client.blocking_subscriptions``.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from syncwire.client.client import Client
from syncwire.client.client import Subscription
from syncwire.client.remote_query_set import QueryResult
from syncwire.errors import AuthenticationError
from syncwire.errors import FunctionError
from syncwire.errors import SyncwireError
from syncwire.mailbox import Mailbox
from syncwire.protocol import ConvexValue

__all__ = ["Hub", "Slot", "Watcher"]

_log = logging.getLogger("syncwire.client")


class Slot:
    """A ``QuerySubscription``'s unread value, filled by its query's pump.

    A value the caller gave up on as it arrived is put back, unless a newer
    one came meanwhile: the reader never loses the latest value.
    """

    __slots__ = ("_hub", "_mailbox", "id", "query_id")

    def __init__(self, hub: Hub, query_id: int, slot_id: int) -> None:
        self._hub = hub
        self.query_id = query_id
        self.id = slot_id
        self._mailbox: Mailbox[QueryResult] = Mailbox(
            busy="another thread is already waiting for this subscription"
        )

    async def take(self) -> Any:
        """The next value; its query's ``FunctionError`` for a failed one, and
        ``AuthenticationError`` while the server rejects the identity given."""
        while True:
            # The auth failure is reported once by the pump, and again while it lasts.
            result = await self._mailbox.get(self._hub.check_auth)
            if result.error is None:
                return result.value
            if isinstance(result.error, AuthenticationError) and self._hub.auth_failure() is None:
                continue  # unread, and over since: the next value comes under the new identity
            raise copy.copy(result.error)  # shared by the query's readers: fresh tracebacks

    def put(self, result: QueryResult) -> None:
        self._mailbox.put(result)

    def put_back(self, value: Any) -> None:
        """A value ``take`` returned that its caller never received."""
        self._mailbox.put_back(QueryResult(value=value))

    def end(self, error: SyncwireError | None) -> None:
        """No more values: reads end (``StopAsyncIteration``), or raise ``error``."""
        if error is None:
            self._mailbox.close(discard=True)
        else:
            self._mailbox.fail(error)


class Hub:
    """Every live query's latest result, shared by its ``QuerySubscription``s and
    ``watch_all``.

    Each query has one ``Subscription`` of the async client, read by a pump
    task that hands each result to the query's slots and to the watchers.
    """

    client: Client | None = None
    """Set by the loop thread once the client is made."""

    def __init__(self) -> None:
        self._subscriptions: dict[int, Subscription] = {}
        self._slots: dict[int, list[Slot]] = {}
        self._slot_ids = itertools.count()
        self._latest: dict[int, QueryResult] = {}
        self._pumps: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Event | None = None
        self.version = 0
        self.ended = False
        self.error: SyncwireError | None = None

    def subscribe(self, client: Client, name: str, args: Mapping[str, ConvexValue] | None) -> Slot:
        subscription = client.subscribe(name, args)
        query_id = subscription.query_id
        if query_id in self._subscriptions:
            subscription.unsubscribe()  # the query's pump already reads it
        else:
            self._subscriptions[query_id] = subscription
            pump = asyncio.ensure_future(self._pump(query_id, subscription))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)
        slot = Slot(self, query_id, next(self._slot_ids))
        self._slots.setdefault(query_id, []).append(slot)
        latest = self._latest.get(query_id)
        if latest is not None:
            slot.put(latest)  # a shared query's current value
            self._bump()  # a new key in watch_all's view
        return slot

    def auth_failure(self) -> AuthenticationError | None:
        """The client's, while the server rejects the identity the user gave."""
        return None if self.client is None else self.client.auth_failure

    def check_auth(self) -> None:
        """Raise the client's auth failure while there is one (a fresh traceback each time)."""
        failure = self.auth_failure()
        if failure is not None:
            raise copy.copy(failure)

    def unsubscribe(self, slot: Slot) -> None:
        query_id = slot.query_id
        slots = self._slots.get(query_id, [])
        if slot not in slots:
            return
        slots.remove(slot)
        slot.end(None)
        if slots:
            if query_id in self._latest:
                self._bump()  # one key fewer in watch_all's view
            return
        del self._slots[query_id]
        self._subscriptions.pop(query_id).unsubscribe()  # its pump ends
        if self._latest.pop(query_id, None) is not None:
            self._bump()

    def snapshot(self) -> dict[int, Any]:
        """``{subscriber id: value}``, as the official client keys it; a failed
        query's value is its error."""
        return {
            slot.id: result.value if result.error is None else result.error
            for query_id, result in self._latest.items()
            for slot in self._slots.get(query_id, ())
        }

    def watch(self) -> Watcher:
        return Watcher(self)

    async def wait(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    async def close(self) -> None:
        """The client closed: the pumps end the slots, then the watchers end."""
        results = await asyncio.gather(*self._pumps, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                _log.error("a ConvexClient subscription pump failed", exc_info=result)
        self.ended = True
        self._bump()

    async def _pump(self, query_id: int, subscription: Subscription) -> None:
        error: SyncwireError | None = None
        while True:
            try:
                result = QueryResult(value=await subscription.next())
            except StopAsyncIteration:
                break
            except (FunctionError, AuthenticationError) as failure:
                result = QueryResult(error=failure)
            except SyncwireError as fatal:  # the server ended the session
                error = fatal
                break
            if self._subscriptions.get(query_id) is not subscription:
                return  # unsubscribed meanwhile
            self._latest[query_id] = result
            for slot in self._slots.get(query_id, ()):
                slot.put(result)
            self._bump()
            if isinstance(result.error, AuthenticationError):
                # next() raises it until set_auth/clear_auth: wait for that, not spin.
                await subscription.wait_auth_resolved()
                if self._subscriptions.get(query_id) is not subscription:
                    return
        if self._subscriptions.get(query_id) is subscription:  # the client ended
            for slot in self._slots.pop(query_id, ()):
                slot.end(error)
            if error is not None:
                self.error = error
                self._bump()

    def _bump(self) -> None:
        self.version += 1
        self.wake()

    def wake(self) -> None:
        """Let every waiting watcher look again."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class Watcher:
    """One ``watch_all()`` reader's place in the hub's history."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._seen = -1  # nothing read yet: the current view comes first
        self._previous = -1

    async def next(self) -> dict[int, Any]:
        hub = self._hub
        while True:
            if hub.error is not None:
                raise copy.copy(hub.error)
            if hub.ended:
                raise StopAsyncIteration
            if hub.version > self._seen and (self._seen >= 0 or hub.snapshot()):
                self._previous, self._seen = self._seen, hub.version
                return hub.snapshot()
            await hub.wait()

    def replay(self, _snapshot: dict[int, Any]) -> None:
        """The last view was not received: the next read gives the current one at once."""
        self._seen = self._previous
        self._hub.wake()
