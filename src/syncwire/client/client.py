"""``Client``: queries, subscriptions, mutations, actions and auth over a ``WebSocketManager``.

The manager keeps a socket alive; the client makes every reconnect lossless
(docs/client.md#on-open). On each open it sends ``Connect``, rebuilds the server's
view of the session (auth, then every live query from version 0), re-sends
the mutations the server may not have committed and the actions never sent;
it tells the manager when the session has caught up, which resets the
backoff. Everything runs on one event loop, in callbacks that never block.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import uuid
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Final
from typing import Literal
from typing import TypeVar
from typing import overload

from syncwire.backoff import BackoffPolicy
from syncwire.client.auth import REFRESH_LEEWAY
from syncwire.client.auth import AuthHost
from syncwire.client.auth import AuthManager
from syncwire.client.auth import TokenFetcher
from syncwire.client.local_state import LocalState
from syncwire.client.remote_query_set import QueryResult
from syncwire.client.remote_query_set import RemoteQuerySet
from syncwire.client.requests import RequestManager
from syncwire.errors import AuthenticationError
from syncwire.errors import ClientClosedError
from syncwire.errors import FatalServerError
from syncwire.errors import SyncwireError
from syncwire.function_logs import FUNCTION_LOGGER
from syncwire.function_logs import log_function_lines
from syncwire.lifetime import AsyncResource
from syncwire.mailbox import Mailbox
from syncwire.manager import ConnectionState
from syncwire.manager import OnMessageResponse
from syncwire.manager import ReconnectMetadata
from syncwire.manager import WebSocketManager
from syncwire.pagination import DEFAULT_PAGE_SIZE
from syncwire.pagination import Page
from syncwire.pagination import PageWalk
from syncwire.pagination import async_documents
from syncwire.pagination import async_pages
from syncwire.protocol import Action
from syncwire.protocol import ActionResponse
from syncwire.protocol import AuthError
from syncwire.protocol import ClientMessage
from syncwire.protocol import Connect
from syncwire.protocol import ConvexValue
from syncwire.protocol import FatalError
from syncwire.protocol import JSONValue
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import QueryRemoved
from syncwire.protocol import ServerMessage
from syncwire.protocol import Transition
from syncwire.protocol import convex_to_json
from syncwire.protocol import function_args
from syncwire.redaction import redact_url
from syncwire.results import check_result_type
from syncwire.results import convert_result
from syncwire.transport import Transport
from syncwire.urls import sync_url
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE

__all__ = ["STATE_BACKLOG", "Client", "ClientConnectionState", "Subscription"]

T = TypeVar("T")

STATE_BACKLOG: Final = 1024
"""Connection states a slow reader of ``connection_states()`` may fall behind by."""

# The two answers on_message gives, made once (the manager only reads them).
_SYNCED: Final = OnMessageResponse(has_synced_past_last_reconnect=True)
_NOT_SYNCED: Final = OnMessageResponse(has_synced_past_last_reconnect=False)


@dataclass(frozen=True, slots=True)
class ClientConnectionState:
    """An immutable snapshot: the manager's connection plus the requests in flight."""

    connection: ConnectionState
    inflight_mutations: int
    inflight_actions: int
    oldest_inflight_since: float | None
    """Loop time the oldest pending request was made, while one is pending."""
    is_authenticated: bool | None
    """``True`` once the server confirmed the token, ``False`` after giving up."""
    last_error: str | None = None
    """Why the socket cannot be opened, in words (no credential, no URL query
    string), while it cannot: ``None`` once connected. See ``WebSocketManager.last_error``."""

    @property
    def has_inflight_requests(self) -> bool:
        return self.inflight_mutations + self.inflight_actions > 0


class Client(AsyncResource):
    """A Convex client for asyncio; every promise it makes survives reconnects.

    Create it in a coroutine (it connects at once) and close it with
    ``async with`` or ``await client.close()``: no task, timer or socket is
    left afterwards::

        async with Client("https://happy-otter-123.convex.cloud") as client:
            await client.mutation("messages:send", {"body": "hi"})
            async for messages in client.subscribe("messages:list"):
                print(messages)

    Manager options (``transport``, ``inactivity_threshold``, ``backoff``,
    ``max_message_size``, ``rand`` for the jitter) are passed through to
    ``WebSocketManager``. ``refresh_leeway`` is how many seconds before an
    auth token expires the fetcher is asked for the next one. ``logger`` is
    the client's own (``syncwire.client``); your functions' ``console.log``
    lines always go to ``syncwire.function_logs``, a name to turn them on by.

    No call has a timeout of its own: bound one with ``asyncio.timeout()``.
    A cancelled call leaves nothing behind (see ``mutation`` for what a
    cancelled mutation means). The server's rejection of the identity you
    gave never makes calls run without it: they raise
    ``AuthenticationError`` until ``set_auth`` or ``clear_auth``.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: Transport | None = None,
        inactivity_threshold: float = 60.0,
        backoff: BackoffPolicy | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        refresh_leeway: float = REFRESH_LEEWAY,
        logger: logging.Logger | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._log = logger or logging.getLogger("syncwire.client")
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Client connects at once: create it inside a running event loop "
                "(in a coroutine), or use syncwire.ConvexClient from blocking code"
            ) from None
        self._url = sync_url(url)
        self._session_id = str(uuid.uuid4())
        self._max_observed_timestamp: int | None = None
        self._synced = True
        """Caught up with everything re-sent at the last open (an idle client is)."""
        self._state = LocalState()
        self._remote = RemoteQuerySet()
        self._requests = RequestManager()
        self._next_request_id = 0
        self._subscriptions: dict[int, dict[Subscription, Mailbox[QueryResult]]] = {}
        """Each live query's subscribers, and the mailbox the client fills for each."""
        self._next_subscriber_id = 0
        self._state_streams: set[_StateStream] = set()
        self._ended: SyncwireError | None = None
        self._auth_failure: AuthenticationError | None = None
        self._closing: asyncio.Task[None] | None = None
        self._auth = AuthManager(
            AuthHost(
                pause_socket=self._pause_socket,
                resume_socket=self._resume_socket,
                stop_socket=self._stop_socket,
                restart_socket=self._restart_socket,
                authenticate=self._authenticate,
                clear_auth=self._clear_auth_token,
                auth_failed=self._fail_auth,
                identity_version=lambda: self._state.identity_version,
                current_token=lambda: self._state.auth_token,
            ),
            self._log,
            refresh_leeway=refresh_leeway,
        )
        self._manager = WebSocketManager(
            self._url,
            on_open=self._on_open,
            on_message=self._on_message,
            on_resume=self._on_resume,
            on_state_change=self._on_manager_state,
            transport=transport,
            inactivity_threshold=inactivity_threshold,
            backoff=backoff,
            max_message_size=max_message_size,
            rand=rand,
        )

    def __repr__(self) -> str:
        return f"<Client {redact_url(self._url)} {self._manager.socket_state()}>"

    @property
    def session_id(self) -> str:
        """One UUID for the client's whole life, sent in every ``Connect``."""
        return self._session_id

    @property
    def auth_failure(self) -> AuthenticationError | None:
        """While the server rejects the identity given (until ``set_auth`` or
        ``clear_auth``), the ``AuthenticationError`` calls raise; else ``None``."""
        return self._auth_failure

    # -- functions --------------------------------------------------------------------

    @overload
    async def query(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: type[T]
    ) -> T: ...
    @overload
    async def query(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: Any = None
    ) -> Any: ...
    async def query(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: Any = None
    ) -> Any:
        """Run a query once: its first result over the sync socket.

        ``result_type`` converts the value (see ``syncwire.results``).
        Cancelled (e.g. by ``asyncio.timeout()``), it unsubscribes at once.
        """
        subscription = self.subscribe(name, args, result_type=result_type)
        try:
            return await subscription.next()
        except StopAsyncIteration:
            raise ClientClosedError("the client was closed before the query returned") from None
        finally:
            subscription.unsubscribe()

    @overload
    async def mutation(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: type[T]
    ) -> T: ...
    @overload
    async def mutation(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: Any = None
    ) -> Any: ...
    async def mutation(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: Any = None
    ) -> Any:
        """Run a mutation; returns once its effects are visible to this client's queries.

        Re-sent with the same request id after a reconnect until the server
        has answered and a Transition covers it, so it commits exactly once.
        ``result_type`` converts the value; a type that can never fit fails
        before the mutation is sent.

        Cancelled (e.g. by ``asyncio.timeout()``) before it was ever sent (the
        socket was down, or paused while an auth token was fetched), it is
        withdrawn and never runs. Cancelled after, it stays in flight and
        still commits exactly once while the client lives: the server may
        already be running it, and only an answer can tell.
        """
        return await self._request(Mutation, name, args, result_type)

    @overload
    async def action(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: type[T]
    ) -> T: ...
    @overload
    async def action(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: Any = None
    ) -> Any: ...
    async def action(
        self, name: str, args: Mapping[str, ConvexValue] | None = None, *, result_type: Any = None
    ) -> Any:
        """Run an action. Actions run at most once: one in flight when the
        connection drops raises ``ConnectionLostError``.

        Cancelled before it was sent, it is withdrawn; after, it may still run.
        """
        return await self._request(Action, name, args, result_type)

    def subscribe(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        result_type: Any = None,
    ) -> Subscription:
        """Subscribe to a query: an async iterator of its values, newest first.

        Subscribers to the same query and args share one server subscription.
        A reader that falls behind skips to the latest value. Call
        ``unsubscribe()`` (or use ``async with``) when done. With
        ``result_type``, each value is converted as it is read; one that does
        not fit raises ``ResultTypeError`` from that read (the next may fit).
        """
        self._check_callable()
        if result_type is not None:
            check_result_type(result_type)
        checked, args_json = _checked_args_json(args)
        query, modification = self._state.subscribe(name, checked, args_json)
        if modification is not None:
            self._send(modification)
        mailbox: Mailbox[QueryResult] = Mailbox(
            busy="another task is already waiting for this subscription"
        )
        subscription = Subscription(
            self, mailbox, query.query_id, query.udf_path, self._next_subscriber_id, result_type
        )
        self._next_subscriber_id += 1
        self._subscriptions.setdefault(query.query_id, {})[subscription] = mailbox
        result = self._remote.results.get(query.query_id)
        if result is not None:
            mailbox.put(result)  # a shared query's current value
        return subscription

    @overload
    def paginate(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: type[T],
    ) -> AsyncIterator[T]: ...
    @overload
    def paginate(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
    ) -> AsyncIterator[Any]: ...
    def paginate(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
    ) -> AsyncIterator[Any]:
        """Every document of a paginated query, page after page (``async for``).

        The query takes ``paginationOpts`` (set here, ``page_size`` documents
        a page) and returns ``{page, isDone, continueCursor}``; each page is
        one run of the query. ``result_type`` is each document's type. Bad
        arguments raise here, before the first page is asked for.
        """
        return async_documents(self.pages(name, args, page_size=page_size, result_type=result_type))

    def pages(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        result_type: Any = None,
    ) -> AsyncIterator[Page[Any]]:
        """``paginate``, a whole ``Page`` at a time (its ``items``, ``continue_cursor``)."""
        self._check_usable()
        walk = PageWalk(name, args, page_size, result_type)
        return async_pages(walk, lambda page_args: self.query(walk.name, page_args))

    # -- auth ---------------------------------------------------------------------------

    def set_auth(
        self,
        token: str | TokenFetcher,
        *,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        """Authenticate as a user, with a JWT or a token fetcher.

        A fetcher is called as ``fetcher(force_refresh)`` (sync or async) and
        returns a JWT or ``None``; it is asked again before the token expires
        and when the server rejects it. ``on_change(True)`` is called when the
        server confirms a token, ``on_change(False)`` when it gives up.

        Calls made before the server confirms the token go out after it, so
        none runs without it. If the server rejects the token and no fetcher
        supplies one it accepts (or a fetcher raises), pending and later calls
        raise ``AuthenticationError`` until ``set_auth`` or ``clear_auth``; a
        fetcher returning ``None`` signs out instead.
        """
        self._check_usable()
        if isinstance(token, str):
            if not token:
                raise ValueError("the auth token is empty; use clear_auth() to sign out")

            def constant(_force_refresh: bool, token: str = token) -> str:
                return token

            self._end_auth_failure()
            self._auth.configure(constant, on_change, static=True)
        elif callable(token):
            self._end_auth_failure()
            self._auth.configure(token, on_change, static=False)
        else:
            raise TypeError(
                f"set_auth takes a token or a token fetcher, not {type(token).__name__}"
            )

    def clear_auth(self) -> None:
        """Sign out: later function calls run without an identity."""
        self._check_usable()
        self._end_auth_failure()
        self._auth.clear()
        self._send_if(self._state.clear_auth())

    def set_admin_auth(
        self, admin_key: str, acting_as: Mapping[str, JSONValue] | None = None
    ) -> None:
        """Authenticate with a deployment admin key (optionally acting as a user identity)."""
        self._check_usable()
        if not admin_key:
            raise ValueError("the admin key is empty")
        self._end_auth_failure()
        self._auth.clear()
        self._send_if(self._state.set_admin_auth(admin_key, dict(acting_as) if acting_as else None))

    # -- connection ----------------------------------------------------------------------

    def connection_state(self) -> ClientConnectionState:
        """The connection and the requests in flight, now."""
        mutations, actions, oldest = self._requests.counts()
        return ClientConnectionState(
            connection=self._manager.connection_state(),
            inflight_mutations=mutations,
            inflight_actions=actions,
            oldest_inflight_since=oldest,
            is_authenticated=self._auth.is_authenticated,
            last_error=self._manager.last_error,
        )

    def connection_states(self) -> AsyncIterator[ClientConnectionState]:
        """Every change of ``connection_state()`` from now on, until the client closes.

        A reader more than ``STATE_BACKLOG`` (1,024) changes behind loses the oldest ones.
        """
        stream = _StateStream(self)
        stream.mailbox.put(self.connection_state())
        if self._ended is None:
            self._state_streams.add(stream)
        else:
            stream.mailbox.close()  # the last state, then the end
        return stream

    async def close(self) -> None:
        """Close for good: pending calls raise ``ClientClosedError``; returns once no
        task, timer or socket is left. Idempotent."""
        self._end(ClientClosedError("the client is closed"))
        assert self._closing is not None  # noqa: S101 - set by _end
        await asyncio.shield(self._closing)

    async def aclose(self) -> None:
        """``close()``, by the name ``async with`` and ``contextlib.aclosing`` call."""
        await self.close()

    # -- the manager's callbacks -----------------------------------------------------------

    def _on_open(self, metadata: ReconnectMetadata) -> None:
        self._send(
            Connect(
                connection_count=metadata.connection_count,
                last_close_reason=metadata.last_close_reason,
                client_ts=metadata.client_ts,
                session_id=self._session_id,
                max_observed_timestamp=self._max_observed_timestamp,
            )
        )
        self._remote = RemoteQuerySet()
        authenticate, query_set = self._state.restart()
        self._send_if(authenticate)
        self._send(query_set)
        for request in self._requests.restart():
            self._send(request)
        self._synced = False  # the next message's answer asks the request and query sets
        self._publish_state()

    def _on_resume(self) -> None:
        authenticate, query_set = self._state.resume()
        self._send_if(authenticate)
        self._send_if(query_set)
        for request in self._requests.resume():
            self._send(request)

    def _on_message(self, message: ServerMessage) -> OnMessageResponse:
        if self._ended is not None:
            return _NOT_SYNCED  # closing
        # A Transition is nearly every message: one type test, not a match.
        if type(message) is Transition:
            self._on_transition(message)
        else:
            match message:
                case MutationResponse() | ActionResponse():
                    self._on_response(message)
                case AuthError():
                    self._auth.on_auth_error(message)
                case FatalError():
                    self._log.error("the server ended the session: %s", message.error)
                    self._end(FatalServerError(message.error))
                case Ping():
                    pass
        if self._synced:
            return _SYNCED
        # Once caught up, the session stays so until the next open re-sends
        # everything (docs/client.md#on-open): only _on_open clears the flag.
        self._synced = (
            self._requests.has_synced_past_last_reconnect()
            and self._state.has_synced_past_last_reconnect()
        )
        return _SYNCED if self._synced else _NOT_SYNCED

    def _on_transition(self, transition: Transition) -> None:
        """The hot path: one call per Transition, kept free of allocations it can skip."""
        changed = self._remote.transition(transition)  # ProtocolError: the manager resyncs
        end_version = transition.end_version
        ts = end_version.ts
        observed = self._max_observed_timestamp
        if observed is None or ts > observed:
            self._max_observed_timestamp = ts
        identity = end_version.identity
        if identity != transition.start_version.identity:
            self._auth.on_transition(transition)
            if (
                identity > transition.start_version.identity
                and identity >= self._state.identity_version
            ):
                self._state.mark_auth_confirmed()
        if self._state.transition(transition):  # some modification carries log lines
            for modification in transition.modifications:
                if not isinstance(modification, QueryRemoved) and modification.log_lines:
                    query = self._state.query(modification.query_id)
                    if query is not None:
                        log_function_lines(
                            FUNCTION_LOGGER, "Q", query.udf_path, modification.log_lines
                        )
        if changed:
            results, subscriptions = self._remote.results, self._subscriptions
            for query_id in changed:
                subscribers = subscriptions.get(query_id)
                if subscribers:
                    result = results[query_id]
                    for mailbox in subscribers.values():
                        mailbox.put(result)
        self._requests.remove_completed(ts)
        if self._state_streams:
            self._publish_state()

    def _on_response(self, response: MutationResponse | ActionResponse) -> None:
        if isinstance(response, MutationResponse) and response.success and response.ts is not None:
            self._observe(response.ts)
        path = self._requests.on_response(response)
        if path is not None and response.log_lines:
            kind: Literal["M", "A"] = "M" if isinstance(response, MutationResponse) else "A"
            log_function_lines(FUNCTION_LOGGER, kind, path, response.log_lines)
        # A re-sent mutation's answer may arrive after a Transition that covers it.
        self._requests.remove_completed(self._remote.version.ts)
        self._publish_state()

    def _on_manager_state(self, _state: ConnectionState) -> None:
        self._publish_state()

    # -- internals --------------------------------------------------------------------------

    async def _request(
        self,
        kind: type[Mutation] | type[Action],
        name: str,
        args: Mapping[str, ConvexValue] | None,
        result_type: Any,
    ) -> Any:
        self._check_callable()
        if not isinstance(name, str) or not name:
            raise TypeError("the function name must be a non-empty str")
        if result_type is not None:
            check_result_type(result_type)
        message = kind(request_id=self._next_request_id, udf_path=name, args=_checked_args(args))
        self._next_request_id += 1
        loop = self._loop
        future: asyncio.Future[Any] = loop.create_future()

        def settle(result: object, error: BaseException | None) -> None:
            if future.done():
                return  # the caller stopped waiting (cancelled)
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        sent = self._manager.send_message(message)
        self._requests.request(message, settle, sent=sent, now=loop.time())
        self._publish_state()
        try:
            value = await future
        except asyncio.CancelledError:
            if self._requests.withdraw(message.request_id):  # never sent: it never runs
                self._publish_state()
            raise
        return value if result_type is None else convert_result(value, result_type)

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.get(subscription.query_id)
        if subscribers is None or subscription not in subscribers:
            return
        del subscribers[subscription]
        if not subscribers:
            del self._subscriptions[subscription.query_id]
        if self._ended is None:
            self._send_if(self._state.unsubscribe(subscription.query_id))

    def _observe(self, ts: int) -> None:
        if self._max_observed_timestamp is None or ts > self._max_observed_timestamp:
            self._max_observed_timestamp = ts

    def _send(self, message: ClientMessage) -> None:
        self._manager.send_message(message)

    def _send_if(self, message: ClientMessage | None) -> None:
        if message is not None:
            self._manager.send_message(message)

    def _check_usable(self) -> None:
        if self._ended is not None:
            raise copy.copy(self._ended)  # a fresh traceback for each caller

    def _check_callable(self) -> None:
        """A function may run: the client is open and its identity was not rejected."""
        self._check_usable()
        self._check_auth()

    def _check_auth(self) -> None:
        """Raise the ``auth_failure`` while there is one (a fresh traceback for each caller)."""
        if self._auth_failure is not None:
            raise copy.copy(self._auth_failure)

    # -- the auth manager's host -------------------------------------------------------

    def _pause_socket(self) -> None:
        self._state.pause()
        self._manager.pause()

    def _resume_socket(self) -> None:
        self._manager.resume()  # on_resume (same socket) or on_open (a new one) send the changes
        if self._state.paused:
            # No socket to resume: the next open sends the whole state anyway.
            self._state.resume()

    async def _stop_socket(self) -> None:
        await self._manager.stop()

    def _restart_socket(self) -> None:
        if self._auth_failure is None:  # else set_auth/clear_auth restarts it
            self._manager.try_restart()

    def _authenticate(self, token: str) -> None:
        self._send_if(self._state.set_auth(token))

    def _clear_auth_token(self) -> None:
        self._send_if(self._state.clear_auth())

    def _fail_auth(self, why: str) -> None:
        """The server rejected the identity the user gave: nothing runs until they choose.

        The socket stops, so nothing is sent (or re-sent) under another
        identity; requests waiting fail, subscriptions' readers are told.
        Queries stay in the local set and resume after ``set_auth``/``clear_auth``.
        """
        if self._ended is not None:
            return
        failure = AuthenticationError(why)
        self._auth_failure = failure
        self._manager.halt()
        self._requests.fail_unanswered(failure)
        for subscribers in self._subscriptions.values():
            for mailbox in subscribers.values():
                mailbox.discard()  # computed under the rejected identity: not given out now
        self._publish_state()

    def _end_auth_failure(self) -> None:
        """The user set or cleared auth: connect again (the new auth goes first)."""
        if self._auth_failure is None:
            return
        self._auth_failure = None
        self._manager.try_restart()
        for subscribers in self._subscriptions.values():
            for mailbox in subscribers.values():
                mailbox.wake()  # a reader waiting for the failure to end
        self._publish_state()

    def _end(self, error: SyncwireError) -> None:
        """Close, or a FatalError: from now on every call fails with ``error``.

        Pending calls and subscriptions fail at once; the socket, timers and
        tasks are let go of by the ``_closing`` task, which ``close()`` awaits.
        """
        if self._ended is not None:
            return
        self._ended = error
        fatal = not isinstance(error, ClientClosedError)
        self._requests.fail_all(error)
        for subscribers in list(self._subscriptions.values()):
            for mailbox in subscribers.values():
                if fatal:
                    mailbox.fail(error)  # each read raises a copy
                else:
                    mailbox.close(discard=True)
        self._subscriptions.clear()
        self._closing = asyncio.ensure_future(self._shut_down())

    async def _shut_down(self) -> None:
        await self._auth.close()
        await self._manager.terminate()
        self._publish_state()
        for stream in list(self._state_streams):
            stream.mailbox.close()

    def _publish_state(self) -> None:
        if self._state_streams:
            snapshot = self.connection_state()
            for stream in self._state_streams:
                stream.mailbox.put(snapshot)


class Subscription:
    """A query's values as an async iterator; ``unsubscribe()`` ends it.

    Iteration yields the query's latest value each time it changes; a reader
    that falls behind skips to the newest. A failed query raises its
    ``FunctionError`` from the iteration (the next value may succeed again).
    """

    __slots__ = (
        "_client",
        "_mailbox",
        "_unsubscribed",
        "id",
        "query_id",
        "result_type",
        "udf_path",
    )

    def __init__(
        self,
        client: Client,
        mailbox: Mailbox[QueryResult],
        query_id: int,
        udf_path: str,
        subscriber_id: int,
        result_type: Any = None,
    ) -> None:
        self._client = client
        self._mailbox = mailbox
        """Filled by the client: the query's latest result, until it is read."""
        self.id = subscriber_id
        """This subscriber, unique within its client (as the official ``QuerySubscription.id``)."""
        self.query_id = query_id
        """Shared by every subscriber to the same query and args."""
        self.udf_path = udf_path
        self.result_type = result_type
        """What each value is converted into (``None``: values as they come)."""
        self._unsubscribed = False

    def __repr__(self) -> str:
        status = "ended" if self._mailbox.closed else "live"
        return f"<Subscription {self.udf_path} id {self.id} query {self.query_id} {status}>"

    @property
    def has_unread(self) -> bool:
        """A value came that was not read yet: ``next()`` returns it without waiting."""
        return self._mailbox.unread > 0

    async def next(self) -> Any:
        """The next value (the current one, if not yet read).

        Raises ``StopAsyncIteration`` once the client closed (or when
        ``unsubscribe()`` ends a wait in progress), the server's
        ``FatalServerError`` if it ended the session, and
        ``AuthenticationError`` while the server rejects the identity given.
        Called after ``unsubscribe()`` it raises ``RuntimeError``, as the
        official client raises for a dropped subscription: a value will never come.
        """
        if self._unsubscribed:
            raise RuntimeError("this subscription was unsubscribed: subscribe again for values")
        result = await self._mailbox.get(self._client._check_auth)
        if self.result_type is None:
            return result.unwrap()
        return convert_result(result.unwrap(), self.result_type)

    def unsubscribe(self) -> None:
        """Stop receiving; the last subscriber of a query removes it from the server."""
        if not self._mailbox.closed:
            self._unsubscribed = True
            self._client._unsubscribe(self)
            self._mailbox.close(discard=True)

    async def wait_auth_resolved(self) -> None:
        """Return once the client's ``auth_failure`` is over (``set_auth`` or
        ``clear_auth``) or this subscription has ended: at once if either is so already.

        For a reader that gets ``AuthenticationError`` from ``next()`` and
        must not spin on it (the blocking client's).
        """
        while self._client.auth_failure is not None and not self._mailbox.closed:
            await self._mailbox.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        return await self.next()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.unsubscribe()


class _StateStream:
    """``Client.connection_states()``: the latest ``STATE_BACKLOG`` snapshots, in order."""

    __slots__ = ("_client", "mailbox")

    def __init__(self, client: Client) -> None:
        self._client = client
        self.mailbox: Mailbox[ClientConnectionState] = Mailbox(
            capacity=STATE_BACKLOG, skip_repeats=True
        )

    def __aiter__(self) -> _StateStream:
        return self

    async def __anext__(self) -> ClientConnectionState:
        return await self.mailbox.get()

    async def aclose(self) -> None:
        self._client._state_streams.discard(self)
        self.mailbox.close()


def _checked_args(args: Mapping[str, ConvexValue] | None) -> Mapping[str, ConvexValue]:
    """Arguments as Convex wants them, checked now so that a bad one fails the call."""
    return _checked_args_json(args)[0]


def _checked_args_json(
    args: Mapping[str, ConvexValue] | None,
) -> tuple[Mapping[str, ConvexValue], JSONValue]:
    """``_checked_args``, and the args' JSON form the check computed (a query's key)."""
    checked = function_args(args)
    return checked, convex_to_json(checked)  # raises TypeError/ValueError naming the bad field
