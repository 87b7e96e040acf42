"""``WebSocketManager``: a WebSocket that stays alive (seed: ``WebSocketManager``).

The asyncio driver of the Sans-I/O core in ``syncwire._core``: it feeds the
core socket events and loop time, performs the actions the core returns, and
keeps one timer armed at the core's next deadline. One reader task per socket
attempt receives frames; at most one attempt is live at a time, and an old
socket is closed in the background, never awaited on the reconnect path.

Time is read only from the event loop (``loop.time()``), so the manager runs
unchanged on virtual-time loops in tests; randomness is injectable. "The seed"
is the TypeScript manager this one mirrors (docs/manager.md#seed).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from syncwire._core.machine import CallOnOpen
from syncwire._core.machine import CallOnResume
from syncwire._core.machine import CloseSocket
from syncwire._core.machine import ConnectionState
from syncwire._core.machine import CoreConfig
from syncwire._core.machine import ManagerCore
from syncwire._core.machine import OpenSocket
from syncwire._core.machine import ReportServerDisconnectError
from syncwire._core.machine import SendFrame
from syncwire._core.machine import StateChanged
from syncwire._core.states import Connecting
from syncwire._core.states import ReconnectMetadata
from syncwire._version import __version__
from syncwire.backoff import BackoffPolicy
from syncwire.errors import ConnectError
from syncwire.errors import ConnectionClosedError
from syncwire.errors import InvalidFrameError
from syncwire.errors import MessageTooLargeError
from syncwire.errors import ProtocolError
from syncwire.errors import SendError
from syncwire.errors import TransportError
from syncwire.errors import UnexpectedBinaryFrameError
from syncwire.lifetime import AsyncResource
from syncwire.protocol import ClientMessage
from syncwire.protocol import ServerMessage
from syncwire.redaction import redact_url
from syncwire.transport import Transport
from syncwire.transport import TransportConnection
from syncwire.transport import default_transport
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "ConnectionState",
    "OnMessageResponse",
    "ReconnectMetadata",
    "WebSocketManager",
]


@dataclass(frozen=True, slots=True)
class OnMessageResponse:
    """What ``on_message`` tells the manager about the session."""

    has_synced_past_last_reconnect: bool
    """Everything re-sent at the last reconnect is answered: reset the backoff."""


class WebSocketManager(AsyncResource):
    """Keeps one WebSocket to a Convex deployment open through every fault.

    Create it inside a running event loop: it starts connecting at once, as
    the seed does. Use it as ``async with`` (or call ``terminate()``) so that
    no task, timer or socket outlives it.

    Callbacks run on the event loop and must not block; an exception they
    raise is logged with its traceback and does not disturb the manager,
    except that ``on_message`` raising ``ProtocolError`` (the session is out
    of step with the server) makes the manager reconnect.

    ``max_message_size`` configures the default transport (and caps chunked
    Transitions); a ``transport`` you pass keeps its own message limit.

    A socket that cannot be opened is retried forever, but never silently: the
    first failed attempt, and each change of its cause, is logged at WARNING
    with the cause in words (``last_error``), and so is the first success after
    failures. A handshake that is not answered is bounded by
    ``inactivity_threshold``, as upstream bounds it.
    """

    # Slots keep an idle manager small (docs/benchmarks.md: memory per manager).
    __slots__ = (
        "_connection",
        "_connection_attempt",
        "_core",
        "_draining",
        "_failed_attempts",
        "_handshake_bound",
        "_last_error",
        "_log",
        "_loop",
        "_on_message",
        "_on_open",
        "_on_resume",
        "_on_server_disconnect_error",
        "_on_state_change",
        "_reader",
        "_reader_attempt",
        "_tasks",
        "_timer",
        "_timer_at",
        "_transport",
        "_url",
    )

    def __init__(
        self,
        url: str,
        *,
        on_open: Callable[[ReconnectMetadata], None],
        on_message: Callable[[ServerMessage], OnMessageResponse],
        on_resume: Callable[[], None] = lambda: None,
        on_server_disconnect_error: Callable[[str], None] | None = None,
        on_state_change: Callable[[ConnectionState], None] | None = None,
        transport: Transport | None = None,
        inactivity_threshold: float = 60.0,
        backoff: BackoffPolicy | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_transition_size: int | None = None,
        report_debug_info: bool = False,
        rand: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        _check_url(url)
        if max_message_size <= 0:
            raise ValueError("max_message_size must be positive")
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "WebSocketManager starts connecting at once: create it inside a running "
                "event loop (in a coroutine)"
            ) from None
        self._url = url
        self._on_open = on_open
        self._on_message = on_message
        self._on_resume = on_resume
        self._on_server_disconnect_error = on_server_disconnect_error
        self._on_state_change = on_state_change
        self._log = logger or logging.getLogger("syncwire.manager")
        self._transport = transport or _default_transport(max_message_size)
        self._core = ManagerCore(
            config=CoreConfig(
                inactivity_threshold=inactivity_threshold,
                backoff=backoff or BackoffPolicy(),
                max_transition_size=max_transition_size or max_message_size,
                report_debug_info=report_debug_info,
            ),
            rand=rand,
            epoch_at_zero=wall_clock() - self._loop.time(),
            logger=self._log,
        )
        # The open socket, if any, and its attempt: the core lets an old socket
        # go before it opens the next, so there is never more than one.
        self._connection: TransportConnection | None = None
        self._connection_attempt = 0
        # The reader task of the current socket attempt. Readers the core let
        # go of, and background closes, wait in _tasks (made on first use).
        self._reader: asyncio.Task[None] | None = None
        self._reader_attempt = 0
        self._tasks: set[asyncio.Task[None]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._draining = False
        # Connection failures since the last socket opened, and the latest cause.
        self._handshake_bound = inactivity_threshold
        self._failed_attempts = 0
        self._last_error: str | None = None
        self._core.start(self._loop.time())
        self._drain()

    def __repr__(self) -> str:
        return f"<WebSocketManager {redact_url(self._url)} {self.socket_state()}>"

    # -- the seed's public methods -------------------------------------------------

    def socket_state(self) -> str:
        """``disconnected``, ``connecting``, ``ready``, ``stopped`` or ``terminated``."""
        return self._core.connection_state().state

    def connection_state(self) -> ConnectionState:
        """An immutable snapshot of the connection."""
        return self._core.connection_state()

    @property
    def last_error(self) -> str | None:
        """Why the latest attempt to open a socket failed, in words; ``None`` once one opens.

        For example ``"connection refused by 127.0.0.1:1: is the server running?"``
        or ``"the server answered HTTP 404: is this a Convex deployment URL?"``.
        It holds no credential and no URL query string.
        """
        return self._last_error

    def send_message(self, message: ClientMessage) -> bool:
        """Send when ready and not paused; ``True`` means "might have been sent".

        Never blocks and never raises because of the connection's state; a
        write failure reconnects (``FailedToSendMessage``).
        """
        frame = self._core.send(message)
        if frame is None:
            return False
        self._write(frame)
        self._drain()
        return True

    def pause(self) -> None:
        """Hold back ``on_open`` and sends (e.g. while fetching an auth token)."""
        self._core.pause()
        self._drain()

    def resume(self) -> None:
        """Deliver the ``on_open`` or ``on_resume`` held back by ``pause``."""
        self._core.resume()
        self._drain()

    def try_restart(self) -> None:
        """Connect again after ``stop()``; otherwise a logged no-op."""
        self._core.try_restart(self._loop.time())
        self._drain()

    def try_reconnect_immediately(self) -> None:
        """Skip the backoff wait now (e.g. the network came back)."""
        self._core.try_reconnect_immediately(self._loop.time())
        self._drain()

    async def stop(self) -> None:
        """Close the socket and stay closed until ``try_restart()``; returns once closed."""
        self.halt()
        await self._settle()

    def halt(self) -> None:
        """``stop()`` from a callback that cannot wait: nothing is sent from now on.

        The socket closes in the background; ``terminate()`` waits for it.
        """
        self._core.stop()
        self._drain()

    async def terminate(self) -> None:
        """Close for good; returns once no task, timer or socket is left. Idempotent."""
        self._core.terminate()
        self._drain()  # cancels the reader and starts closing the socket
        await self._settle()

    async def aclose(self) -> None:
        """``terminate()``, by the name ``async with`` and ``contextlib.aclosing`` call."""
        await self.terminate()

    # -- performing the core's actions -----------------------------------------------

    def _drain(self) -> None:
        """Perform the core's actions until there are none; re-entrant calls queue."""
        if self._draining:
            return
        self._draining = True
        try:
            while actions := self._core.take_actions():
                for action in actions:
                    self._perform(action)
        finally:
            self._draining = False
        self._arm_timer()

    def _perform(
        self,
        action: OpenSocket
        | CloseSocket
        | SendFrame
        | CallOnOpen
        | CallOnResume
        | ReportServerDisconnectError
        | StateChanged,
    ) -> None:
        core = self._core
        match action:
            case SendFrame():
                self._write(action)
            case OpenSocket(attempt=attempt):
                reader = self._loop.create_task(self._run_socket(attempt))
                if not reader.done():  # an eager task factory may have run it already
                    self._reader, self._reader_attempt = reader, attempt
            case CloseSocket(attempt=attempt):
                running = self._reader
                if running is not None and attempt == self._reader_attempt:
                    self._reader = None
                    if running is not asyncio.current_task():
                        running.cancel()
                    self._track(running)  # itself: it ends once its callback returns
                self._close_in_background(attempt)
            case CallOnOpen(attempt=attempt, metadata=metadata):
                if core.is_current(attempt):
                    self._call("on_open", self._on_open, metadata)
            case CallOnResume(attempt=attempt):
                if core.is_current(attempt):
                    self._call("on_resume", self._on_resume)
            case ReportServerDisconnectError(text=text):
                if self._on_server_disconnect_error is not None:
                    self._call("on_server_disconnect_error", self._on_server_disconnect_error, text)
            case StateChanged():
                if self._on_state_change is not None:
                    self._call("on_state_change", self._on_state_change, core.connection_state())

    def _write(self, frame: SendFrame) -> None:
        connection = self._connection
        if (
            connection is None
            or frame.attempt != self._connection_attempt
            or not self._core.is_current(frame.attempt)
        ):
            return  # the socket is gone; "might have been sent" stays true
        try:
            connection.send(frame.text)
        except SendError as exc:
            self._core.send_failed(frame.attempt, str(exc), self._loop.time())

    def _call(self, name: str, callback: Callable[..., object], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            self._log.exception("%s raised; the manager carries on", name)

    def _arm_timer(self) -> None:
        """Keep one timer at the core's next deadline.

        A later deadline (the inactivity deadline moves with every frame) does
        not re-arm: the armed timer fires, finds nothing due, and re-arms then.
        """
        deadline = self._core.next_deadline()
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = self._timer_at = None
            return
        if self._timer_at is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        due = self._timer_at
        self._timer = self._timer_at = None
        # asyncio may run a timer up to one clock resolution early.
        now = max(self._loop.time(), due or 0.0)
        connection = self._connection
        if connection is not None:
            # Bytes of a frame still arriving count as activity (a transport that
            # cannot tell says None).
            last_data_at = connection.last_data_at
            if last_data_at is not None:
                self._core.data_arrived(self._connection_attempt, last_data_at)
        before = self._core.state
        self._core.handle_timeout(now)
        if isinstance(before, Connecting) and not self._core.is_current(before.attempt):
            self._connect_failed(
                "timed out: no answer to the WebSocket handshake "
                f"within {self._handshake_bound:g} s"
            )
        self._drain()

    # -- sockets ---------------------------------------------------------------------------

    def _track(self, task: asyncio.Task[None]) -> None:
        """Remember a task the manager let go of until it is done."""
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_socket(self, attempt: int) -> None:
        """Open socket ``attempt`` and feed the core its frames until it ends.

        Cancelled when the core lets the socket go. One coroutine per socket,
        kept lean: an idle manager is mostly this frame and its connection.
        """
        core, loop = self._core, self._loop
        try:
            try:
                connection = await self._transport.connect(self._url)
            except TransportError as exc:
                # The browser reports a failed handshake as a close with code 1006.
                self._log.info("WebSocket error message: %s", exc)
                if core.is_current(attempt):
                    self._connect_failed(
                        exc.cause if isinstance(exc, ConnectError) else f"cannot connect: {exc}"
                    )
                core.socket_closed(attempt, CLOSE_ABNORMAL, "", loop.time())
                self._drain()
                return
            except Exception as exc:
                # A transport that breaks its contract must not leave us connecting forever.
                self._log.exception("the transport failed to connect; reconnecting")
                if core.is_current(attempt):
                    self._connect_failed(
                        f"cannot connect: the transport raised {type(exc).__name__}"
                    )
                core.socket_closed(attempt, CLOSE_ABNORMAL, "", loop.time())
                self._drain()
                return
            if core.is_current(attempt):
                self._connected()
            self._connection, self._connection_attempt = connection, attempt
            try:
                core.socket_opened(attempt, loop.time())
                self._drain()
                # Per frame: bound methods and the action queue looked up once here.
                on_message, frame_received, clock = self._on_message, core.frame_received, loop.time
                pending = core.pending_actions
                while core.current_attempt == attempt:
                    data = await connection.recv()
                    message = frame_received(attempt, data, clock())
                    # Let go of the frame before waiting for the next one: it
                    # may be a 20 MB Transition.
                    data = ""
                    if message is not None:
                        try:
                            synced = on_message(message).has_synced_past_last_reconnect
                        except ProtocolError as exc:
                            # The client's view of the session is out of step with
                            # the server's: only a fresh session resyncs it.
                            core.protocol_violation(attempt, "ProtocolError", str(exc), loop.time())
                        except Exception:
                            self._log.exception("on_message raised; the manager carries on")
                        else:
                            if synced and core.retries:  # else message_handled does nothing
                                core.message_handled(True)
                        message = None
                    if pending:
                        self._drain()
            except MessageTooLargeError as exc:
                core.protocol_violation(attempt, "MessageTooLarge", exc.description, loop.time())
            except InvalidFrameError as exc:
                reason = f"InvalidFrame: {exc.reason}" if exc.reason else "InvalidFrame"
                what = f"the transport closed with code {exc.code}"
                core.protocol_violation(attempt, reason, what, loop.time())
            except ConnectionClosedError as exc:
                core.socket_closed(attempt, exc.code, exc.reason, loop.time())
            except UnexpectedBinaryFrameError as exc:
                what = f"binary frame of {exc.size} bytes"
                core.protocol_violation(attempt, "BinaryFrame", what, loop.time())
            except SendError as exc:
                core.send_failed(attempt, str(exc), loop.time())
            except TransportError as exc:
                self._log.info("WebSocket error message: %s", exc)
                core.socket_closed(attempt, CLOSE_ABNORMAL, "", loop.time())
            except Exception:
                # A bug must not leave the core on a socket nobody reads: reconnect.
                self._log.exception("unexpected error while receiving; reconnecting")
                core.protocol_violation(
                    attempt, "ClientError", "an unexpected error in the client", loop.time()
                )
        finally:
            if self._reader_attempt == attempt:
                self._reader = None
            self._close_in_background(attempt)
        self._drain()

    def _connect_failed(self, cause: str) -> None:
        """An attempt failed: say so once per cause, visibly without logging configured."""
        self._failed_attempts += 1
        if cause != self._last_error:
            self._last_error = cause
            self._log.warning(
                "cannot connect to %s: %s (retrying in the background)",
                redact_url(self._url),
                cause,
            )

    def _connected(self) -> None:
        if self._failed_attempts:
            failed, self._failed_attempts = self._failed_attempts, 0
            self._log.warning(
                "connected to %s after %d failed attempt%s",
                redact_url(self._url),
                failed,
                "" if failed == 1 else "s",
            )
        self._last_error = None

    def _close_in_background(self, attempt: int) -> None:
        connection = self._connection
        if connection is None or attempt != self._connection_attempt:
            return
        self._connection = None
        connection.close()
        self._track(self._loop.create_task(connection.wait_closed()))

    async def _settle(self) -> None:
        """Wait until the sockets and tasks let go of so far are finished.

        ``asyncio.wait`` rather than ``gather``: if our caller is cancelled, the
        closes still run to their end instead of being cut off.
        """
        current = asyncio.current_task()
        # Readers the core let go of (cancelled, finishing) and background
        # closes. A reader the core still uses belongs to a socket opened since
        # (a callback may restart the manager while it stops): not ours to wait for.
        pending = set(self._tasks or ())
        reader = self._reader
        if reader is not None and not self._core.is_current(self._reader_attempt):
            pending.add(reader)  # finishing after its socket ended
        pending.discard(current)
        if pending:
            await asyncio.wait(pending)


def _check_url(url: str) -> None:
    """Refuse at once a URL no transport could open (instead of failing every attempt)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"the URL scheme must be ws or wss, not {parts.scheme or 'missing'!r}")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("the URL's port is not a number from 0 to 65535") from None


@functools.lru_cache(maxsize=8)
def _default_transport(max_message_size: int) -> Transport:
    """One shared default transport per size limit: it holds configuration only."""
    return default_transport(
        max_message_size=max_message_size,
        headers={"Convex-Client": f"syncwire-{__version__}"},
    )
