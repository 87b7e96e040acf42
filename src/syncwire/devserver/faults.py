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
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import EXTERNAL_CLOSE_CODES

if TYPE_CHECKING:
    from syncwire.devserver.server import DevServer, _Session

__all__ = [
    "ABORT",
    "MAX_FAULT_SECONDS",
    "NO_STATUS",
    "Faults",
    "run_command",
]

MAX_FAULT_SECONDS: Final = 3600.0
"""The longest a lasting fault (silence, refuse, delay, drop) may be asked to last."""
NO_STATUS: Final = 1005
"""``close_*`` code for a close frame without a status code (the client sees 1005)."""
ABORT: Final = 1006
"""``close_*`` code for an aborted TCP connection, no close frame (the client sees 1006)."""

_GARBAGE: Final = "this is not JSON {"
_UNKNOWN_TYPE: Final = '{"type":"NoSuchMessageType"}'


def _check_duration(seconds: float, what: str = "seconds") -> float:
    seconds = float(seconds)
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_FAULT_SECONDS):
        raise ValueError(f"{what} must be > 0 and ≤ {MAX_FAULT_SECONDS:g}, not {seconds!r}")
    return seconds


def _check_close(code: int | None, reason: str) -> None:
    if code is None or code in (NO_STATUS, ABORT):
        return
    if not (code in EXTERNAL_CLOSE_CODES or 3000 <= code < 5000):
        raise ValueError(
            f"close code {code} cannot be sent: use one of "
            f"{sorted(int(c) for c in EXTERNAL_CLOSE_CODES)}, 3000–4999, "
            f"{NO_STATUS} (no status) or {ABORT} (abort)"
        )
    if len(reason.encode("utf-8")) > 123:
        raise ValueError("a close reason is at most 123 bytes of UTF-8")


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
    """

    def __init__(self, server: DevServer) -> None:
        self._server = server
        self._outboxes: weakref.WeakSet[_Outbox] = weakref.WeakSet()
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
        ``NO_STATUS`` (1005) or ``None`` sends a close frame without a status
        code; ``ABORT`` (1006) drops the TCP connection with no close frame.
        Frames already queued are sent first (except with ``ABORT``).
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
        """Answer new connections with HTTP ``status`` (before the upgrade) for
        ``seconds``, or until ``count`` connections were refused."""
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if not 400 <= status < 600:
            raise ValueError("status must be an HTTP error status (4xx or 5xx)")
        self._refuse = self._lasting(self._refuse, seconds)
        self._refuse_left = count
        self._refuse_status = status

    def drop(self, seconds: float, *, session_id: str | None = None) -> None:
        """Discard a session's outgoing messages for ``seconds`` (``None``: every
        session's). Messages only: WebSocket pings and close frames still go."""
        self._drops[session_id] = self._lasting(self._drops.get(session_id), seconds)

    def lift(self) -> None:
        """End every lasting fault now; held frames go out (late ones when due)."""
        for lasting in [self._silence, self._delay, self._refuse, *self._drops.values()]:
            if lasting is not None:
                lasting.timer.cancel()
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

    # -- for the server --

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

    @property
    def _silent(self) -> bool:
        return self._silence is not None

    @property
    def _current_delay(self) -> float:
        return self._delay_seconds if self._delay is not None else 0.0

    def _refusal(self) -> int | None:
        """The HTTP status to refuse a new connection with, if refusing."""
        if self._refuse is None:
            return None
        if self._refuse_left is not None:
            self._refuse_left -= 1
            if self._refuse_left <= 0:
                self._refuse.timer.cancel()
                self._refuse = None
        return self._refuse_status

    def _dropping(self, session_id: str | None) -> bool:
        return None in self._drops or (session_id is not None and session_id in self._drops)

    def _targets(self, session_id: str | None) -> list[_Session]:
        sessions = self._server._open_sessions()
        if session_id is None:
            return sessions
        return [s for s in sessions if s.session_id == session_id]

    def _cancel_timers(self) -> None:
        for lasting in [self._silence, self._delay, self._refuse, *self._drops.values()]:
            if lasting is not None:
                lasting.timer.cancel()


class _Outbox:
    """A connection's transport as its protocol writes to it: bytes are held
    while the server is silent, and wait out a delay, in order."""

    def __init__(self, transport: asyncio.Transport, faults: Faults) -> None:
        self._transport = transport
        self._faults = faults
        self._held: deque[tuple[float, bytes | None]] = deque()  # None: write_eof()
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        faults._outboxes.add(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    @property
    def holding(self) -> bool:
        """Whether bytes written now would not go out at once."""
        return bool(self._held) or self._faults._silent or self._faults._current_delay > 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.holding:
            self._transport.write(data)
            return
        self._held.append((self._loop.time() + self._faults._current_delay, bytes(data)))
        self.flush()

    def write_eof(self) -> None:
        if not self.holding:
            self._transport.write_eof()
            return
        self._held.append((self._loop.time() + self._faults._current_delay, None))
        self.flush()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def flush(self) -> None:
        """Send what is due, unless silent; come back when the next is due."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._faults._silent or self._transport.is_closing():
            return
        now = self._loop.time()
        while self._held and self._held[0][0] <= now:
            data = self._held.popleft()[1]
            if data is None:
                if self._transport.can_write_eof():
                    self._transport.write_eof()
            else:
                self._transport.write(data)
        if self._held:
            self._timer = self._loop.call_at(self._held[0][0], self.flush)

    def _discard(self) -> None:
        self._held.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._faults._outboxes.discard(self)

    def abort(self) -> None:
        self._discard()
        self._transport.abort()

    def close(self) -> None:
        self._discard()
        self._transport.close()


class FaultableConnection(ServerConnection):
    """A ``ServerConnection`` whose output goes through the server's faults."""

    faults: Faults  # set by the DevServer before serving

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        outbox = _Outbox(cast(asyncio.Transport, transport), self.faults)
        super().connection_made(cast(asyncio.Transport, outbox))

    @property
    def outbox(self) -> _Outbox:
        return cast(_Outbox, self.transport)

    def abort(self) -> None:
        """Drop the TCP connection now: nothing held is sent, no close frame."""
        self.outbox.abort()

    async def keepalive(self) -> None:
        """WebSocket pings as websockets sends them, but none while output is held
        (a silent server sends no pings, and a held ping must not time out)."""
        interval = self.ping_interval or 5.0
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                if self.outbox.holding:
                    continue
                pong = await self.ping()
                try:
                    async with asyncio.timeout(self.ping_timeout):
                        await pong
                except TimeoutError:
                    if not self._held_since_ping():  # a fault began after the ping: not the client
                        await self.close(1011, "keepalive ping timeout")
                        return

    def _held_since_ping(self) -> bool:
        return self.outbox.holding


def connection_factory(faults: Faults) -> Callable[..., FaultableConnection]:
    """A ``create_connection`` for ``websockets.serve`` that routes output through ``faults``."""

    def create(*args: Any, **kwargs: Any) -> FaultableConnection:
        connection = FaultableConnection(*args, **kwargs)
        connection.faults = faults
        return connection

    return create


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


async def run_command(server: DevServer, line: str) -> str:
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
