"""A raw-TCP WebSocket server on 127.0.0.1 that breaks RFC 6455 on purpose.

``websockets`` refuses to send a malformed frame, so the hostile server speaks
the protocol by hand on asyncio streams: it reads the opening handshake,
answers it itself (``Sec-WebSocket-Accept``, optionally permessage-deflate),
and writes hand-built bytes. Connection 0 runs a hostile ``Behaviour``; every
later connection is well behaved (handshake, then a ``{"type":"Ping"}`` text
frame every ``PING_INTERVAL`` once the client's first frame arrived), so a test
sees the clean reconnect. Each connection is recorded as an ``Attempt``: when
it arrived, when the fault was written, the close code the client sent and
when the client ended the TCP connection.

No tests live here: ``test_hostile_frames.py`` holds the cases' expectations.
Run as ``python -m tests.reliability.hostile_server URL INACTIVITY WINDOW KIND``, this
module is instead the client side of a memory measurement (``probe``): a child
process whose peak RSS belongs to one case alone, on the transport named ``KIND``
(``tests/transports.py``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import struct
import sys
import zlib
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Final

from tests.helpers import now
from tests.helpers import until

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING_MESSAGE: Final = b'{"type":"Ping"}'
"""A Convex ``Ping`` message: what a healthy server sends to keep the client alive."""
PING_INTERVAL: Final = 0.1
STOP_AFTER: Final = 10.0
"""Longest a connection is kept after its behaviour ended, waiting for the client."""
_MAX_REQUEST: Final = 64 * 1024
_SYNC_TAIL: Final = b"\x00\x00\xff\xff"


# --------------------------------------------------------------------------- frames


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    declared: int | None = None,
) -> bytes:
    """One frame, built byte by byte: any flags, a mask a server must not use, or a
    ``declared`` length that differs from the payload that follows."""
    length = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)])
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if mask is not None:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def deflate_bomb(size: int) -> bytes:
    """A permessage-deflate payload that inflates to ``size`` zero bytes.

    Built without ever holding ``size`` bytes: each MiB of zeros compresses
    (with a full flush, so the block stands alone) to the same ~1 KB, and the
    payload is that block repeated. The trailing ``00 00 ff ff`` is removed as
    RFC 7692 requires; the receiver adds it back.
    """
    mib = 1 << 20

    def block(count: int) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(bytes(count)) + compressor.flush(zlib.Z_FULL_FLUSH)

    whole, rest = divmod(size, mib)
    data = block(mib) * whole + (block(rest) if rest else b"")
    assert data.endswith(_SYNC_TAIL)
    return data[: -len(_SYNC_TAIL)]


def inflated_size(payload: bytes, limit: int) -> int:
    """How many bytes ``payload`` inflates to, counted in 1 MiB steps (a check on the bomb)."""
    decoder = zlib.decompressobj(-15)
    total, data = 0, payload + _SYNC_TAIL
    while data and total <= limit:
        total += len(decoder.decompress(data, 1 << 20))
        data = decoder.unconsumed_tail
    return total


# --------------------------------------------------------------------------- connections


@dataclass(eq=False)
class Attempt:
    """One TCP connection the server accepted: a connection attempt by the client."""

    index: int
    at: float
    """Loop time the connection was accepted."""
    request: dict[str, str] = field(default_factory=dict)
    """The opening handshake's headers, names lower-cased (empty if none arrived)."""
    fault_at: float | None = None
    """Loop time the hostile bytes were (first) written."""
    client_frames: list[tuple[int, bytes]] = field(default_factory=list)
    """Every frame the client sent (opcode, unmasked payload), in order, except pongs."""
    pongs: int = 0
    """How many pong frames the client sent (counted, not kept: a ping flood makes many)."""
    close_code: int | None = None
    """The code in the client's close frame (1005 for an empty one), if one came."""
    close_reason: str | None = None
    """The reason in the client's close frame (``""`` if none), if one came."""
    ended_at: float | None = None
    """Loop time the client ended the TCP connection (EOF or reset)."""
    error: str | None = None
    """Why the client's bytes could not be parsed, if they could not (a client bug)."""
    first_text: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the first text frame arrives or the connection ends."""


class Conn:
    """The server's side of one connection; what a ``Behaviour`` gets to write with."""

    def __init__(
        self, attempt: Attempt, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.attempt = attempt
        self.reader = reader
        self.writer = writer
        self._frames: asyncio.Task[None] | None = None

    @property
    def ended(self) -> bool:
        return self.attempt.ended.is_set()

    def fault(self) -> None:
        """Mark now as the moment the hostile input started (only the first call counts)."""
        if self.attempt.fault_at is None:
            self.attempt.fault_at = now()

    async def read_request(self) -> bool:
        """Read the opening handshake request; ``False`` if the client gave up first."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            self._end()
            return False
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.attempt.request[name.strip().lower()] = value.strip()
        return True

    def accept_key(self) -> str:
        key = self.attempt.request.get("sec-websocket-key", "").encode()
        return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()  # noqa: S324 - RFC 6455

    def handshake_response(self, *, deflate: bool = False, accept: str | None = None) -> bytes:
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {self.accept_key() if accept is None else accept}",
        ]
        if deflate:
            offered = self.attempt.request.get("sec-websocket-extensions", "")
            assert "permessage-deflate" in offered, "the client offered no compression"
            lines.append("Sec-WebSocket-Extensions: permessage-deflate")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def accept(self, *, deflate: bool = False) -> None:
        """Complete the handshake and start reading the client's frames."""
        await self.write(self.handshake_response(deflate=deflate))
        self._frames = asyncio.create_task(self._read_frames())

    async def greeted(self) -> bool:
        """Wait for the client's first text frame (its Connect); ``False`` if it left."""
        await self.attempt.progress.wait()
        return self.attempt.first_text.is_set()

    async def stop_reading(self) -> None:
        """Read nothing more from the client (its writes then pile up on its side)."""
        if self._frames is not None:
            self._frames.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._frames
            self._frames = None

    async def write(self, data: bytes) -> None:
        """Write and wait for the kernel to take it (so a flood cannot fill our memory).

        Raises ``ConnectionResetError`` once the socket is closing (a write then would
        only make asyncio log), which ends the behaviour.
        """
        if self.writer.is_closing():
            raise ConnectionResetError("the connection is closing")
        self.writer.write(data)
        await self.writer.drain()

    async def send_text(self, data: bytes) -> None:
        await self.write(frame(TEXT, data))

    def write_eof(self) -> None:
        if self.writer.can_write_eof():
            self.writer.write_eof()

    async def wait_ended(self, seconds: float = STOP_AFTER) -> None:
        """Wait (bounded) until the client has ended the TCP connection."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.attempt.ended.wait()

    def _end(self) -> None:
        if not self.attempt.ended.is_set():
            self.attempt.ended_at = now()
            self.attempt.ended.set()
            self.attempt.progress.set()

    async def _read_frames(self) -> None:
        """Record the client's frames; answer its close frame by closing TCP, as a server does."""
        read = self.reader.readexactly
        try:
            while True:
                head1, head2 = await read(2)
                opcode, length = head1 & 0xF, head2 & 0x7F
                if not head2 & 0x80:
                    self.attempt.error = "an unmasked client frame"
                    break
                if length == 126:
                    (length,) = struct.unpack("!H", await read(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await read(8))
                mask = await read(4)
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await read(length)))
                if opcode == PONG:
                    self.attempt.pongs += 1
                    continue
                self.attempt.client_frames.append((opcode, payload))
                if opcode == TEXT:
                    self.attempt.first_text.set()
                    self.attempt.progress.set()
                elif opcode == CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self.attempt.close_code = code
                    self.attempt.close_reason = payload[2:].decode(errors="replace")
                    self.writer.close()  # the server ends TCP after the close frame
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        self._end()  # not when cancelled: stop_reading() does not end the connection

    async def finish(self) -> None:
        """After the behaviour: wait for the client to leave, then close our side."""
        if self._frames is not None:
            await self.wait_ended()
        else:
            # Nobody reads: notice the client leaving by reading to EOF ourselves.
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(STOP_AFTER):
                    while await self.reader.read(65536):
                        pass
            self._end()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop reading and close the socket; safe to call twice, and while cancelled."""
        if self._frames is not None:
            self._frames.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._frames
        self.writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()


Behaviour = Callable[[Conn], Awaitable[None]]


async def keep_pinging(conn: Conn) -> None:
    """Be a healthy Convex server: a Ping message every PING_INTERVAL until the end."""
    while not conn.ended:
        await conn.send_text(PING_MESSAGE)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PING_INTERVAL):
                await conn.attempt.ended.wait()


async def well_behaved(conn: Conn) -> None:
    """A healthy Convex server: handshake, then a Ping message every PING_INTERVAL."""
    await conn.accept()
    if not await conn.greeted():
        return
    await keep_pinging(conn)


# --------------------------------------------------------------------------- behaviours


def after_connect(
    *frames: bytes, deflate: bool = False, then_eof: bool = False, then_healthy: bool = False
) -> Behaviour:
    """Handshake, wait for the client's Connect, then write ``frames`` as one fault;
    then end the stream (``then_eof``) or keep pinging like a healthy server."""

    async def behave(conn: Conn) -> None:
        await conn.accept(deflate=deflate)
        if not await conn.greeted():
            return
        conn.fault()
        await conn.write(b"".join(frames))
        if then_eof:
            conn.write_eof()
        elif then_healthy:
            await keep_pinging(conn)

    return behave


def handshake_reply(data: bytes, *, close: bool = True) -> Behaviour:
    """Answer the handshake request with ``data`` (not a valid 101), then hang up."""

    async def behave(conn: Conn) -> None:
        conn.fault()
        await conn.write(data)
        if close:
            conn.write_eof()

    return behave


def wrong_accept() -> Behaviour:
    """A 101 whose ``Sec-WebSocket-Accept`` does not answer the client's key."""

    async def behave(conn: Conn) -> None:
        conn.fault()
        await conn.write(conn.handshake_response(accept=base64.b64encode(bytes(20)).decode()))

    return behave


def silent() -> Behaviour:
    """Accept TCP and never answer the handshake: only the inactivity timer ends it."""

    async def behave(conn: Conn) -> None:
        conn.fault()

    return behave


def flood(
    unit: bytes, *, seconds: float, first: bytes = b"", then: bytes = b"", read: bool = True
) -> Behaviour:
    """After the client's Connect, write ``first``, then ``unit`` over and over for at
    most ``seconds`` (or until the client leaves), each batch awaited, then ``then``.
    With ``read=False`` the server stops reading, so the client's answers pile up."""

    async def behave(conn: Conn) -> None:
        await conn.accept()
        if not await conn.greeted():
            return
        if not read:
            await conn.stop_reading()
        conn.fault()
        batch = unit * max(1, 16384 // len(unit))
        deadline = now() + seconds
        with contextlib.suppress(ConnectionError):
            await conn.write(first)
            while not conn.ended and now() < deadline:
                await conn.write(batch)
            if then and not conn.ended:
                await conn.write(then)

    return behave


def every(unit: bytes, interval: float) -> Behaviour:
    """After the client's Connect, write ``unit`` every ``interval`` until the client leaves:
    a server that looks alive at the WebSocket level (``unit`` a ping) but says nothing."""

    async def behave(conn: Conn) -> None:
        await conn.accept()
        if not await conn.greeted():
            return
        conn.fault()
        while not conn.ended:
            await conn.write(unit)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await conn.attempt.ended.wait()

    return behave


# --------------------------------------------------------------------------- server


class HostileServer:
    """Connection 0 runs ``hostile``; later ones run ``well_behaved``."""

    def __init__(self, hostile: Behaviour) -> None:
        self.hostile = hostile
        self.attempts: list[Attempt] = []
        self.url = ""
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        attempt = Attempt(index=len(self.attempts), at=now())
        self.attempts.append(attempt)
        conn = Conn(attempt, reader, writer)
        try:
            if await conn.read_request():
                behaviour = self.hostile if attempt.index == 0 else well_behaved
                with contextlib.suppress(ConnectionError):
                    await behaviour(conn)
            await conn.finish()
        except asyncio.CancelledError:
            # Python 3.11's start_server logs an error for a handler that ends
            # cancelled; stop() only cancels one that outlived an aborted socket.
            pass
        finally:
            try:
                await conn.shutdown()
            finally:
                self._handlers.discard(task)
                self._writers.discard(writer)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=_MAX_REQUEST)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/api/sync"

    async def stop(self) -> None:
        """Close the listener and every connection; handlers end on their own once
        their socket is aborted (bounded; a straggler is cancelled)."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._handlers:
            _, late = await asyncio.wait(list(self._handlers), timeout=2.0)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        await self._server.wait_closed()
        self._server = None


@contextlib.asynccontextmanager
async def hostile_server(hostile: Behaviour) -> AsyncIterator[HostileServer]:
    """Serve ``hostile`` on connection 0 until the block ends; always stopped."""
    server = HostileServer(hostile)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# --------------------------------------------------------------------------- memory probe


def _status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise LookupError(name)


def _reset_peak() -> int:
    """Reset VmHWM to the current RSS where the kernel allows it; the current RSS (KiB)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


async def probe(url: str, inactivity: float, window: float, kind: str) -> None:
    """The child's side of a memory measurement: a manager on the transport ``kind``
    meets the hostile server.

    Prints one JSON line: the peak RSS growth (VmHWM, from just before connecting)
    and why the manager reconnected (``null`` if it did not). With ``window`` 0 it
    waits (bounded) for the reconnect; otherwise it watches for ``window`` seconds.
    """
    from tests.manager.scripted_server import scaled_manager  # the client side only
    from tests.transports import kind_named

    transport = kind_named(kind).make()  # configuration only: nothing is allocated yet
    baseline = _reset_peak()
    recorder = scaled_manager(url, inactivity_threshold=inactivity, transport=transport)
    if window:
        await asyncio.sleep(window)
    else:
        await until(
            lambda: len(recorder.opens) >= 2, "the reconnect", deadline=inactivity + STOP_AFTER
        )
    reason = recorder.opens[1][1].last_close_reason if len(recorder.opens) > 1 else None
    # Printed before the old socket's close ends (a flooded one takes the close
    # timeout): the parent then stops its server, which ends that socket at once.
    print(json.dumps({"growth_kib": _status_kib("VmHWM") - baseline, "reason": reason}))
    sys.stdout.flush()
    await recorder.manager.terminate()


if __name__ == "__main__":
    asyncio.run(probe(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]))
