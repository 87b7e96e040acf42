"""A local server that speaks the Convex sync protocol (protocol spec §6).

``DevServer`` serves an ``App`` over WebSockets on ``/api/sync`` and
``/api/<version>/sync``, so the official clients and syncwire can be tested
against something that behaves like a deployment: versioned Transitions that
carry only changed results, MutationResponse before the Transition that covers
its commit, auth, strict version checks, Pings and TransitionChunks.

Each connection is a ``_Session`` with four tasks: the reader (validates and
dispatches client frames), the sync worker (re-runs invalidated queries and
sends Transitions), the mutation worker (one mutation at a time) and the
writer (the only task that sends, so frames keep their order and an idle
period can be measured).

Mutations are idempotent per ``(sessionId, requestId)``, as on a real
deployment: a client that reconnects with the same ``sessionId`` and re-sends
an unfinished Mutation gets the original MutationResponse (same result and
``ts``) and a Transition covering it; the mutation does not run again. The
server remembers the last ``MUTATION_MEMORY_PER_SESSION`` answers of the last
``MUTATION_MEMORY_SESSIONS`` sessionIds. With ``state_file`` the data, these
answers and the last commit timestamp survive the process too (see
``syncwire.devserver.state``).

``server.faults`` injects failures (closes, silence, refusals, delays, dropped
and malformed frames) and ``await server.restart()`` kills and restarts it;
see ``syncwire.devserver.faults``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import ssl as ssl_module
import time
from collections import OrderedDict
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self, TypeAlias

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from syncwire.client.client import sync_url
from syncwire.devserver.app import App, Database, Engine, Outcome, UserIdentity
from syncwire.devserver.auth import TokenVerifier, identity_from_claims, verify_hs256
from syncwire.devserver.faults import ABORT, NO_STATUS, Faults, connection_factory
from syncwire.devserver.state import DurableState, load_state, save_state
from syncwire.errors import ProtocolError
from syncwire.protocol import (
    Action,
    ActionResponse,
    Authenticate,
    AuthError,
    ConvexValue,
    FatalError,
    ModifyQuerySet,
    Mutation,
    MutationResponse,
    Ping,
    QueryAdd,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    ServerMessage,
    StateModification,
    StateVersion,
    Transition,
    TransitionChunk,
    encode_server_message,
    parse_client_message,
)
from syncwire.protocol.messages import Connect
from syncwire.transport.websockets import redacting_logger

__all__ = [
    "DEFAULT_CHUNK_THRESHOLD",
    "DEFAULT_PING_INTERVAL",
    "MUTATION_MEMORY_PER_SESSION",
    "MUTATION_MEMORY_SESSIONS",
    "DevServer",
]

DEFAULT_PING_INTERVAL: Final = 15.0
"""Seconds without outgoing messages before an application Ping (as Convex)."""
DEFAULT_CHUNK_THRESHOLD: Final = 5_000_000
"""Bytes above which a Transition is sent as TransitionChunks (as Convex)."""
MUTATION_MEMORY_PER_SESSION: Final = 1024
"""Mutation answers remembered per sessionId, for re-sends after a reconnect."""
MUTATION_MEMORY_SESSIONS: Final = 1024
"""SessionIds whose mutation answers are remembered (least recently used dropped)."""
_SYNC_PATH: Final = re.compile(r"/api(?:/[^/?]+)?/sync")

logger = logging.getLogger("syncwire.devserver")


class DevServer:
    """Serve ``app`` like a Convex deployment, on ``host:port`` (0 picks a free port).

    ``auth_secret`` enables HS256 user tokens; ``auth_verifier`` (token →
    claims, raising to reject) replaces it. Keep ``database`` to keep the data
    across restarts. Use ``async with DevServer(app) as server:`` or
    ``start()``/``stop()``; give clients ``server.url``. ``faults`` injects
    failures; ``restart()`` kills and restarts the server, keeping its data.
    ``ssl`` serves over TLS (``https``/``wss`` URLs), for testing certificates.
    ``state_file`` keeps the data and the mutation answers in a file, loaded
    at start and rewritten after every commit, so that they survive even a
    killed process (as a deployment's do); it excludes ``database``.
    """

    def __init__(
        self,
        app: App,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth_secret: str | bytes | None = None,
        auth_verifier: TokenVerifier | None = None,
        database: Database | None = None,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD,
        ws_ping_interval: float | None = 5.0,
        max_message_size: int | None = 2**26,
        ssl: ssl_module.SSLContext | None = None,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if chunk_threshold < 4:
            raise ValueError("chunk_threshold must hold at least one UTF-8 character (4 bytes)")
        if state_file is not None and database is not None:
            raise ValueError("give database or state_file, not both: the file holds the data")
        saved = None if state_file is None else load_state(state_file)
        if saved is not None:
            database = saved.database
        if auth_verifier is None and auth_secret is not None:
            secret = auth_secret

            def auth_verifier(token: str) -> Mapping[str, Any]:
                return verify_hs256(token, secret)

        self.app = app
        self.engine = Engine(app, database)
        self.host = host
        self._port = port
        self._verifier = auth_verifier
        self.ping_interval = ping_interval
        self.chunk_threshold = chunk_threshold
        self._ws_ping_interval = ws_ping_interval
        self._ssl = ssl
        self._max_message_size = max_message_size
        self._server: Server | None = None
        self._sessions: dict[_Session, None] = {}  # in connection order
        self._sessions_changed = asyncio.Event()  # set, then replaced, on every change
        self._memory = _MutationMemory()
        self._state_file = state_file
        if saved is not None:
            self.engine.ts = max(self.engine.ts, saved.ts)  # never back in time
            self._memory._done = saved.answers
        self._state_unsaved = False  # the last save failed (logged once, until one succeeds)
        if state_file is not None:
            # Written at once: a path that cannot be written fails here, at start,
            # not at the first commit.
            self._write_state(state_file)
            # Called with the engine lock held, right after each commit: after the
            # session has remembered its answer and before its writer can send it.
            self.engine.add_listener(lambda _ts, _writes: self._save_state())
        self.faults = Faults(self)
        """Inject failures into the running server (see ``Faults``)."""

    @property
    def database(self) -> Database:
        """The data every session sees."""
        return self.engine.db

    @property
    def port(self) -> int:
        """The port listened on (known after ``start()``)."""
        return self._port

    @property
    def url(self) -> str:
        """The deployment URL clients are given (``http://127.0.0.1:PORT``)."""
        return f"{'https' if self._ssl else 'http'}://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint (``ws://127.0.0.1:PORT/api/sync``)."""
        return sync_url(self.url)

    @property
    def session_count(self) -> int:
        """Open sessions right now."""
        return len(self._sessions)

    async def wait_for_sessions(self, count: int) -> None:
        """Wait until exactly ``count`` sessions are open (bound it with ``asyncio.timeout``)."""
        while len(self._sessions) != count:
            await self._sessions_changed.wait()

    def _sessions_have_changed(self) -> None:
        self._sessions_changed.set()
        self._sessions_changed = asyncio.Event()

    async def start(self) -> None:
        """Listen; returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("the server is already running")
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            process_request=self._check_request,
            create_connection=connection_factory(self.faults),  # type: ignore[arg-type]
            ping_interval=self._ws_ping_interval,
            max_size=self._max_message_size,
            ssl=self._ssl,
            # Frames carry tokens (Authenticate): websockets' frame log must not show them.
            logger=redacting_logger(logging.getLogger("syncwire.devserver.websockets")),
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every session (1001 going away) and stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        self.faults.lift()  # held frames go out first, close frames included
        server.close()
        await server.wait_closed()
        self.faults._cancel_timers()

    async def kill(self) -> None:
        """Stop as a killed process would: stop listening and drop every TCP
        connection (no close frame; clients see 1006). The data is kept."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        # ``server.connections`` holds open connections only: sessions already
        # closing would otherwise finish their close handshake first.
        for connection in {*server.connections, *(s.ws for s in self._sessions)}:
            connection.transport.abort()
        await server.wait_closed()

    async def restart(self, *, downtime: float = 0.0) -> None:
        """``kill()``, wait ``downtime`` seconds, then listen again on the same
        port with the same ``Engine`` and data (and mutation answers). Faults
        in force stay in force."""
        await self.kill()
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _handle(self, ws: ServerConnection) -> None:
        session = _Session(self, ws)
        self._sessions[session] = None
        try:
            self._sessions_have_changed()
            await session.run()
        finally:
            self._sessions.pop(session, None)
            self._sessions_have_changed()

    def _open_sessions(self) -> list[_Session]:
        return list(self._sessions)

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if _SYNC_PATH.fullmatch(path) is None:
            return connection.respond(404, "Not Found\n")
        status = self.faults._refusal()
        if status is not None:
            return connection.respond(status, "Service Unavailable (injected fault)\n")
        return None

    def _save_state(self) -> None:
        """Write the durable state, if kept (``state_file``); before any answer goes out.

        A failed write keeps serving from memory (what is committed stays
        committed) and is logged as an error once, until a write succeeds.
        """
        if self._state_file is None:
            return
        try:
            self._write_state(self._state_file)
        except OSError as exc:
            if not self._state_unsaved:
                logger.error(
                    "cannot save the state to %s (%s): commits from now on are lost "
                    "if the server stops before a save succeeds",
                    os.fspath(self._state_file),
                    exc.strerror or type(exc).__name__,
                )
            self._state_unsaved = True
        else:
            if self._state_unsaved:
                logger.warning("the state is saved to %s again", os.fspath(self._state_file))
            self._state_unsaved = False

    def _write_state(self, path: str | os.PathLike[str]) -> None:
        save_state(path, DurableState(self.engine.db, self._memory._done, self.engine.ts))

    def _verify(self, token: str) -> UserIdentity:
        if self._verifier is None:
            raise ValueError("No auth provider configured on this dev server")
        return identity_from_claims(self._verifier(token))


class _MutationMemory:
    """Mutation answers by (sessionId, requestId), bounded, and the ones running."""

    def __init__(self) -> None:
        self._done: OrderedDict[str, OrderedDict[int, MutationResponse]] = OrderedDict()
        self.running: dict[tuple[str, int], asyncio.Future[None]] = {}

    def get(self, session_id: str, request_id: int) -> MutationResponse | None:
        answers = self._done.get(session_id)
        if answers is None:
            return None
        self._done.move_to_end(session_id)
        return answers.get(request_id)

    def put(self, session_id: str, response: MutationResponse) -> None:
        answers = self._done.get(session_id)
        if answers is None:
            answers = self._done[session_id] = OrderedDict()
            while len(self._done) > MUTATION_MEMORY_SESSIONS:
                self._done.popitem(last=False)
        self._done.move_to_end(session_id)
        answers[response.request_id] = response
        while len(answers) > MUTATION_MEMORY_PER_SESSION:
            answers.popitem(last=False)


# --- one session per connection ------------------------------------------------


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


class _Session:
    def __init__(self, server: DevServer, ws: ServerConnection) -> None:
        self.server = server
        self.engine = server.engine
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
        """Fault: close after the queued frames (``ABORT``: drop the TCP connection now)."""
        if code == ABORT:  # the reader sees the connection end, and the session with it
            self.ws.transport.abort()
            return
        self._send(_Close(None if code == NO_STATUS else code, reason))
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
            skew = message.client_ts - time.time_ns() // 1_000_000
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
                identity = self.server._verify(message.value or "")
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
                server_ts=time.time_ns(),
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
            memory = self.server._memory
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
        memory = self.server._memory

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
                self.server._save_state()  # a failure is an answer too: keep it
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
        self._send(
            ActionResponse(
                request_id=message.request_id,
                success=outcome.success,
                result=outcome.json_value if outcome.success else outcome.error_message,
                log_lines=outcome.log_lines,
                error_data=outcome.error_data,
            )
        )

    # -- writer --

    async def _write_loop(self) -> None:
        ping = encode_server_message(Ping())
        while True:
            try:
                item = await asyncio.wait_for(self._out.get(), timeout=self.server.ping_interval)
            except TimeoutError:
                await self.ws.send(ping)
                continue
            if isinstance(item, _Close):
                await _close(self.ws, item)
                return
            if isinstance(item, _Raw):
                await self.ws.send(item.frame)
                continue
            if self.server.faults._dropping(self.session_id):
                continue
            text = encode_server_message(item)
            if isinstance(item, Transition):
                for part in _chunks(text, self.server.chunk_threshold):
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


def _chunks(text: str, threshold: int) -> list[str]:
    """The frames for one Transition: itself, or TransitionChunks of ≤ ``threshold`` bytes."""
    data = text.encode("utf-8")
    if len(data) <= threshold:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + threshold, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # not mid-character
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    transition_id = str(len(text))
    return [
        encode_server_message(
            TransitionChunk(
                chunk=piece,
                part_number=number,
                total_parts=len(pieces),
                transition_id=transition_id,
            )
        )
        for number, piece in enumerate(pieces)
    ]


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


def _mutation_response(request_id: int, outcome: Outcome) -> MutationResponse:
    if outcome.success:
        return MutationResponse(
            request_id=request_id,
            success=True,
            result=outcome.json_value,
            ts=outcome.ts,
            log_lines=outcome.log_lines,
        )
    return MutationResponse(
        request_id=request_id,
        success=False,
        result=outcome.error_message,
        ts=None,
        log_lines=outcome.log_lines,
        error_data=outcome.error_data,
    )
