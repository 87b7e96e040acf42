"""Fault injection for the dev server: the failures a client must survive, on demand.

Every ``DevServer`` has a ``faults`` attribute (a ``Faults``). Its methods are
called from the server's event loop, take effect at once, and are bounded: a
one-shot fault hits the sessions open at that moment; a lasting fault has a
deadline (at most ``MAX_FAULT_SECONDS``) and ``lift()`` ends every lasting
fault early.

```python
server.faults.close_all(1013, "SubscriptionsWorkerFullError")  # overload
server.faults.close_all(1006)            # abort the TCP connections, no close frame
server.faults.silence(30)                # no frames at all, sockets open
server.faults.refuse(5, count=3)         # HTTP 503 before the upgrade
server.faults.delay(2.0, duration=10)    # every outgoing frame 2 s late
server.faults.drop(5, session_id=sid)    # one session's messages discarded
server.faults.send_garbage()             # a frame that is not JSON
await server.restart(downtime=1.0)       # kill, then listen again, same data
```

``run_command(server, line)`` applies the same faults from a line of text (the
``syncwire serve`` command reader): ``close 1013 SubscriptionsWorkerFullError``,
``silence 5``, ``refuse 3``, ``restart``, ``garbage``, …; ``help`` lists them.

Faults know sessions and servers only through the small protocols below
(``FaultTarget``, ``CommandTarget``); the bytes held by silence and delay are
held in ``outbox.py``.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from typing import Protocol

from syncwire.devserver.outbox import Outbox
from syncwire.websocket_rules import CLOSE_ABNORMAL
from syncwire.websocket_rules import CLOSE_NO_STATUS
from syncwire.websocket_rules import MAX_CLOSE_REASON_BYTES
from syncwire.websocket_rules import is_sendable_close_code

__all__ = [
    "MAX_FAULT_SECONDS",
    "CommandTarget",
    "FaultTarget",
    "Faults",
    "run_command",
]

MAX_FAULT_SECONDS: Final = 3600.0
"""The longest a lasting fault (silence, refuse, delay, drop) may be asked to last."""

_GARBAGE: Final = "this is not JSON {"
_UNKNOWN_TYPE: Final = '{"type":"NoSuchMessageType"}'


def _check_duration(seconds: float, what: str = "seconds") -> float:
    seconds = float(seconds)
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_FAULT_SECONDS):
        raise ValueError(f"{what} must be > 0 and ≤ {MAX_FAULT_SECONDS:g}, not {seconds!r}")
    return seconds


def _check_close(code: int | None, reason: str) -> None:
    if code is None or code in (CLOSE_NO_STATUS, CLOSE_ABNORMAL):
        return
    if not is_sendable_close_code(code):
        raise ValueError(
            f"close code {code} cannot be sent: use 1000–1003, 1007–1014, 3000–4999, "
            f"{CLOSE_NO_STATUS} (no status) or {CLOSE_ABNORMAL} (abort)"
        )
    if len(reason.encode("utf-8")) > MAX_CLOSE_REASON_BYTES:
        raise ValueError(f"a close reason is at most {MAX_CLOSE_REASON_BYTES} bytes of UTF-8")


class FaultTarget(Protocol):
    """What a fault needs of one session: which it is, and two ways to hurt it."""

    @property
    def session_id(self) -> str | None:
        """The ``sessionId`` its client sent in ``Connect`` (``None`` before)."""
        ...

    def inject_close(self, code: int | None, reason: str) -> None:
        """Close after the frames already queued (``CLOSE_ABNORMAL``: drop the TCP
        connection now; ``CLOSE_NO_STATUS`` or ``None``: a close frame without a code)."""
        ...

    def inject_raw(self, frame: str | bytes) -> None:
        """Send ``frame`` as it is, after the frames already queued."""
        ...


@dataclass
class _Lasting:
    """A lasting fault: active until ``until`` (event-loop time)."""

    until: float
    timer: asyncio.TimerHandle


class Faults:
    """Inject faults into a running ``DevServer`` (``server.faults``).

    Sessions are chosen by the ``sessionId`` their client sent in ``Connect``
    (``session_id=None``: every open session). Methods that hit sessions
    return how many they hit. Call them from the server's event loop.
    ``sessions()`` returns the open sessions, oldest first.
    """

    def __init__(self, sessions: Callable[[], Sequence[FaultTarget]]) -> None:
        self._sessions = sessions
        self._outboxes: weakref.WeakSet[Outbox] = weakref.WeakSet()
        self._silence: _Lasting | None = None
        self._delay: _Lasting | None = None
        self._delay_seconds = 0.0
        self._refuse: _Lasting | None = None
        self._refuse_left: int | None = None
        self._refuse_status = 503
        self._drops: dict[str | None, _Lasting] = {}

    # -- closing --

    def close_all(self, code: int | None = 1013, reason: str = "") -> int:
        """Close every open session with ``code`` and ``reason``.

        Codes websockets sends: 1000–1003, 1007–1014 and 3000–4999 (e.g. 1013
        ``SubscriptionsWorkerFullError``, 1011 ``InternalServerError``, 4040).
        ``CLOSE_NO_STATUS`` (1005) or ``None`` sends a close frame without a
        status code; ``CLOSE_ABNORMAL`` (1006) drops the TCP connection with no
        close frame (both from ``syncwire.websocket_rules``). Frames already
        queued are sent first (except with ``CLOSE_ABNORMAL``).
        """
        return self._close(code, reason, None, None)

    def close_one(
        self, code: int | None = 1013, reason: str = "", *, session_id: str | None = None
    ) -> bool:
        """Close one session (the oldest, or the one with ``session_id``); see ``close_all``."""
        return self._close(code, reason, session_id, 1) == 1

    def _close(
        self, code: int | None, reason: str, session_id: str | None, limit: int | None
    ) -> int:
        _check_close(code, reason)
        hit = 0
        for session in self._targets(session_id):
            if limit is not None and hit >= limit:
                break
            session.inject_close(code, reason)
            hit += 1
        return hit

    # -- malformed frames --

    def send_raw(self, frame: str | bytes, *, session_id: str | None = None) -> int:
        """Send ``frame`` as it is (text, or binary for ``bytes``), after queued frames."""
        sessions = self._targets(session_id)
        for session in sessions:
            session.inject_raw(frame)
        return len(sessions)

    def send_garbage(self, *, session_id: str | None = None) -> int:
        """Send a text frame that is not JSON."""
        return self.send_raw(_GARBAGE, session_id=session_id)

    def send_unknown_type(self, *, session_id: str | None = None) -> int:
        """Send valid JSON with a ``type`` no client knows."""
        return self.send_raw(_UNKNOWN_TYPE, session_id=session_id)

    def send_oversized(self, size: int = 2**24 + 1, *, session_id: str | None = None) -> int:
        """Send a ``Ping`` padded to ``size`` bytes (default: 1 byte over 16 MiB)."""
        head = '{"type":"Ping","padding":"'
        if size < len(head) + 2:
            raise ValueError(f"size must be at least {len(head) + 2} bytes")
        return self.send_raw(head + "x" * (size - len(head) - 2) + '"}', session_id=session_id)

    # -- lasting faults --

    def silence(self, seconds: float) -> None:
        """Send nothing at all for ``seconds``: no messages, no WebSocket pings or pongs,
        no handshake responses; sockets stay open and the server keeps reading.

        What would have been sent is held and goes out, in order, when the
        silence ends (after ``seconds``, or at ``lift()``).
        """
        self._silence = self._lasting(self._silence, seconds)

    def delay(self, seconds: float, duration: float) -> None:
        """For ``duration`` seconds, send every outgoing frame ``seconds`` late (order kept)."""
        self._delay_seconds = _check_duration(seconds, "delay")
        self._delay = self._lasting(self._delay, duration)

    def refuse(self, seconds: float, *, count: int | None = None, status: int = 503) -> None:
        """Answer new connections with HTTP ``status`` (before the upgrade), and
        HTTP API requests with it, for ``seconds``, or until ``count`` were refused."""
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if not 400 <= status < 600:
            raise ValueError("status must be an HTTP error status (4xx or 5xx)")
        self._refuse = self._lasting(self._refuse, seconds)
        self._refuse_left = count
        self._refuse_status = status

    def drop(self, seconds: float, *, session_id: str | None = None) -> None:
        """Discard a session's outgoing messages for ``seconds`` (``None``: every
        session's, and every HTTP API request, left unanswered and unrun).
        Messages only: WebSocket pings and close frames still go."""
        self._drops[session_id] = self._lasting(self._drops.get(session_id), seconds)

    def lift(self) -> None:
        """End every lasting fault now; held frames go out (late ones when due)."""
        self.cancel_timers()
        self._silence = self._delay = self._refuse = None
        self._drops.clear()
        self._flush()

    @property
    def active(self) -> dict[str, float]:
        """The lasting faults in force and the seconds each has left."""
        now = asyncio.get_running_loop().time()
        found: dict[str, float] = {}
        if self._silence is not None:
            found["silence"] = self._silence.until - now
        if self._delay is not None:
            found[f"delay {self._delay_seconds:g}"] = self._delay.until - now
        if self._refuse is not None:
            found["refuse"] = self._refuse.until - now
        for session_id, lasting in self._drops.items():
            found[f"drop {session_id or '*'}"] = lasting.until - now
        return found

    # -- for the server and its connections --

    @property
    def silent(self) -> bool:
        """Whether ``silence`` is in force: nothing at all may be sent."""
        return self._silence is not None

    @property
    def current_delay(self) -> float:
        """Seconds a frame written now is held (``delay``), 0 if none."""
        return self._delay_seconds if self._delay is not None else 0.0

    def watch(self, outbox: Outbox) -> None:
        """Flush ``outbox`` whenever a lasting fault ends (a weak reference)."""
        self._outboxes.add(outbox)

    def unwatch(self, outbox: Outbox) -> None:
        """Stop flushing ``outbox``."""
        self._outboxes.discard(outbox)

    def take_refusal(self) -> int | None:
        """The HTTP status to refuse a new connection with, if refusing (it counts
        against ``refuse``'s ``count``); ``None`` to let it in."""
        if self._refuse is None:
            return None
        if self._refuse_left is not None:
            self._refuse_left -= 1
            if self._refuse_left <= 0:
                self._refuse.timer.cancel()
                self._refuse = None
        return self._refuse_status

    def dropping(self, session_id: str | None) -> bool:
        """Whether messages to the session with ``session_id`` are dropped now."""
        return None in self._drops or (session_id is not None and session_id in self._drops)

    def cancel_timers(self) -> None:
        """Cancel the deadlines of lasting faults (the server stopped)."""
        for lasting in [self._silence, self._delay, self._refuse, *self._drops.values()]:
            if lasting is not None:
                lasting.timer.cancel()

    # -- inside --

    def _lasting(self, old: _Lasting | None, seconds: float) -> _Lasting:
        seconds = _check_duration(seconds)
        if old is not None:
            old.timer.cancel()
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        return _Lasting(until, loop.call_at(until, self._expire))

    def _expire(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._silence is not None and self._silence.until <= now:
            self._silence = None
        if self._delay is not None and self._delay.until <= now:
            self._delay = None
        if self._refuse is not None and self._refuse.until <= now:
            self._refuse = None
        for key in [k for k, v in self._drops.items() if v.until <= now]:
            del self._drops[key]
        self._flush()

    def _flush(self) -> None:
        for outbox in list(self._outboxes):
            outbox.flush()

    def _targets(self, session_id: str | None) -> list[FaultTarget]:
        return [s for s in self._sessions() if session_id is None or s.session_id == session_id]


# --- the command line's fault commands -----------------------------------------

COMMANDS: Final = """\
commands (one per line):
  close CODE [REASON]        close every session (1013 SubscriptionsWorkerFullError,
                             1011 InternalServerError, 4040, 1005 no status, 1006 abort)
  close-one CODE [REASON]    close the oldest session
  silence SECONDS            send nothing at all (sockets stay open)
  refuse SECONDS [COUNT]     answer new connections with HTTP 503
  delay SECONDS DURATION     send every frame SECONDS late, for DURATION seconds
  drop SECONDS               discard every session's messages
  garbage                    send a frame that is not JSON
  unknown                    send a message of an unknown type
  oversized [BYTES]          send an oversized frame (default 16 MiB + 1)
  restart [DOWNTIME]         kill every connection and listen again, same data
  lift                       end silence, refuse, delay and drop now
  status                     sessions and active faults
  help                       this list
  quit                       stop the server (`syncwire serve`)
"""


class CommandTarget(Protocol):
    """What ``run_command`` needs of a server (a ``DevServer``)."""

    @property
    def faults(self) -> Faults: ...
    @property
    def url(self) -> str: ...
    @property
    def session_count(self) -> int: ...
    async def restart(self, *, downtime: float = 0.0) -> None: ...


async def run_command(server: CommandTarget, line: str) -> str:
    """Apply one fault command (see ``COMMANDS``) to ``server``; returns a reply line.

    Raises ``ValueError`` for an unknown command or bad arguments.
    """
    words = line.split()
    if not words:
        return ""
    name, args = words[0].lower(), words[1:]
    faults = server.faults

    def number(index: int, default: float | None = None) -> float:
        if index < len(args):
            return float(args[index])
        if default is None:
            raise ValueError(f"{name}: missing argument {index + 1}")
        return default

    match name:
        case "close" | "close-one":
            code = int(number(0))
            reason = " ".join(args[1:])
            if name == "close":
                return f"closed {faults.close_all(code, reason)} session(s) with {code} {reason}"
            return f"closed {int(faults.close_one(code, reason))} session(s) with {code} {reason}"
        case "silence":
            faults.silence(number(0))
            return f"silent for {number(0):g} s"
        case "refuse":
            count = int(args[1]) if len(args) > 1 else None
            faults.refuse(number(0), count=count)
            return f"refusing new connections for {number(0):g} s"
        case "delay":
            faults.delay(number(0), number(1))
            return f"delaying frames by {number(0):g} s for {number(1):g} s"
        case "drop":
            faults.drop(number(0))
            return f"dropping messages for {number(0):g} s"
        case "garbage":
            return f"sent garbage to {faults.send_garbage()} session(s)"
        case "unknown":
            return f"sent an unknown message type to {faults.send_unknown_type()} session(s)"
        case "oversized":
            size = int(number(0, 2**24 + 1))
            return f"sent {size} bytes to {faults.send_oversized(size)} session(s)"
        case "restart":
            downtime = number(0, 0.0)
            await server.restart(downtime=downtime)
            return f"restarted on {server.url}"
        case "lift":
            faults.lift()
            return "lifted every fault"
        case "status":
            active = ", ".join(f"{k} ({v:.1f} s left)" for k, v in faults.active.items())
            return f"{server.session_count} session(s); faults: {active or 'none'}"
        case "help":
            return COMMANDS.rstrip("\n")
    raise ValueError(f"unknown command {name!r}; try `help`")
