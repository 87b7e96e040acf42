"""Feeds server frames through the whole receive path and checks it stays sound.

Issue #6 asks that garbage from the server never escapes as anything but
``ProtocolError`` and never leaves a manager stuck. ``check_input`` runs one
fuzz input (frames joined by ``seeds.FRAME_SEPARATOR``) through three layers,
each as production runs it:

* ``check_parse``: ``parse_server_message`` on each frame as bytes and as
  text raises only ``ProtocolError``, and both forms agree.
* ``check_core``: a ready ``ManagerCore`` (Sans-I/O, plain float time) given
  the frames as bytes never raises, and after each frame it is still ready
  with a deadline ahead, or it emitted ``CloseSocket`` and scheduled a
  reconnect.
* ``ClientRig``: a real ``Client`` (two queries, auth, a mutation, an action
  and another mutation in flight) on ``FakeTransport`` and a reused
  virtual-time loop receives the frames through the manager's reader. Nothing
  may be swallowed by a catch-all (a log record with a traceback, a loop
  exception), a delivered query result must read as a value or raise
  ``FunctionError``/``ProtocolError``, the manager must stay ready or
  reconnect, no request may be dropped unsettled, the loop may not be blocked
  (``BUDGET``), and within ``LIVENESS`` virtual seconds of silence the client
  must have resynced on a new socket, or, after a FatalError, closed.

The Hypothesis tier (``tests/reliability/test_fuzz_receive.py``) and the
atheris harness (``fuzz/fuzz_server_messages.py``) share this module, so both
check exactly the same invariants. A broken invariant raises ``ReceivePathBug``,
except that bugs listed in ``KNOWN_BUGS`` (reported, with a strict-xfail
regression test each) are counted in the ``Tally`` instead unless ``strict``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import traceback
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from dataclasses import field
from types import FrameType
from typing import Any
from typing import Final

import async_solipsism

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire._core.machine import CloseSocket
from syncwire._core.machine import CoreConfig
from syncwire._core.machine import ManagerCore
from syncwire._core.states import Disconnected
from syncwire._core.states import Ready
from syncwire._core.states import Stopped
from syncwire.client.client import Subscription
from syncwire.errors import FatalServerError
from syncwire.errors import FunctionError
from syncwire.errors import ProtocolError
from syncwire.protocol import UNSET
from syncwire.protocol import ActionResponse
from syncwire.protocol import Connect
from syncwire.protocol import ConvexInt64
from syncwire.protocol import JSONValue
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import Ping
from syncwire.protocol import QueryAdd
from syncwire.protocol import QueryFailed
from syncwire.protocol import QueryUpdated
from syncwire.protocol import ServerMessage
from syncwire.protocol import Transition
from syncwire.protocol import TransitionChunk
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message
from syncwire.protocol import values
from syncwire.protocol.chunks import TransitionChunkAssembler
from syncwire.testing import FakeServerConnection
from syncwire.testing import FakeTransport
from tests.reliability.fuzz.seeds import split_frames

__all__ = [
    "BUDGET",
    "KNOWN_BUGS",
    "LIVENESS",
    "QUERY_IDS",
    "REQUEST_IDS",
    "Blocked",
    "ClientRig",
    "ReceivePathBug",
    "Tally",
    "check_core",
    "check_input",
    "check_parse",
    "cpu_budget",
]

URL: Final = "wss://happy-animal-123.convex.cloud/api/sync"
EPOCH: Final = 1_800_000_000.0
"""Wall-clock seconds at loop time 0 for the core check: inputs replay exactly."""
POLICY: Final = BackoffPolicy(client_initial=1.0, unknown_initial=1.0, max_backoff=8.0)
INACTIVITY: Final = 60.0
LIVENESS: Final = 3 * INACTIVITY
"""Virtual seconds a client gets to be on a new, resynced socket after the input.

A silent server forces a reconnect within ``INACTIVITY`` plus a backoff of at
most 1.5 × 8 s whatever the frames did, so a client not there by then is stuck.
"""
JWT: Final = "header.e30.signature"
"""A static token with no expiry: confirmed by an identity-advancing Transition."""
QUERY_IDS: Final = (0, 1)
"""The rig's live queries: ``messages:list`` and ``users:get``."""
REQUEST_IDS: Final = (0, 1, 2)
"""In flight when the frames arrive: mutation 0, action 1, mutation 2."""
_OPENING_FRAMES: Final = 6
"""Connect, Authenticate, ModifyQuerySet and the three requests."""
_SPINS: Final = 20
_STEP: Final = 5.0
"""Virtual seconds between looks at the client while it is given time to resync."""
BUDGET: Final = 5.0
"""CPU seconds one input may take; beyond that the event loop counts as blocked.

An input takes milliseconds, so this is far above noise; it is CPU time
(``ITIMER_VIRTUAL``), so a loaded machine does not trip it.
"""
_REPEAT: Final = 0.01
_SLOW_DEPTH: Final = 14
"""Nesting above a bad value from which ``exponential-error-path`` costs tens of ms."""

KNOWN_BUGS: Final[dict[str, str]] = {}
"""Bugs found by fuzzing, not yet fixed (the fix is outside the tests): name → what.

Once one is fixed, delete its entry (and its test's xfail marker): the rig then
fails on it again like on any other bug.
"""


def _tolerated(bug: str, strict: bool) -> bool:
    """Whether to count ``bug`` instead of failing: not strict, and not yet fixed."""
    return not strict and bug in KNOWN_BUGS


class ReceivePathBug(AssertionError):
    """An invariant of the receive path broke: the message says which and how."""


@dataclass
class Tally:
    """What the inputs reached, for the figures: depth, not only volume."""

    inputs: int = 0
    frames: int = 0
    messages: int = 0
    """Frames that parsed as server messages."""
    delivered: int = 0
    """Messages the core handed on to ``on_message`` (Pings and chunks it keeps)."""
    values: int = 0
    """Query results the client delivered that the rig read with ``Subscription.next()``."""
    reconnects: int = 0
    """Inputs after which the client's manager dropped the socket to resync."""
    fatal: int = 0
    """Inputs that ended the client with a FatalError."""
    kinds: dict[str, int] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)
    """Inputs that hit each of ``KNOWN_BUGS`` (tolerated unless strict)."""

    def message(self, message: ServerMessage) -> None:
        self.messages += 1
        name = type(message).__name__
        self.kinds[name] = self.kinds.get(name, 0) + 1

    def hit(self, bug: str) -> None:
        self.known[bug] = self.known.get(bug, 0) + 1

    def summary(self) -> str:
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(self.kinds.items()))
        known = ", ".join(f"{name} {count}" for name, count in sorted(self.known.items()))
        return (
            f"{self.inputs} inputs, {self.frames} frames, {self.messages} valid messages "
            f"({kinds or 'none'}), {self.delivered} delivered to on_message, "
            f"{self.values} query results read, "
            f"{self.reconnects} reconnects, {self.fatal} fatal; "
            f"known bugs hit: {known or 'none'}"
        )


def check_input(
    data: bytes,
    rig: ClientRig,
    tally: Tally,
    *,
    debug: bool = False,
) -> None:
    """One fuzz input through every layer: the codec, the core, a client."""
    frames = split_frames(data)
    tally.inputs += 1
    tally.frames += len(frames)
    for frame in frames:
        check_parse(frame, tally)
    check_core(frames, tally, debug=debug, strict=rig.strict)
    # A text frame reaches the client as str: valid Unicode, whatever the bytes were.
    texts = [frame.decode(errors="replace") for frame in frames]
    if _tolerated("exponential-error-path", rig.strict) and _blocks_on_conversion(texts):
        tally.hit("exponential-error-path")
        return  # the client would block for as long as 2^depth steps take
    rig.run(texts, tally, debug=debug)


class Blocked(BaseException):
    """Raised by the CPU watchdog: not an ``Exception``, so no catch-all swallows it."""


@dataclass
class _Watchdog:
    fired: bool = False
    armed: bool = True
    """Cleared on exit: a signal handled late, after the block, must not raise anywhere."""
    where: str = ""
    """The innermost frames when it first went off: what was using the CPU."""


@contextmanager
def cpu_budget(seconds: float) -> Iterator[_Watchdog]:
    """Raise ``Blocked`` in the main thread once it has used ``seconds`` of CPU.

    ``ITIMER_VIRTUAL``/``SIGVTALRM``: neither wall time nor libFuzzer's own
    ``SIGALRM`` timeout. It raises again every ``_REPEAT`` CPU seconds until the
    block exits, since one exception can be lost (raised inside a weakref
    callback, it is only printed); ``fired`` tells whether it went off, even where
    a task caught the exception. A no-op outside the main thread.
    """
    watchdog = _Watchdog()
    if threading.current_thread() is not threading.main_thread():
        yield watchdog
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        if not watchdog.armed:
            return
        if not watchdog.fired:
            watchdog.fired = True
            watchdog.where = " < ".join(
                f"{entry.name} ({entry.filename.rpartition('/')[2]}:{entry.lineno})"
                for entry in reversed(traceback.extract_stack(frame, limit=8))
            )
        raise Blocked(f"over {seconds} s of CPU in {watchdog.where}")

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds, _REPEAT)
    try:
        yield watchdog
    finally:
        watchdog.armed = False
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def _blocks_on_conversion(texts: Sequence[str]) -> bool:
    """Known bug ``exponential-error-path``: some value would take the client for ever."""
    return any(
        _converts_slowly(value)
        for message in _delivered(texts)
        for value in _received_values(message)
    )


def _converts_slowly(value: JSONValue) -> bool:
    """Whether the failure in ``value`` sits deep enough for ``2^depth`` steps to hurt.

    Measured, not timed: with ``_first_failing`` replaced for a moment by a
    stand-in that only counts its calls, conversion is linear, and the count is
    the failure's depth, the exponent of the real cost. (Timing it with a signal
    proved unreliable: an exception raised inside a weakref callback is lost.)
    Without a ``_first_failing`` (the bug fixed) nothing is slow.
    """
    namespace = vars(values)  # not an attribute: the fix may well remove the function
    original = namespace.get("_first_failing")
    if original is None:
        return False
    depth = 0

    def count(items: object, walk: object) -> int:
        nonlocal depth
        depth += 1
        return 0

    namespace["_first_failing"] = count
    try:
        json_to_convex(value)
    except Exception:  # noqa: S110 - ProtocolError, or the ValueError of non-ascii-base64
        pass
    finally:
        namespace["_first_failing"] = original
    return depth >= _SLOW_DEPTH


def _delivered(texts: Sequence[str]) -> list[ServerMessage]:
    """The messages the core would hand on for ``texts``, chunked Transitions assembled."""
    assembler = TransitionChunkAssembler()
    messages: list[ServerMessage] = []
    for text in texts:
        try:
            message = parse_server_message(text)
            if isinstance(message, Ping):
                continue  # the core drops a keepalive before it looks at the chunk buffer
            if isinstance(message, TransitionChunk):
                assembled = assembler.add(message)
                if assembled is not None:
                    messages.append(assembled[0])
                continue
        except ProtocolError:
            break  # the core drops the socket here
        assembler.reset()
        messages.append(message)
    return messages


def _received_values(message: ServerMessage | None) -> list[JSONValue]:
    """The JSON values in ``message`` that ``json_to_convex`` converts: on receipt, or (a
    QueryUpdated's) when the rig reads the subscription."""
    if isinstance(message, Transition):
        values: list[JSONValue] = []
        for modification in message.modifications:
            if isinstance(modification, QueryUpdated):
                values.append(modification.value)
            elif isinstance(modification, QueryFailed) and modification.error_data is not UNSET:
                values.append(modification.error_data)
        return values
    if isinstance(message, (MutationResponse, ActionResponse)):
        values = [message.result] if message.success else []
        if message.error_data is not UNSET:
            values.append(message.error_data)
        return values
    return []


# --- the codec ---------------------------------------------------------------------------


def check_parse(frame: bytes, tally: Tally | None = None) -> ServerMessage | None:
    """``parse_server_message`` on bytes and on text: a message or ``ProtocolError``, alike.

    Text is what a transport hands over for a text frame, so it is valid
    Unicode; undecodable bytes are also tried as text with lone surrogates
    (``surrogateescape``), which only a nonconforming transport produces.
    """
    as_bytes = _parse(frame, "bytes")
    try:
        text = frame.decode()
    except UnicodeDecodeError:
        _parse(frame.decode(errors="replace"), "text with U+FFFD")
        _parse(frame.decode(errors="surrogateescape"), "text with lone surrogates")
    else:
        as_text = _parse(text, "text")
        if as_text != as_bytes and repr(as_text) != repr(as_bytes):  # repr: NaN != NaN
            raise ReceivePathBug(
                f"parse_server_message disagrees on bytes and text: {as_bytes!r} vs {as_text!r}"
            )
    if tally is not None and as_bytes is not None:
        tally.message(as_bytes)
    return as_bytes


def _parse(frame: str | bytes, form: str) -> ServerMessage | None:
    try:
        return parse_server_message(frame)
    except ProtocolError:
        return None
    except Exception as exc:
        raise ReceivePathBug(
            f"parse_server_message raised {type(exc).__name__} (not ProtocolError) on {form}: {exc}"
        ) from exc


# --- the Sans-I/O core ----------------------------------------------------------------------


class _Records(logging.Handler):
    """Formats every record (a broken log call is a bug) and keeps those with a traceback.

    A record with a traceback is an exception a catch-all swallowed: the
    manager's "on_message raised", "unexpected error while receiving", a
    callback that raised, an auth task that failed.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.problems: list[tuple[str, BaseException | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception as exc:
            problem = f"log call {record.msg!r} failed: {type(exc).__name__}: {exc}"
            self.problems.append((problem, exc))
            return
        if record.exc_info is not None and record.exc_info[1] is not None:
            error = record.exc_info[1]
            self.problems.append((f"{text}: {type(error).__name__}: {error}", error))

    def take(self) -> list[tuple[str, BaseException | None]]:
        problems, self.problems = self.problems, []
        return problems


_CORE_RECORDS: Final = _Records()
# Loggers of their own, outside logging's tree: nothing reaches the root logger (or
# pytest's capture, which also hooks non-propagating loggers), and there are two so
# that switching the level per input does not clear logging's caches.
_CORE_LOGGERS: Final = {debug: logging.Logger("fuzz.core") for debug in (True, False)}
for _debug, _logger in _CORE_LOGGERS.items():
    _logger.setLevel(logging.DEBUG if _debug else logging.WARNING)
    _logger.addHandler(_CORE_RECORDS)


def check_core(
    frames: Sequence[bytes],
    tally: Tally | None = None,
    *,
    debug: bool = False,
    strict: bool = True,
) -> None:
    """A ready core given ``frames``: it never raises, and after each frame it is not stuck.

    Not stuck: still ready on the same socket with a deadline ahead, or it
    emitted ``CloseSocket`` for that socket and scheduled a reconnect. The
    debug logger and ``report_debug_info`` switch on the core's optional code
    paths (timing reports, ``ClientReceivedTransition`` events).
    """
    core = ManagerCore(
        config=CoreConfig(inactivity_threshold=INACTIVITY, report_debug_info=True),
        rand=lambda: 0.5,
        epoch_at_zero=EPOCH,
        logger=_CORE_LOGGERS[debug],
    )
    core.start(0.0)
    core.socket_opened(1, 0.0)
    core.take_actions()
    now = 0.0
    for index, frame in enumerate(frames):
        now += 0.25
        try:
            message = core.frame_received(1, frame, now)
        except Exception as exc:
            if _tolerated("debug-timing-overflow", strict) and _in_timing_report(exc):
                if tally is not None:
                    tally.hit("debug-timing-overflow")
                return
            raise ReceivePathBug(
                f"ManagerCore.frame_received raised {type(exc).__name__} on frame {index}: {exc}"
            ) from exc
        if isinstance(message, (Ping, TransitionChunk)):
            raise ReceivePathBug(f"the core handed on a {type(message).__name__}")
        if message is not None and tally is not None:
            tally.delivered += 1
        problems = [text for text, _ in _CORE_RECORDS.take()]
        if problems:
            raise ReceivePathBug(f"the core logged a problem on frame {index}: {problems}")
        actions = core.take_actions()
        state = core.state
        if isinstance(state, Ready) and state.attempt == 1:
            deadline = core.next_deadline()
            if deadline is None or deadline <= now:
                raise ReceivePathBug(f"stuck: ready with no deadline ahead ({deadline})")
            continue
        if not (
            isinstance(state, Disconnected)
            and state.reconnect_at is not None
            and state.reconnect_at > now
            and CloseSocket(1) in actions
        ):
            raise ReceivePathBug(f"stuck: after frame {index} the core is {state!r}, {actions!r}")
        return


def _in_timing_report(exc: Exception) -> bool:
    """Known bug ``debug-timing-overflow``: the exception came from the timing report."""
    frames = traceback.extract_tb(exc.__traceback__)
    return isinstance(exc, (OverflowError, ZeroDivisionError)) and any(
        frame.name == "_report_large_transition" for frame in frames
    )


# --- the client on a fake transport ---------------------------------------------------------


class ClientRig:
    """Runs inputs through a real ``Client``: one virtual-time loop, a fresh client per input.

    A fresh client per input keeps inputs independent (a fuzzer's crash
    replays alone); reusing the loop keeps an input to about a millisecond.
    ``strict`` turns the ``KNOWN_BUGS`` back into failures. Use it as a
    context manager, or call ``close()``.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._loop: asyncio.AbstractEventLoop = async_solipsism.EventLoop()
        self._loop_errors: list[str] = []
        self._loop.set_exception_handler(self._on_loop_error)
        self._records = _Records()
        # The client's and manager's loggers are children of "syncwire".
        self._logger = logging.getLogger("syncwire")
        self._saved_logger = self._logger.level, self._logger.propagate
        self._logger.setLevel(logging.WARNING)
        self._logger.propagate = False
        self._logger.addHandler(self._records)
        self._debug = False
        self._dropped: dict[int, asyncio.Task[Any]] = {}
        """Requests lost to the known bug in this input: not checked, cancelled at the end."""
        self._readers: list[asyncio.Task[None]] = []
        """The manager's reader tasks, to collect an exception that killed one."""
        self._watchdog = _Watchdog()
        self._tally = Tally()

    def __enter__(self) -> ClientRig:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the loop and give the ``syncwire`` logger back as it was."""
        if not self._loop.is_closed():
            self._loop.close()
            self._logger.removeHandler(self._records)
            self._logger.setLevel(self._saved_logger[0])
            self._logger.propagate = self._saved_logger[1]

    def run(
        self, frames: Sequence[str], tally: Tally | None = None, *, debug: bool = False
    ) -> None:
        """Feed ``frames`` (text, as a transport delivers them) and check every invariant."""
        if debug != self._debug:
            self._logger.setLevel(logging.DEBUG if debug else logging.WARNING)
            self._debug = debug
        self._records.take()
        self._loop_errors = []
        self._dropped = {}
        self._readers = []
        self._tally = tally or Tally()
        case = self._loop.create_task(self._case(frames, self._tally))
        try:
            with cpu_budget(BUDGET) as self._watchdog:
                self._loop.run_until_complete(case)
        except Blocked:
            self._reset()
            raise ReceivePathBug(
                f"stuck: handling the input blocked the event loop for over {BUDGET} s of CPU, "
                f"in {self._watchdog.where}"
            ) from None
        except BaseException:
            self._reset()
            raise

    def _reset(self) -> None:
        """Cancel whatever a failed input left on the loop, so the next one starts clean."""
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        if tasks:
            with cpu_budget(BUDGET):
                self._loop.run_until_complete(asyncio.wait(tasks))
        for task in [*tasks, *self._readers]:
            if task.done() and not task.cancelled():
                task.exception()
        self._records.take()
        self._loop_errors = []

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        detail = f": {type(error).__name__}: {error}" if error is not None else ""
        self._loop_errors.append(f"{context.get('message')}{detail}")

    def _problems(self, when: str) -> None:
        if self._watchdog.fired:
            raise Blocked(when)  # where a task caught it: surface it as the failure
        problems = self._loop_errors
        self._loop_errors = []
        for text, error in self._records.take():
            known = _known_swallowed(error)
            if known is not None and _tolerated(known, self.strict):
                self._tally.hit(known)
            else:
                problems.append(text)
        if problems:
            raise ReceivePathBug(f"uncaught exception {when}: {problems}")

    async def _case(self, frames: Sequence[str], tally: Tally) -> None:
        fake = FakeTransport(auto_accept=True)
        client = Client(
            URL, transport=fake, backoff=POLICY, inactivity_threshold=INACTIVITY, rand=lambda: 0.5
        )
        requests: list[asyncio.Task[Any]] = []
        try:
            subscriptions = [
                client.subscribe("messages:list", {"channel": "general"}),
                client.subscribe("users:get", {"id": ConvexInt64(5)}),
            ]
            client.set_auth(JWT)
            requests = [
                asyncio.ensure_future(client.mutation("messages:send", {"body": "hi"})),
                asyncio.ensure_future(client.action("files:store", {"data": b"\x01\x02\x03"})),
                asyncio.ensure_future(client.mutation("counter:add", {"n": ConvexInt64(2**62)})),
            ]
            server = await self._opened(fake)
            self._problems("while opening")
            await self._feed(client, server, frames, requests, subscriptions, tally)
            await self._check_live(client, fake, requests)
        finally:
            await client.close()
            for task in [*requests, *self._readers]:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: a reader's is reported as a problem
            # Whatever is left is cancelled, so that the next input starts clean.
            current = asyncio.current_task()
            leftover = [task for task in asyncio.all_tasks() if task is not current]
            for task in leftover:
                task.cancel()
            if leftover:
                await asyncio.wait(leftover)
        expected = set(self._dropped.values())
        unexpected = [task for task in leftover if task not in expected]
        if unexpected:
            raise ReceivePathBug(f"tasks outlived the client: {unexpected}")
        self._problems("while closing")

    async def _opened(self, fake: FakeTransport) -> FakeServerConnection:
        for _ in range(_SPINS):
            await asyncio.sleep(0)
            connections = fake.connections
            if connections and len(connections[0].sent) >= _OPENING_FRAMES:
                return connections[0]
        raise ReceivePathBug(f"the rig's client did not open its session: {fake.connections}")

    async def _feed(
        self,
        client: Client,
        server: FakeServerConnection,
        frames: Sequence[str],
        requests: list[asyncio.Task[Any]],
        subscriptions: list[Subscription],
        tally: Tally,
    ) -> None:
        manager = client._manager
        core = manager._core
        inbox = server.client._inbox
        received: list[ServerMessage] = []
        for index, frame in enumerate(frames):
            if manager._reader is not None:
                self._readers.append(manager._reader)
            server.push(frame)
            for _ in range(_SPINS):
                await asyncio.sleep(0)
                if not inbox or not core.is_current(1):
                    break
            # Callbacks and task wake-ups the frame caused run now.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            self._problems(f"handling frame {index}")
            await self._read(subscriptions, tally, f"after frame {index}")
            with suppress(ProtocolError):
                received.append(parse_server_message(frame))
            state = core.state
            if client._ended is not None:
                if not isinstance(client._ended, FatalServerError):
                    raise ReceivePathBug(f"the client ended with {client._ended!r}")
                tally.fatal += 1
                return
            if client._auth_failure is not None:
                # The server rejected the rig's token (issue 11): the client stops and
                # fails every call until set_auth/clear_auth. An end, not a hang.
                self._check_auth_failure(client, requests, server, f"after frame {index}")
                return
            if isinstance(state, Ready) and state.attempt == 1:
                reader = manager._reader
                if reader is None or reader.done():
                    raise ReceivePathBug("stuck: ready, but no task reads the socket")
                if inbox:
                    raise ReceivePathBug("stuck: ready, but the frame was never read")
                if core.next_deadline() is None or not server.is_open:
                    raise ReceivePathBug("stuck: ready without a deadline or an open socket")
                self._check_requests(client, requests, received, tally, f"after frame {index}")
                continue
            if not (
                isinstance(state, Disconnected)
                and state.reconnect_at is not None
                and server.closed_by_client is not None
            ):
                raise ReceivePathBug(f"stuck: after frame {index} the manager is {state!r}")
            tally.reconnects += 1
            self._check_requests(client, requests, received, tally, f"after frame {index}")
            return

    def _check_auth_failure(
        self,
        client: Client,
        requests: list[asyncio.Task[Any]],
        server: FakeServerConnection,
        when: str,
    ) -> None:
        """Stopped, the socket closed by the client, every request settled (those the
        server had not answered, with ``AuthenticationError``)."""
        if not isinstance(client._manager._core.state, Stopped):
            raise ReceivePathBug(f"auth failed {when}, but the manager is not stopped")
        if server.closed_by_client is None:
            raise ReceivePathBug(f"auth failed {when}, but the socket was left open")
        for request_id, task in zip(REQUEST_IDS, requests, strict=True):
            if request_id not in self._dropped and not task.done():
                raise ReceivePathBug(f"auth failed {when}, but request {request_id} waits")
        if client._requests._requests:
            raise ReceivePathBug(f"auth failed {when}, but requests are still tracked")

    async def _read(self, subscriptions: list[Subscription], tally: Tally, when: str) -> None:
        """Read what was delivered, as an app does: a value, or FunctionError/ProtocolError.

        Values are converted when first read, so garbage in a QueryUpdated
        surfaces here rather than in the manager's reader.
        """
        for subscription in subscriptions:
            if not subscription.has_unread:
                continue
            tally.values += 1
            try:
                await subscription.next()
            except (FunctionError, ProtocolError):
                pass
            except Exception as exc:
                known = _known_swallowed(exc)
                if known is None or not _tolerated(known, self.strict):
                    raise ReceivePathBug(
                        f"reading a delivered value raised {type(exc).__name__}, not "
                        f"ProtocolError, {when}: {exc}"
                    ) from exc
                tally.hit(known)

    def _check_requests(
        self,
        client: Client,
        requests: list[asyncio.Task[Any]],
        received: list[ServerMessage],
        tally: Tally,
        when: str,
    ) -> None:
        """Every request is settled or still tracked (and so re-sent on the next socket)."""
        pending = client._requests._requests
        for request_id, task in zip(REQUEST_IDS, requests, strict=True):
            if task.done() or request_id in pending or request_id in self._dropped:
                continue
            if _tolerated("lost-request", self.strict) and _unconvertible_response(
                request_id, received
            ):
                tally.hit("lost-request")
                self._dropped[request_id] = task
                continue
            raise ReceivePathBug(
                f"request {request_id} was dropped without an answer {when}: "
                "its caller would wait forever"
            )

    async def _check_live(
        self, client: Client, fake: FakeTransport, requests: list[asyncio.Task[Any]]
    ) -> None:
        """Given time and a silent server, the client resyncs on a new socket or has ended."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + LIVENESS
        while loop.time() < give_up:
            closing = client._closing
            if closing is not None and closing.done():
                break
            if len(fake.connections) > 1 and fake.connections[-1].sent:
                break
            await asyncio.sleep(_STEP)
        self._problems("while reconnecting")
        live = [
            (request_id, task)
            for request_id, task in zip(REQUEST_IDS, requests, strict=True)
            if request_id not in self._dropped
        ]
        if client._auth_failure is not None:
            if len(fake.connections) > 1:
                raise ReceivePathBug("auth failed, yet the client opened another socket")
            return  # checked in _feed: the user must set or clear auth
        if client._ended is not None:
            closing = client._closing
            if closing is None or not closing.done():
                raise ReceivePathBug("stuck: the client ended but never finished closing")
            if client._manager.socket_state() != "terminated":
                raise ReceivePathBug("stuck: the client ended but its manager was not terminated")
            if not all(task.done() for _, task in live):
                raise ReceivePathBug("a request outlived the client that ended")
            return
        connections = fake.connections
        if len(connections) < 2:
            raise ReceivePathBug(f"stuck: no new socket in {LIVENESS} s of silence")
        sent = [parse_client_message(text) for text in connections[-1].sent]
        if not sent or not isinstance(sent[0], Connect):
            raise ReceivePathBug(f"the new socket did not start with Connect: {sent!r}")
        added = {
            modification.query_id
            for message in sent
            if isinstance(message, ModifyQuerySet)
            for modification in message.modifications
            if isinstance(modification, QueryAdd)
        }
        if added != set(QUERY_IDS):
            raise ReceivePathBug(f"the new socket re-added queries {added}, not {QUERY_IDS}")
        resent = {message.request_id for message in sent if isinstance(message, Mutation)}
        pending = client._requests._requests
        for request_id, task in live:
            if not task.done() and (request_id not in resent or request_id not in pending):
                raise ReceivePathBug(f"request {request_id} is pending but was not re-sent")


def _unconvertible_response(request_id: int, received: list[ServerMessage]) -> bool:
    """Known bug ``lost-request``: a response for it held a value the client cannot convert."""
    for message in received:
        if not isinstance(message, (MutationResponse, ActionResponse)):
            continue
        if message.request_id != request_id:
            continue
        try:
            if message.success:
                json_to_convex(message.result)
            elif message.error_data is not UNSET:
                json_to_convex(message.error_data)
        except ValueError:  # ProtocolError, or the plain ValueError of non-ascii-base64
            return True
    return False


def _known_swallowed(error: BaseException | None) -> str | None:
    """Which of ``KNOWN_BUGS`` an exception a catch-all swallowed is, if any."""
    if error is None:
        return None
    functions = {frame.name for frame in traceback.extract_tb(error.__traceback__)}
    if type(error) is ValueError and "_b64decode" in functions:
        return "non-ascii-base64"
    if type(error) is KeyError and "_on_transition" in functions:
        return "removed-after-update"
    return None
