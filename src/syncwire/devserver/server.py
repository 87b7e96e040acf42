"""A local server that speaks the Convex sync protocol (docs/protocol.md#server-behaviour).

``DevServer`` serves an ``App`` over WebSockets on ``/api/sync`` and
``/api/<version>/sync``, and the HTTP API (``/api/query``, ``/api/mutation``,
…; docs/protocol.md#http-api) on the same port (``front.py``), so the
official clients and syncwire can be tested against something that behaves
like a deployment: versioned Transitions that carry only changed results,
MutationResponse before the Transition that covers its commit, auth, strict
version checks, Pings and TransitionChunks.

Why apart from ``session.py``: the server accepts connections (one
``Session`` each) and keeps what outlives them: the ``Engine`` and its data,
the mutation answers that make a re-sent mutation idempotent (a
``MutationMemory``, bounded) and, with ``state_file``, the file that keeps
them across processes (see ``syncwire.devserver.state``).

``server.faults`` injects failures (closes, silence, refusals, delays, dropped
and malformed frames) and ``await server.restart()`` kills and restarts it;
see ``syncwire.devserver.faults``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl as ssl_module
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Final

from websockets.asyncio.server import Server
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve
from websockets.http11 import Request
from websockets.http11 import Response

from syncwire._listening import Listener
from syncwire.devserver.app import App
from syncwire.devserver.auth import TokenVerifier
from syncwire.devserver.auth import identity_from_claims
from syncwire.devserver.auth import verify_hs256
from syncwire.devserver.context import UserIdentity
from syncwire.devserver.database import Database
from syncwire.devserver.engine import Engine
from syncwire.devserver.faults import Faults
from syncwire.devserver.front import HttpFront
from syncwire.devserver.front import HttpLimits
from syncwire.devserver.front import front_door_factory
from syncwire.devserver.http_api import HTTP_API_PATHS
from syncwire.devserver.http_api import HttpApi
from syncwire.devserver.session import Deployment
from syncwire.devserver.session import MutationMemory
from syncwire.devserver.session import Session
from syncwire.devserver.state import DurableState
from syncwire.devserver.state import load_state
from syncwire.devserver.state import save_state
from syncwire.redaction import redacting_logger
from syncwire.urls import is_sync_path
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE

__all__ = ["DEFAULT_CHUNK_THRESHOLD", "DEFAULT_PING_INTERVAL", "DevServer"]

DEFAULT_PING_INTERVAL: Final = 15.0
"""Seconds without outgoing messages before an application Ping (as Convex)."""
DEFAULT_CHUNK_THRESHOLD: Final = 5_000_000
"""Bytes above which a Transition is sent as TransitionChunks (as Convex)."""

logger = logging.getLogger("syncwire.devserver")


class DevServer(Listener[Server]):
    """Serve ``app`` like a Convex deployment, on ``host:port`` (0 picks a free port).

    ``auth_secret`` enables HS256 user tokens; ``auth_verifier`` (token →
    claims, raising to reject) replaces it. Keep ``database`` to keep the data
    across restarts. Use ``async with DevServer(app) as server:`` or
    ``start()``/``stop()`` (which closes every session with 1001, going away);
    give clients ``server.url``. ``faults`` injects failures; ``restart()``
    kills and restarts the server, keeping its data.
    ``ssl`` serves over TLS (``https``/``wss`` URLs), for testing certificates.
    ``state_file`` keeps the data and the mutation answers in a file, loaded
    at start and rewritten after every commit, so that they survive even a
    killed process (as a deployment's do); it excludes ``database``.
    ``clock`` (nanoseconds since the epoch) is the server's only wall clock:
    commit timestamps, ``_creationTime``, ``serverTs``, the client's clock skew
    and token expiry (with ``auth_secret``) all read it.
    ``http_limits`` bounds the HTTP API's requests (sizes and waits).
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
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        ssl: ssl_module.SSLContext | None = None,
        state_file: str | os.PathLike[str] | None = None,
        clock: Callable[[], int] = time.time_ns,
        http_limits: HttpLimits | None = None,
    ) -> None:
        if chunk_threshold < 4:
            raise ValueError("chunk_threshold must hold at least one UTF-8 character (4 bytes)")
        if state_file is not None and database is not None:
            raise ValueError("give database or state_file, not both: the file holds the data")
        super().__init__(host, port, scheme="https" if ssl else "http")
        saved = None if state_file is None else load_state(state_file)
        if saved is not None:
            database = saved.database
        if auth_verifier is None and auth_secret is not None:
            secret = auth_secret

            def auth_verifier(token: str) -> Mapping[str, Any]:
                return verify_hs256(token, secret, now=clock() / 1e9)

        self.app = app
        self.engine = Engine(app, database, clock=clock)
        self._verifier = auth_verifier
        self._ws_ping_interval = ws_ping_interval
        self._ssl = ssl
        self._max_message_size = max_message_size
        self._sessions: dict[Session, None] = {}  # in connection order
        self._sessions_changed = asyncio.Event()  # set, then replaced, on every change
        memory = MutationMemory(None if saved is None else saved.answers)
        self._state_file = state_file
        if saved is not None:
            self.engine.advance_to(saved.ts)  # never back in time
        self._state_unsaved = False  # the last save failed (logged once, until one succeeds)
        self.faults = Faults(lambda: self.sessions)
        """Inject failures into the running server (see ``Faults``)."""
        self._http = HttpFront(
            HttpApi(self.engine, self._verify), self.faults, http_limits or HttpLimits()
        )
        self._deployment = Deployment(
            engine=self.engine,
            mutations=memory,
            verify=self._verify,
            save_state=self._save_state,
            dropping=self.faults.dropping,
            clock=clock,
            ping_interval=ping_interval,
            chunk_threshold=chunk_threshold,
        )
        if state_file is not None:
            # Written at once: a path that cannot be written fails here, at start,
            # not at the first commit.
            self._write_state(state_file)
            # Called with the engine lock held, right after each commit: after the
            # session has remembered its answer and before its writer can send it.
            self.engine.add_listener(lambda _ts, _writes: self._save_state())

    @property
    def database(self) -> Database:
        """The data every session sees."""
        return self.engine.db

    @property
    def ping_interval(self) -> float:
        """Seconds without outgoing messages before an application Ping."""
        return self._deployment.ping_interval

    @property
    def chunk_threshold(self) -> int:
        """Bytes above which a Transition is sent as TransitionChunks."""
        return self._deployment.chunk_threshold

    @property
    def sessions(self) -> tuple[Session, ...]:
        """The open sessions, oldest first."""
        return tuple(self._sessions)

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

    @property
    def http_connection_count(self) -> int:
        """Open HTTP API connections right now."""
        return len(self._http.connections)

    async def _listen(self) -> Server:
        self._http.start()
        return await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._check_request,
            # Every connection starts at a front door: upgrades go on to
            # websockets, HTTP API requests to the HTTP side (front.py).
            create_connection=front_door_factory(self.faults, self._http),  # type: ignore[arg-type]
            ping_interval=self._ws_ping_interval,
            max_size=self._max_message_size,
            ssl=self._ssl,
            # Frames carry tokens (Authenticate): websockets' frame log must not show them.
            logger=redacting_logger(logging.getLogger("syncwire.devserver.websockets")),
        )

    async def _shut(self, listening: Server) -> None:
        self.faults.lift()  # held frames go out first, close frames included
        listening.close()
        await asyncio.gather(listening.wait_closed(), self._http.stop())
        self.faults.cancel_timers()

    async def kill(self) -> None:
        """Stop as a killed process would: stop listening and drop every TCP
        connection (no close frame; clients see 1006). The data is kept."""
        server = self._detach()
        if server is None:
            return
        server.close(close_connections=False)
        # ``server.connections`` holds open connections only: sessions already
        # closing would otherwise finish their close handshake first.
        for connection in {*server.connections, *(s.ws for s in self._sessions)}:
            connection.transport.abort()
        await asyncio.gather(server.wait_closed(), self._http.kill())

    async def restart(self, *, downtime: float = 0.0) -> None:
        """``kill()``, wait ``downtime`` seconds, then listen again on the same
        port with the same ``Engine`` and data (and mutation answers). Faults
        in force stay in force."""
        await self.kill()
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    async def _handle(self, ws: ServerConnection) -> None:
        session = Session(ws, self._deployment)
        self._sessions[session] = None
        try:
            self._sessions_have_changed()
            await session.run()
        finally:
            self._sessions.pop(session, None)
            self._sessions_have_changed()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.partition("?")[0] in HTTP_API_PATHS:
            return connection.respond(405, "Method Not Allowed: the HTTP API takes POST\n")
        if not is_sync_path(request.path):
            return connection.respond(404, "Not Found\n")
        status = self.faults.take_refusal()
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
        answers = self._deployment.mutations.answers
        save_state(path, DurableState(self.engine.db, answers, self.engine.ts))

    def _verify(self, token: str) -> UserIdentity:
        if self._verifier is None:
            raise ValueError("No auth provider configured on this dev server")
        return identity_from_claims(self._verifier(token))
