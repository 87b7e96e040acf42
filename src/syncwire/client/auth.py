"""Auth tokens: fetch, confirm, refresh, give up (convex-js ``authentication_manager.ts``).

A token fetcher is called with ``force_refresh``: ``False`` may return a
cached token, ``True`` must return a fresh one. While a token is fetched the
socket is paused, so queries and requests made meanwhile go out after the
``Authenticate``. The server confirms a token with an identity-advancing
Transition, or rejects it with ``AuthError``. A rejected token is replaced by
a fresh one (the socket is stopped and restarted meanwhile); fresh tokens are
retried ``MAX_TOKEN_CONFIRMATION_ATTEMPTS`` times, as upstream does, and then
the client gives up: it logs ``Failed to authenticate: "<error>", check your
server auth config`` and reports ``False`` to ``on_change``.

Giving up never drops the identity silently (upstream clears auth and goes
on signed out): the host is told ``auth_failed`` and fails every call with
``AuthenticationError`` until the user sets or clears auth. The same goes for
a fetcher that raises. Only a fetcher that returns ``None`` (the user signed
out) clears auth and lets calls run without an identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

from syncwire.protocol import AuthError
from syncwire.protocol import Transition
from syncwire.redaction import redact_secret
from syncwire.tokens import decode_segment

__all__ = ["AuthHost", "AuthManager", "TokenFetcher"]

TokenFetcher = Callable[[bool], "Awaitable[str | None] | str | None"]
"""``fetcher(force_refresh)`` → a JWT, or ``None`` when the user is signed out."""

MAX_TOKEN_CONFIRMATION_ATTEMPTS = 2
"""Fresh tokens the server may reject in a row before the client gives up."""
REFRESH_LEEWAY = 10.0
"""Seconds before a token expires to fetch the next one (upstream's default)."""
_MAX_REFRESH_DELAY = (2**31 - 1) / 1000
"""The longest delay upstream schedules (a JS timer's limit), in seconds."""
_MIN_VALIDITY = 2.0


@dataclass(frozen=True, slots=True)
class AuthHost:
    """What the auth manager needs from the client, as the client's own functions."""

    pause_socket: Callable[[], None]
    """Hold back sends (and the next open) while a token is fetched."""
    resume_socket: Callable[[], None]
    """Undo ``pause_socket``: what was held back goes out, after the new token."""
    stop_socket: Callable[[], Awaitable[None]]
    """Close the socket (a rejected token is replaced before reconnecting)."""
    restart_socket: Callable[[], None]
    """Connect again after ``stop_socket``, unless the client gave up on auth."""
    authenticate: Callable[[str], None]
    """Send this token to the server."""
    clear_auth: Callable[[], None]
    """Go on without an identity (the fetcher says the user signed out)."""
    auth_failed: Callable[[str], None]
    """The server rejected the identity for good: fail every call, saying why."""
    identity_version: Callable[[], int]
    """``Authenticate`` messages sent on this socket (the server's ``identity``)."""
    current_token: Callable[[], str | None]
    """The token (or admin key) the client authenticates with now; ``None`` signed out."""


class _FetchFailed(Exception):
    """The fetcher raised, or returned something other than a str or ``None``."""


class _State(enum.Enum):
    NO_AUTH = "no auth"
    FETCHING = "fetching the first token"
    WAITING_CACHED = "waiting for the server to confirm a cached token"
    WAITING_FRESH = "waiting for the server to confirm a fresh token"
    CONFIRMED = "confirmed; a refresh is scheduled"


class AuthManager:
    """The token's life cycle; every change of configuration starts a new generation."""

    def __init__(
        self,
        host: AuthHost,
        logger: logging.Logger,
        *,
        refresh_leeway: float = REFRESH_LEEWAY,
    ) -> None:
        self._host = host
        self._log = logger
        self._leeway = refresh_leeway
        self._state = _State.NO_AUTH
        self._fetcher: TokenFetcher | None = None
        self._static = False
        self._on_change: Callable[[bool], None] | None = None
        self._reported: bool | None = None
        self._generation = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresh: asyncio.TimerHandle | None = None
        self._pauses = 0
        self._confirmation_attempts = 0

    @property
    def is_authenticated(self) -> bool | None:
        """``True`` once the server confirmed, ``False`` after giving up, else ``None``."""
        return self._reported

    def configure(
        self, fetcher: TokenFetcher, on_change: Callable[[bool], None] | None, *, static: bool
    ) -> None:
        """Start using ``fetcher`` (a static token is a fetcher that never changes)."""
        self._reset()
        self._fetcher, self._static, self._on_change = fetcher, static, on_change
        if static:
            # No fetch to wait for: authenticate now, in call order.
            token = fetcher(False)
            assert isinstance(token, str)  # noqa: S101 - our own constant fetcher
            self._state = _State.WAITING_CACHED
            self._host.authenticate(token)
            return
        self._state = _State.FETCHING
        # Paused now, not when the task starts: a call made right after
        # set_auth must go out after the Authenticate.
        self._hold()
        self._spawn(self._first_fetch(self._generation))

    def clear(self) -> None:
        """Forget the configuration (``clear_auth``, ``set_admin_auth``)."""
        self._reset()
        self._fetcher = self._on_change = None
        self._state = _State.NO_AUTH

    async def close(self) -> None:
        """Cancel every fetch and the refresh timer; returns once they are gone."""
        self.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- what the server says -----------------------------------------------------------

    def on_transition(self, transition: Transition) -> None:
        """An identity-advancing Transition confirms the token we sent last."""
        end, start = transition.end_version.identity, transition.start_version.identity
        if end < self._host.identity_version() or end <= start:
            return  # before our latest Authenticate, or no identity change
        if self._state is _State.WAITING_CACHED:
            self._log.debug("the server confirmed the cached auth token")
            self._report(True)
            if self._static:
                self._state = _State.CONFIRMED
            else:
                # A cached token may be close to expiry: get a fresh one now.
                self._spawn(self._refetch(self._generation))
        elif self._state is _State.WAITING_FRESH:
            self._log.debug("the server confirmed the fresh auth token")
            self._state = _State.CONFIRMED
            self._confirmation_attempts = 0
            self._report(True)
            token = self._host.current_token()
            if token is not None:
                self._schedule_refresh(token)

    def on_auth_error(self, error: AuthError) -> None:
        if self._state is _State.FETCHING:
            # The first token of this configuration has not been sent: the error is
            # about an earlier one, and the socket restarts with the fetched token.
            self._log.debug("ignoring an auth error while the first token is fetched")
            return
        waiting = self._state in (_State.WAITING_CACHED, _State.WAITING_FRESH)
        if error.auth_update_attempted is False and waiting:
            # The server rejected the token before our update: it is about the old one.
            # Only an explicit false: a backend older than the field omits it
            # (None), and the official client then goes on as for true.
            self._log.debug("ignoring an auth error from before the auth update")
            return
        if (
            error.base_version is not None
            and error.base_version + 1 < self._host.identity_version()
        ):
            self._log.debug("ignoring an auth error for a previous auth attempt")
            return
        retry = self._state in (_State.WAITING_CACHED, _State.CONFIRMED) or (
            self._state is _State.WAITING_FRESH
            and self._confirmation_attempts < MAX_TOKEN_CONFIRMATION_ATTEMPTS
        )
        if self._static or not retry:
            self._reject(error.error)
            return
        if self._state is _State.WAITING_FRESH:
            self._confirmation_attempts += 1
        self._spawn(self._reauthenticate(self._generation))

    # -- internals ----------------------------------------------------------------------

    async def _first_fetch(self, generation: int) -> None:
        """Runs holding the pause ``configure`` took."""
        try:
            with self._failing(generation):
                token = await self._fetch(force_refresh=False)
                if generation != self._generation:
                    return
                if token:
                    self._state = _State.WAITING_CACHED
                    self._host.authenticate(token)
                else:
                    await self._fetch_fresh(generation, after_rejection=False)
        finally:
            self._release()

    async def _refetch(self, generation: int) -> None:
        """Fetch a fresh token and send it (the scheduled refresh, and after a cached token).

        A fetcher that raises here leaves the current token in use: the server
        accepted it, and when it rejects it later the fetcher is asked again.
        """
        with self._paused(), contextlib.suppress(_FetchFailed):
            await self._fetch_fresh(generation, after_rejection=False)

    async def _reauthenticate(self, generation: int) -> None:
        """The server rejected a cached or expired token: reconnect with a fresh one.

        The host does not restart the socket once auth has failed.
        """
        await self._host.stop_socket()
        try:
            with self._failing(generation):
                if generation == self._generation:
                    await self._fetch_fresh(generation, after_rejection=True)
        finally:
            self._host.restart_socket()

    async def _fetch_fresh(self, generation: int, *, after_rejection: bool) -> None:
        """Fetch a fresh token and use it, unless the configuration changed meanwhile."""
        token = await self._fetch(force_refresh=True)
        if generation == self._generation:
            self._use_fresh(token, after_rejection=after_rejection)

    @contextlib.contextmanager
    def _failing(self, generation: int) -> Iterator[None]:
        """A fetcher that raises ends this configuration's auth (if it is still current)."""
        try:
            yield
        except _FetchFailed as exc:
            if generation == self._generation:
                self._fail(str(exc))

    def _use_fresh(self, token: str | None, *, after_rejection: bool) -> None:
        current = self._host.current_token()
        if not token:
            # The fetcher's way of saying the user signed out (as upstream reads it).
            self._log.warning("could not fetch a new auth token")
            self._give_up()
        elif after_rejection and token == current:
            self._fail("the auth token fetcher returned the token the server had rejected")
        elif token != current:
            self._state = _State.WAITING_FRESH
            self._host.authenticate(token)
        else:
            # The fetcher's "fresh" token is the confirmed one: refresh it when due.
            self._state = _State.CONFIRMED
            self._schedule_refresh(token)

    @contextlib.contextmanager
    def _paused(self) -> Iterator[None]:
        """Hold the socket while a token is fetched."""
        self._hold()
        try:
            yield
        finally:
            self._release()

    def _hold(self) -> None:
        """Pause the socket; overlapping fetches share one pause."""
        if self._pauses == 0:
            self._host.pause_socket()
        self._pauses += 1

    def _release(self) -> None:
        self._pauses -= 1
        if self._pauses == 0:
            self._host.resume_socket()

    async def _fetch(self, *, force_refresh: bool) -> str | None:
        fetcher = self._fetcher
        if fetcher is None:
            return None
        try:
            token: object = fetcher(force_refresh)
            if inspect.isawaitable(token):
                token = await token
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.exception("the auth token fetcher raised")
            raise _FetchFailed(f"the auth token fetcher raised {type(exc).__name__}") from None
        if token is None or isinstance(token, str):
            return token
        what = type(token).__name__
        self._log.error("the auth token fetcher returned %s, not a str", what)
        raise _FetchFailed(f"the auth token fetcher returned {what}, not a str")

    def _reject(self, error: str) -> None:
        """The server rejected the identity the user gave, and nothing replaces it."""
        token = self._host.current_token()
        if token:
            error = redact_secret(error, token)  # the server's text, quoted back
        self._log.error('Failed to authenticate: "%s", check your server auth config', error)
        if token is None:
            return  # no identity to keep: nothing runs under the wrong one
        self._fail(f'the server rejected the auth token ("{error}")')

    def _fail(self, why: str) -> None:
        """Stop here, keeping the rejected identity: the host fails every call until the
        user calls ``set_auth`` or ``clear_auth``."""
        self._generation += 1  # fetches and timers of this configuration are void
        self._cancel_refresh()
        self._state = _State.NO_AUTH
        self._confirmation_attempts = 0
        self._host.auth_failed(why)
        self._report(False)  # after: an on_change that calls set_auth ends the failure

    def _give_up(self) -> None:
        """The fetcher has no token: the user signed out, calls run without an identity."""
        self._cancel_refresh()
        if self._host.current_token() is not None:
            self._host.clear_auth()
        self._state = _State.NO_AUTH
        self._confirmation_attempts = 0
        self._report(False)

    def _report(self, authenticated: bool) -> None:
        if self._reported == authenticated:
            return
        self._reported = authenticated
        if self._on_change is not None:
            try:
                self._on_change(authenticated)
            except Exception:
                self._log.exception("the auth on_change callback raised")

    def _schedule_refresh(self, token: str) -> None:
        validity = _validity(token)
        if validity is None:
            self._log.debug("the auth token has no iat/exp: it will not be refreshed")
            return
        if validity <= _MIN_VALIDITY:
            self._log.error(
                "the auth token is valid for %.0f s only: it will not be refreshed", validity
            )
            return
        delay = min(_MAX_REFRESH_DELAY, validity - self._leeway)
        generation = self._generation
        loop = asyncio.get_running_loop()
        self._refresh = loop.call_later(
            max(delay, 0.0), lambda: self._spawn(self._refetch(generation))
        )

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log.error("auth task failed", exc_info=exc)

    def _reset(self) -> None:
        """A new configuration: fetches in progress for the old one are ignored."""
        self._generation += 1
        self._reported = None
        self._confirmation_attempts = 0
        self._cancel_refresh()

    def _cancel_refresh(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None


def _validity(token: str) -> float | None:
    """``exp - iat`` of a JWT, read without verifying it (as upstream does)."""
    try:
        claims = decode_segment(token.split(".")[1])
        iat, exp = claims["iat"], claims["exp"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
        return None
    return float(exp) - float(iat)
