"""One client connection to the dev server: a ``Session`` speaks the sync protocol.

What a server sends and when: docs/protocol.md#server-behaviour.

Why apart: the server accepts, listens and keeps what outlives a connection
(the data, the mutation answers); a session is everything about one
connection. It has four tasks: the reader (validates and dispatches client
frames), the sync worker (re-runs invalidated queries and sends versioned
Transitions that carry only changed results), the mutation worker (one
mutation at a time; its MutationResponse precedes the Transition that covers
its commit) and the writer (the only task that sends, so frames keep their
order and an idle period can be measured for Pings).

Mutations are idempotent per ``(sessionId, requestId)``, as on a real
deployment: a client that reconnects with the same ``sessionId`` and re-sends
an unfinished Mutation gets the original MutationResponse (same result and
``ts``) and a Transition covering it; the mutation does not run again. The
answers are kept in a ``MutationMemory`` the server shares between sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final
from typing import TypeAlias
from typing import TypedDict

import msgspec
from msgspec import UnsetType
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from syncwire.devserver.context import UserIdentity
from syncwire.devserver.engine import Engine
from syncwire.devserver.engine import Outcome
from syncwire.devserver.state import MutationAnswers
from syncwire.errors import ProtocolError
from syncwire.protocol import Action
from syncwire.protocol import ActionResponse
from syncwire.protocol import Authenticate
from syncwire.protocol import AuthError
from syncwire.protocol import Connect
from syncwire.protocol import ConvexValue
from syncwire.protocol import FatalError
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryRemoved
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateModification
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.protocol import split_transition
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import CLOSE_NO_STATUS

__all__ = [
    "MUTATION_MEMORY_PER_SESSION",
    "MUTATION_MEMORY_SESSIONS",
    "Deployment",
    "MutationMemory",
    "Session",
]

MUTATION_MEMORY_PER_SESSION: Final = 1024
"""Mutation answers remembered per sessionId, for re-sends after a reconnect."""
MUTATION_MEMORY_SESSIONS: Final = 1024
"""SessionIds whose mutation answers are remembered (least recently used dropped)."""

logger = logging.getLogger("syncwire.devserver")


class MutationMemory:
    """Mutation answers by (sessionId, requestId), bounded, and the ones running."""

    def __init__(self, answers: MutationAnswers | None = None) -> None:
        self.answers: MutationAnswers = OrderedDict() if answers is None else answers
        """By sessionId, then requestId; least recently used first (what a state file keeps)."""
        self.running: dict[tuple[str, int], asyncio.Future[None]] = {}

    def get(self, session_id: str, request_id: int) -> MutationResponse | None:
        answers = self.answers.get(session_id)
        if answers is None:
            return None
        self.answers.move_to_end(session_id)
        return answers.get(request_id)

    def put(self, session_id: str, response: MutationResponse) -> None:
        answers = self.answers.get(session_id)
        if answers is None:
            answers = self.answers[session_id] = OrderedDict()
            while len(self.answers) > MUTATION_MEMORY_SESSIONS:
                self.answers.popitem(last=False)
        self.answers.move_to_end(session_id)
        answers[response.request_id] = response
        while len(answers) > MUTATION_MEMORY_PER_SESSION:
            answers.popitem(last=False)


@dataclass(frozen=True)
class Deployment:
    """What every session of one server shares, handed over by the ``DevServer``."""

    engine: Engine
    mutations: MutationMemory
    verify: Callable[[str], UserIdentity]
    """A ``User`` token's identity; raises to reject it (the text goes in AuthError)."""
    save_state: Callable[[], None]
    """Keep the data and answers durable (a no-op without a state file)."""
    dropping: Callable[[str | None], bool]
    """Whether a fault drops the messages of the session with this sessionId now."""
    clock: Callable[[], int]
    """Nanoseconds since the epoch: ``serverTs`` and the client's clock skew."""
    ping_interval: float
    chunk_threshold: int


@dataclass
class _Close:
    """Writer instruction: close the socket (``code=None``: no status code)."""

    code: int | None = None
    reason: str = ""


@dataclass
class _Raw:
    """Writer instruction: send this frame as it is (fault injection)."""

    frame: str | bytes


_Outgoing: TypeAlias = ServerMessage | _Close | _Raw


@dataclass
class _Subscription:
    udf_path: str
    args: Mapping[str, ConvexValue]
    journal: str | None
    reads: frozenset[str] = frozenset()
    last: bytes | None = None  # what the client was last told


@dataclass
class _IdentityChange:
    identity: UserIdentity | None
    version: int


@dataclass
class _SyncState:
    """The sync worker's view; only it reads or changes these (under the engine lock)."""

    queries: dict[int, _Subscription] = field(default_factory=dict)
    query_set_version: int = 0
    identity_version: int = 0
    identity: UserIdentity | None = None
    dirty: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)
    sent: StateVersion = field(default_factory=lambda: StateVersion(query_set=0, identity=0, ts=0))
    need_ts: int = 0
    answered: bool = False  # a MutationResponse went out: a Transition must follow it


class _Fatal(Exception):
    """The client broke the protocol: send FatalError, then close."""


class Session:
    """One client connection, from its first frame to its close (see the module).

    The ``DevServer`` runs one per accepted connection (``await session.run()``);
    ``session_id``, ``inject_close`` and ``inject_raw`` are what faults use.
    """

    def __init__(self, ws: ServerConnection, deployment: Deployment) -> None:
        self._deployment = deployment
        self.engine = deployment.engine
        self.ws = ws
        self._out: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._mutations: asyncio.Queue[tuple[Mutation, UserIdentity | None, int]] = asyncio.Queue()
        self._pending: list[ModifyQuerySet | _IdentityChange] = []
        # Query-set and identity changes received / answered with a Transition.
        # A mutation waits until every change received before it is answered, so
        # the session's frames follow the order of the client's.
        self._received_changes = 0
        self._answered_changes = 0
        self._progress = asyncio.Event()
        self._state = _SyncState()
        self._actions: set[asyncio.Task[None]] = set()
        # The reader's own counters: what the client has sent so far.
        self._received_query_set = 0
        self._received_identity = 0
        self._identity: UserIdentity | None = None
        self._clock_skew: int | None = None
        self._closing = False
        self._applying = 0
        self.session_id: str | None = None  # from Connect

    # -- lifecycle --

    async def run(self) -> None:
        self.engine.add_listener(self._on_commit)
        workers = [
            asyncio.create_task(self._guard(self._write_loop())),
            asyncio.create_task(self._guard(self._sync_loop())),
            asyncio.create_task(self._guard(self._mutation_loop())),
        ]
        try:
            await self._read_loop()
            if self._closing:  # let the writer send what is queued, then close
                with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed):
                    await asyncio.wait_for(asyncio.shield(workers[0]), timeout=10.0)
        finally:
            self._closing = True
            self.engine.remove_listener(self._on_commit)
            tasks = [*workers, *self._actions]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, loop: Coroutine[Any, Any, None]) -> None:
        """A bug in a worker closes the session with 1011, as the real server does."""
        try:
            await loop
        except (asyncio.CancelledError, ConnectionClosed):
            raise
        except Exception:
            logger.exception("dev server session failed")
            self._closing = True
            await self.ws.close(1011, "InternalServerError")

    def _send(self, message: _Outgoing) -> None:
        if not self._closing or isinstance(message, _Close):
            self._out.put_nowait(message)

    def inject_close(self, code: int | None, reason: str) -> None:
        """Fault: close after the queued frames (``CLOSE_ABNORMAL``: drop the TCP
        connection now; ``CLOSE_NO_STATUS`` or ``None``: no status code)."""
        if code == CLOSE_ABNORMAL:  # the reader sees the connection end, and the session with it
            self.ws.transport.abort()
            return
        self._send(_Close(None if code == CLOSE_NO_STATUS else code, reason))
        self._closing = True

    def inject_raw(self, frame: str | bytes) -> None:
        """Fault: send ``frame`` as it is, after the queued frames."""
        if not self._closing:
            self._out.put_nowait(_Raw(frame))

    def _fatal(self, error: str) -> None:
        self._send(FatalError(error=error))
        self._send(_Close())
        self._closing = True

    # -- reader --

    async def _read_loop(self) -> None:
        try:
            async for frame in self.ws:
                if self._deaf():
                    return
                if isinstance(frame, bytes):
                    self._fatal("Received binary message on websocket; expected text")
                    return
                try:
                    message = parse_client_message(frame)
                except ProtocolError as exc:
                    self._fatal(f"Received Invalid JSON on websocket: {exc}")
                    return
                try:
                    self._dispatch(message)
                except _Fatal as exc:
                    self._fatal(str(exc))
                    return
                if self._closing:
                    return
        except ConnectionClosed:
            return

    def _deaf(self) -> bool:
        """A close was decided (e.g. an injected fault): act on no more frames."""
        return self._closing

    def _dispatch(self, message: object) -> None:
        if isinstance(message, Connect):
            self.session_id = message.session_id
            # Whole milliseconds: the Rust client (and the official Python one,
            # which wraps it) reads clientClockSkew as an i64 and drops the
            # connection on a fraction.
            # Kept in the i64 the Transition carries, whatever clientTs a client sends.
            skew = message.client_ts - self._deployment.clock() // 1_000_000
            self._clock_skew = min(max(skew, -(2**63)), 2**63 - 1)
            observed = message.max_observed_timestamp
            if observed is not None and observed > self.engine.ts:
                self._send(_Close(1011, "InternalServerError"))
                self._closing = True
        elif isinstance(message, ModifyQuerySet):
            self._check_query_set(message)
            self._pending.append(message)
            self._received_changes += 1
            self._wake.set()
        elif isinstance(message, Authenticate):
            self._authenticate(message)
        elif isinstance(message, Mutation):
            self._mutations.put_nowait((message, self._identity, self._received_changes))
        elif isinstance(message, Action):
            task = asyncio.create_task(self._run_action(message, self._identity))
            self._actions.add(task)
            task.add_done_callback(self._actions.discard)
        # Event: telemetry, nothing to answer.

    def _check_query_set(self, message: ModifyQuerySet) -> None:
        if message.base_version != self._received_query_set:
            raise _Fatal(
                f"BaseVersionMismatch: ModifyQuerySet baseVersion {message.base_version} "
                f"does not match the current query set version {self._received_query_set}"
            )
        if message.new_version <= message.base_version:
            raise _Fatal(
                f"InvalidQuerySetVersion: newVersion {message.new_version} "
                f"must be greater than baseVersion {message.base_version}"
            )
        self._received_query_set = message.new_version

    def _authenticate(self, message: Authenticate) -> None:
        if message.base_version != self._received_identity:
            raise _Fatal(
                f"BaseVersionMismatch: Authenticate baseVersion {message.base_version} "
                f"does not match the current identity version {self._received_identity}"
            )
        identity: UserIdentity | None = None
        if message.token_type == "User":  # noqa: S105 - a token type, not a secret
            try:
                identity = self._deployment.verify(message.value or "")
            except Exception as exc:
                self._send(
                    AuthError(
                        error=str(exc) or type(exc).__name__,
                        base_version=message.base_version,
                        auth_update_attempted=True,
                    )
                )
                self._send(_Close())
                self._closing = True
                return
        elif message.token_type == "Admin":  # noqa: S105
            self._send(
                AuthError(
                    error="Admin tokens are not supported by the dev server",
                    base_version=message.base_version,
                    auth_update_attempted=True,
                )
            )
            self._send(_Close())
            self._closing = True
            return
        self._received_identity += 1
        self._identity = identity
        self._pending.append(_IdentityChange(identity, self._received_identity))
        self._received_changes += 1
        self._wake.set()

    # -- sync worker --

    def _on_commit(self, ts: int, writes: frozenset[str]) -> None:
        """Called by the engine right after any commit, with its lock held."""
        for query_id, sub in self._state.queries.items():
            if sub.reads & writes:
                self._state.dirty.add(query_id)
        if self._state.dirty:
            self._wake.set()

    def _apply_pending(self) -> None:
        state = self._state
        pending, self._pending = self._pending, []
        self._applying = len(pending)
        for change in pending:
            if isinstance(change, _IdentityChange):
                state.identity = change.identity
                state.identity_version = change.version
                state.dirty.update(state.queries)  # a new identity re-runs everything
                continue
            for mod in change.modifications:
                if isinstance(mod, QueryAdd):
                    if mod.query_id in state.queries:
                        raise _Fatal(f"QueryIdAlreadyUsed: query {mod.query_id} already exists")
                    state.queries[mod.query_id] = _Subscription(
                        udf_path=mod.udf_path, args=mod.args, journal=mod.journal
                    )
                    state.dirty.add(mod.query_id)
                else:
                    sub = state.queries.pop(mod.query_id, None)
                    if sub is None:
                        raise _Fatal(f"QueryNotFound: query {mod.query_id} is not in the set")
                    state.dirty.discard(mod.query_id)
                    if sub.last is not None:
                        state.removed.add(mod.query_id)
            state.query_set_version = change.new_version

    async def _sync_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self.engine.lock:
                if self._closing:
                    return
                try:
                    self._apply_pending()
                except _Fatal as exc:
                    self._fatal(str(exc))
                    return
                await self._send_transition()
                self._answered_changes += self._applying
                self._progress.set()

    async def _send_transition(self) -> None:
        state = self._state
        modifications: list[StateModification] = [
            QueryRemoved(query_id=query_id) for query_id in sorted(state.removed)
        ]
        state.removed.clear()
        dirty = sorted(state.dirty)
        state.dirty.clear()
        for query_id in dirty:
            sub = state.queries[query_id]
            outcome = await self.engine.query_locked(sub.udf_path, sub.args, state.identity)
            sub.reads = outcome.reads
            modification = _query_modification(query_id, sub, outcome)
            key = _result_key(modification)
            if key != sub.last:
                sub.last = key
                modifications.append(modification)
        end = StateVersion(
            query_set=state.query_set_version,
            identity=state.identity_version,
            ts=self.engine.ts,
        )
        unchanged = (end.query_set, end.identity) == (state.sent.query_set, state.sent.identity)
        nothing_new = not modifications and unchanged and state.sent.ts >= state.need_ts
        if nothing_new and not state.answered:
            return
        state.answered = False
        self._send(
            Transition(
                start_version=state.sent,
                end_version=end,
                modifications=tuple(modifications),
                client_clock_skew=self._clock_skew,
                server_ts=self._deployment.clock(),
            )
        )
        state.sent = end

    # -- mutations and actions --

    async def _mutation_loop(self) -> None:
        while True:
            message, identity, barrier = await self._mutations.get()
            while self._answered_changes < barrier:
                self._progress.clear()
                await self._progress.wait()
            if self._closing:  # the session is going away: start nothing new
                return
            session_id = self.session_id
            if session_id is None:  # no Connect: nothing to deduplicate by
                await self._run_mutation(message, identity, None)
                continue
            key = (session_id, message.request_id)
            memory = self._deployment.mutations
            # A re-send: answer as before. Wait for a run of the same mutation in
            # another session (the one before a reconnect) to finish first.
            while (known := memory.get(*key)) is None and key in memory.running:
                await asyncio.shield(memory.running[key])
            if known is not None:
                self._answer(known)
                continue
            memory.running[key] = asyncio.get_running_loop().create_future()
            try:
                await self._run_mutation(message, identity, session_id)
            finally:
                memory.running.pop(key).set_result(None)

    async def _run_mutation(
        self, message: Mutation, identity: UserIdentity | None, session_id: str | None
    ) -> None:
        memory = self._deployment.mutations

        def committed(outcome: Outcome) -> None:
            # The engine calls its listeners after this, before anything else
            # runs: the state file (if any) is written before the writer sends.
            response = _mutation_response(message.request_id, outcome)
            if session_id is not None:
                memory.put(session_id, response)
            self._answer(response)

        outcome = await self.engine.mutation(
            message.udf_path, message.args, identity, on_commit=committed
        )
        if not outcome.success:
            response = _mutation_response(message.request_id, outcome)
            if session_id is not None:
                memory.put(session_id, response)
                self._deployment.save_state()  # a failure is an answer too: keep it
            self._answer(response)

    def _answer(self, response: MutationResponse) -> None:
        """Send a MutationResponse; a Transition covering its ``ts`` follows.

        The official client resolves a mutation at the first Transition after
        its response whose ``ts`` covers it, so a replayed answer (whose ``ts``
        the client may already have seen) is followed by a Transition too.
        """
        self._send(response)
        if response.ts is not None:
            self._state.need_ts = max(self._state.need_ts, response.ts)
            self._state.answered = True
            self._wake.set()

    async def _run_action(self, message: Action, identity: UserIdentity | None) -> None:
        outcome = await self.engine.action(message.udf_path, message.args, identity)
        self._send(ActionResponse(request_id=message.request_id, **_answer(outcome)))

    # -- writer --

    async def _write_loop(self) -> None:
        ping = encode_server_message(Ping())
        while True:
            try:
                item = await asyncio.wait_for(
                    self._out.get(), timeout=self._deployment.ping_interval
                )
            except TimeoutError:
                await self.ws.send(ping)
                continue
            if isinstance(item, _Close):
                await _close(self.ws, item)
                return
            if isinstance(item, _Raw):
                await self.ws.send(item.frame)
                continue
            if self._deployment.dropping(self.session_id):
                continue
            text = encode_server_message(item)
            if isinstance(item, Transition):
                for part in _frames(text, self._deployment.chunk_threshold):
                    await self.ws.send(part)
            else:
                await self.ws.send(text)


async def _close(ws: ServerConnection, close: _Close) -> None:
    if close.code is None:
        # A close frame without a status code (the client sees 1005), as Convex
        # sends after AuthError/FatalError; websockets sends one for code None.
        await ws.close(None)  # type: ignore[arg-type]
    else:
        await ws.close(close.code, close.reason)


def _frames(text: str, threshold: int) -> list[str]:
    """The frames for one Transition: itself, or TransitionChunks of ≤ ``threshold`` bytes."""
    if len(text.encode("utf-8")) <= threshold:
        return [text]
    chunks = split_transition(text, threshold, transition_id=str(len(text)))
    return [encode_server_message(chunk) for chunk in chunks]


def _query_modification(query_id: int, sub: _Subscription, outcome: Outcome) -> StateModification:
    if outcome.success:
        return QueryUpdated(
            query_id=query_id,
            value=outcome.json_value,
            log_lines=outcome.log_lines,
            journal=sub.journal,
        )
    return QueryFailed(
        query_id=query_id,
        error_message=outcome.error_message,
        log_lines=outcome.log_lines,
        journal=sub.journal,
        error_data=outcome.error_data,
    )


def _result_key(modification: StateModification) -> bytes:
    """What decides whether the client must be told again: result and log lines."""
    return msgspec.json.encode(modification)


class _Answer(TypedDict):
    """What an ActionResponse and a MutationResponse both carry of an ``Outcome``."""

    success: bool
    result: JSONValue
    log_lines: tuple[str, ...]
    error_data: JSONValue | UnsetType


def _answer(outcome: Outcome) -> _Answer:
    return {
        "success": outcome.success,
        "result": outcome.result,
        "log_lines": outcome.log_lines,
        "error_data": outcome.error_data,
    }


def _mutation_response(request_id: int, outcome: Outcome) -> MutationResponse:
    return MutationResponse(request_id=request_id, ts=outcome.ts, **_answer(outcome))
