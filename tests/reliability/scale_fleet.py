"""Many ``WebSocketManager``\\ s in one process, for the scale tests.

A ``Fleet`` is a set of managers on one URL, each sending ``Connect`` when its
socket opens; the scale server's answer is the first message its
``on_message`` sees, which marks it synced. The fleet tracks which managers
have not synced since ``expect_resync()``, so a test can wait for "all back".
``CountingTransport`` records the loop time of every connection attempt,
refused ones included, which the server could not see.

``python -m tests.reliability.scale_fleet --url URL --count N`` measures the
memory of N idle, synced managers in a fresh interpreter (so that the test
process's heap, with whatever earlier tests freed, does not hide growth) and
prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
from collections.abc import Callable
from collections.abc import Sequence
from typing import Final

from syncwire import ConnectionState
from syncwire import OnMessageResponse
from syncwire import ReconnectMetadata
from syncwire import WebSocketManager
from syncwire.protocol import ServerMessage
from syncwire.protocol.messages import Connect
from syncwire.transport import Transport
from syncwire.transport import TransportConnection
from tests.reliability.scale_server import raise_nofile

SYNCED: Final = OnMessageResponse(has_synced_past_last_reconnect=True)
BATCH: Final = 100
"""Managers opened at a time when a fleet is built (the initial connect is not a
storm under test)."""
WARM_UP: Final = 20


class CountingTransport:
    """A transport that records when each connection attempt starts (loop time)."""

    __slots__ = ("attempts", "inner")

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.attempts: list[float] = []

    async def connect(self, url: str) -> TransportConnection:
        self.attempts.append(asyncio.get_running_loop().time())
        return await self.inner.connect(url)


class _Peer:
    """One manager's callbacks: ``Connect`` on open; the first answer means synced."""

    __slots__ = ("fleet", "index", "manager")

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.manager: WebSocketManager | None = None

    def on_open(self, metadata: ReconnectMetadata) -> None:
        assert self.manager is not None  # set before the loop runs the reader task
        self.manager.send_message(
            Connect(
                connection_count=metadata.connection_count,
                last_close_reason=metadata.last_close_reason,
                client_ts=metadata.client_ts,
                session_id=f"scale-{self.index}",
            )
        )

    def on_message(self, message: ServerMessage) -> OnMessageResponse:
        self.fleet._mark_synced(self.index)
        return SYNCED


class Fleet:
    """Managers on ``url`` with one transport and one source of jitter."""

    def __init__(
        self,
        url: str,
        *,
        transport: Transport | None = None,
        rand: Callable[[], float] = random.random,
        on_state_change: Callable[[ConnectionState], None] | None = None,
    ) -> None:
        self.url = url
        self.transport = transport
        self.rand = rand
        self.on_state_change = on_state_change
        self.managers: list[WebSocketManager] = []
        self._unsynced: set[int] = set()
        self._all_synced: asyncio.Future[None] | None = None

    @property
    def unsynced(self) -> int:
        """Managers not synced since they were added or since ``expect_resync()``."""
        return len(self._unsynced)

    def add(self, count: int) -> None:
        """Start ``count`` more managers (they connect at once)."""
        start = len(self.managers)
        self._unsynced.update(range(start, start + count))
        for index in range(start, start + count):
            peer = _Peer(self, index)
            peer.manager = WebSocketManager(
                self.url,
                on_open=peer.on_open,
                on_message=peer.on_message,
                on_state_change=self.on_state_change,
                transport=self.transport,
                rand=self.rand,
            )
            self.managers.append(peer.manager)

    async def grow(self, count: int, batch: int = BATCH) -> None:
        """Add ``count`` managers ``batch`` at a time, each batch synced before the next."""
        for start in range(0, count, batch):
            self.add(min(batch, count - start))
            await self.synced()

    def expect_resync(self) -> None:
        """From now on, every manager counts as unsynced until its next answer."""
        self._unsynced = set(range(len(self.managers)))

    async def synced(self) -> None:
        """Wait until no manager is unsynced; bound it with ``asyncio.timeout``."""
        if not self._unsynced:
            return
        self._all_synced = asyncio.get_running_loop().create_future()
        try:
            await self._all_synced
        finally:
            self._all_synced = None

    async def terminate(self) -> None:
        """Terminate every manager; returns once none has a task, timer or socket."""
        managers, self.managers = self.managers, []
        self._unsynced.clear()
        await asyncio.gather(*(manager.terminate() for manager in managers))

    def _mark_synced(self, index: int) -> None:
        self._unsynced.discard(index)
        waiter = self._all_synced
        if not self._unsynced and waiter is not None and not waiter.done():
            waiter.set_result(None)


def rss_bytes() -> int:
    """Resident set size of this process (``/proc/self/statm``, field 2)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- idle memory


async def measure_idle(url: str, count: int) -> dict[str, float]:
    """RSS growth per idle, synced manager on the default transport, after gc."""
    async with asyncio.timeout(120.0 + count * 0.05):
        warm = Fleet(url)  # lazy imports, caches, the allocator's first arenas
        await warm.grow(WARM_UP)
        await warm.terminate()
        del warm
        gc.collect()
        before = rss_bytes()
        fleet = Fleet(url)
        await fleet.grow(count)
        await asyncio.sleep(0.2)  # the handshakes' last callbacks
        gc.collect()
        after = rss_bytes()
        ready = sum(manager.socket_state() == "ready" for manager in fleet.managers)
        await fleet.terminate()
    return {"count": count, "ready": ready, "rss_growth": after - before}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Memory of N idle managers.")
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    if not raise_nofile(args.count + 256):
        print(f"cannot allow {args.count + 256} open files", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(measure_idle(args.url, args.count))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
