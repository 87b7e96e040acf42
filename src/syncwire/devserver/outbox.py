"""A connection's output as the faults say: held while the server is silent, late under a delay.

Why apart: ``faults.py`` decides which faults are in force; this is the
byte-level mechanism under websockets' protocol, a transport wrapper the
server installs on every connection it accepts. It asks an ``OutputRule``
(the server's ``Faults``) whether bytes may go now.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any
from typing import Protocol
from typing import cast

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

__all__ = ["FaultableConnection", "Outbox", "OutputRule", "connection_factory"]


class OutputRule(Protocol):
    """What an ``Outbox`` asks before it sends (the server's ``Faults``)."""

    @property
    def silent(self) -> bool:
        """Whether nothing at all may be sent now."""
        ...

    @property
    def current_delay(self) -> float:
        """Seconds every frame written now is held before it goes out."""
        ...

    def watch(self, outbox: Outbox) -> None:
        """Call ``outbox.flush()`` whenever a fault ends, until ``unwatch``."""
        ...

    def unwatch(self, outbox: Outbox) -> None:
        """Stop flushing ``outbox`` (its connection is gone)."""
        ...


class Outbox:
    """A connection's transport as its protocol writes to it: bytes are held
    while the server is silent, and wait out a delay, in order."""

    def __init__(self, transport: asyncio.Transport, rule: OutputRule) -> None:
        self._transport = transport
        self._rule = rule
        self._held: deque[tuple[float, bytes | None]] = deque()  # None: write_eof()
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._empty = asyncio.Event()  # nothing held
        self._empty.set()
        rule.watch(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    @property
    def holding(self) -> bool:
        """Whether bytes written now would not go out at once."""
        return bool(self._held) or self._rule.silent or self._rule.current_delay > 0

    @property
    def held(self) -> list[tuple[float, bytes | None]]:
        """What is held: (loop time due, bytes, or ``None`` for an end of stream), in order."""
        return list(self._held)

    async def wait_sent(self) -> None:
        """Return once nothing is held (bound it: a silence holds bytes)."""
        await self._empty.wait()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.holding:
            self._transport.write(data)
            return
        self._held.append((self._loop.time() + self._rule.current_delay, bytes(data)))
        self._empty.clear()
        self.flush()

    def write_eof(self) -> None:
        if not self.holding:
            self._transport.write_eof()
            return
        self._held.append((self._loop.time() + self._rule.current_delay, None))
        self._empty.clear()
        self.flush()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def flush(self) -> None:
        """Send what is due, unless silent; come back when the next is due."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._rule.silent or self._transport.is_closing():
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
        else:
            self._empty.set()

    def _discard(self) -> None:
        self._held.clear()
        self._empty.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._rule.unwatch(self)

    def abort(self) -> None:
        self._discard()
        self._transport.abort()

    def close(self) -> None:
        self._discard()
        self._transport.close()


class FaultableConnection(ServerConnection):
    """A ``ServerConnection`` whose output goes through the server's faults."""

    rule: OutputRule  # set by connection_factory, before serving

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        outbox = Outbox(cast(asyncio.Transport, transport), self.rule)
        super().connection_made(cast(asyncio.Transport, outbox))

    @property
    def outbox(self) -> Outbox:
        return cast(Outbox, self.transport)

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
                    if not self.outbox.holding:  # a fault began after the ping: not the client
                        await self.close(1011, "keepalive ping timeout")
                        return


def connection_factory(rule: OutputRule) -> Callable[..., FaultableConnection]:
    """A ``create_connection`` for ``websockets.serve`` whose output follows ``rule``."""

    def create(*args: Any, **kwargs: Any) -> FaultableConnection:
        connection = FaultableConnection(*args, **kwargs)
        connection.rule = rule
        return connection

    return create
