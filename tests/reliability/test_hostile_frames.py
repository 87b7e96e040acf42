"""A hostile server's raw frames end in a clean reconnect (issue #6).

``hostile_server.py`` writes hand-built bytes that ``websockets`` itself would
never send: bad UTF-8, reserved opcodes and RSV bits, a masked server frame,
broken control frames, an orphan continuation, bad close frames, a declared
length of 2^63, a truncated frame, broken handshakes, a permessage-deflate
bomb, floods of fragments and pings. For each, on real loopback sockets with
every shipped transport in turn (``tests/transports.py``; its close timeout
scaled down like the thresholds), the ``WebSocketManager``:

- does not crash: nothing escapes, asyncio logs no error (the autouse fixture
  in ``tests/conftest.py``), the manager logs no "unexpected error";
- closes that socket (with the close code RFC 6455 asks for, where it can send one);
- connects again after its backoff delay, reports the right close reason to
  ``on_open``, and is ``ready`` on the next connection; how soon is a measured
  goal (within ``SLACK`` of the delay), asserted in the ``--full`` tier: the fast
  tier allows ``LOADED_SLACK``, which only a reconnect that never comes misses;
- never hangs: every wait is bounded.

A few inputs look hostile but are valid (UTF-8 split mid-character across
continuation frames, a ping between fragments, a compressed message, the most
fragments the transport allows): those must be delivered, with no reconnect.

Memory is measured in a child process, so that a peak belongs to one case alone
(``hostile_server.probe``): the deflate bomb must cost at most about the message
size limit, whatever it inflates to; a ping flood whose pongs the server never
reads must not make the client buffer without bound.

Bugs found here and fixed: WebSocket pings counted as activity, a ping flood
whose pongs are never read grew the write buffer without bound, and too many
fragments left reading paused so the reconnect waited for the close timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Final

import pytest

from syncwire.backoff import CLIENT
from syncwire.backoff import UNKNOWN
from syncwire.protocol import Connect
from syncwire.protocol import MutationResponse
from syncwire.protocol import ServerMessage
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.transport.common import MAX_FRAGMENTS
from syncwire.transport.common import MAX_WRITE_BUFFER
from tests.helpers import Recorder
from tests.helpers import until
from tests.manager.scripted_server import expected_delay
from tests.manager.scripted_server import scaled_manager
from tests.reliability.conftest import Figure
from tests.reliability.hostile_server import BINARY
from tests.reliability.hostile_server import CLOSE
from tests.reliability.hostile_server import CONT
from tests.reliability.hostile_server import PING
from tests.reliability.hostile_server import PING_INTERVAL
from tests.reliability.hostile_server import PING_MESSAGE
from tests.reliability.hostile_server import TEXT
from tests.reliability.hostile_server import Attempt
from tests.reliability.hostile_server import Behaviour
from tests.reliability.hostile_server import Conn
from tests.reliability.hostile_server import after_connect
from tests.reliability.hostile_server import close_payload
from tests.reliability.hostile_server import deflate_bomb
from tests.reliability.hostile_server import every
from tests.reliability.hostile_server import flood
from tests.reliability.hostile_server import frame
from tests.reliability.hostile_server import handshake_reply
from tests.reliability.hostile_server import hostile_server
from tests.reliability.hostile_server import inflated_size
from tests.reliability.hostile_server import silent
from tests.reliability.hostile_server import wrong_accept
from tests.transports import READS_IN_BOUNDED_CHUNKS
from tests.transports import Kind

ROOT: Final = Path(__file__).resolve().parents[2]
"""The repository, where a child process finds ``tests``."""
MIB: Final = 1 << 20
LIMIT: Final = 64 * MIB
"""The default ``max_message_size`` (after decompression)."""
SLACK: Final = 0.5
"""The goal (``--full``): how much later than its backoff delay a reconnect may come."""
LOADED_SLACK: Final = 5.0
"""The fast tier's bound on the same: a stall of a loaded, shared machine is no failure."""
INACTIVITY: Final = 1.5
"""The inactivity threshold where a case should end sooner: longer than any expected
reconnect, so a stalled socket shows up as a wrong reason instead of being rescued."""
SHORT_INACTIVITY: Final = 0.3
"""The threshold where only inactivity can end the socket (silence, a ping flood)."""
CLOSE_TIMEOUT: Final = 1.0
"""The transport's closing-handshake timeout (5 s by default), scaled down like the rest."""
QUIET: Final = 0.3
"""How long a valid case watches for a reconnect that must not come."""
CASE_TIMEOUT: Final = 20.0
"""Bound on a whole case: a hang fails here, never runs forever."""

# The manager logs these only when the transport broke its contract or the code has
# a bug: a clean reconnect never does.
_UNEXPECTED_LOG = ("unexpected error", "failed to connect", " raised")


def message(result: str) -> MutationResponse:
    """A server message that reaches ``on_message`` (a response to no request: ignored)."""
    return MutationResponse(request_id=7, success=True, result=result, ts=1, log_lines=())


def encoded(msg: ServerMessage) -> bytes:
    return encode_server_message(msg).encode()


def deflated(data: bytes) -> bytes:
    """``data`` as one permessage-deflate message payload (RFC 7692: tail removed)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def fragments(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` as a text frame and continuation frames, cut at the byte offsets ``cuts``
    (cuts past the end make empty fragments)."""
    bounds = [0, *cuts, len(data)]
    parts = [data[a:b] for a, b in itertools.pairwise(bounds)]
    last = len(parts) - 1
    return [frame(TEXT if i == 0 else CONT, part, fin=i == last) for i, part in enumerate(parts)]


def stalled_frame() -> Behaviour:
    """Declare a 1 MiB text frame, send 10 bytes of it, then nothing: a slow-loris frame."""

    async def behave(conn: Conn) -> None:
        await conn.accept()
        if not await conn.greeted():
            return
        conn.fault()
        await conn.write(frame(TEXT, b'{"type":"P', declared=MIB))
        await conn.attempt.ended.wait()

    return behave


# --------------------------------------------------------------------------- the cases

BAD_INPUT, DROPPED, HANDSHAKE, INACTIVE, VALID = (
    "bad input",
    "dropped",
    "handshake",
    "inactive",
    "valid",
)
"""How each case must end: the client refuses the input (class client, from the fault);
the connection drops (1006, class Unknown); the handshake fails (1006, Unknown, no
on_open for it); only the inactivity timer can end it; or it is valid and delivered."""


@dataclass(frozen=True)
class Case:
    name: str
    behaviour: Behaviour
    route: str
    reason: str = ""
    """What ``last_close_reason`` must start with at the next ``on_open``."""
    close_code: int | None = None
    """The code of the close frame the client must send (None: it cannot send one)."""
    delivered: ServerMessage | None = None
    """For a valid case: the message ``on_message`` must get."""
    work: float = 0.0
    """Seconds of processing allowed on top of the bound (inflating a bomb, a flood)."""
    threshold: float | None = None
    """The inactivity threshold, if not the route's."""
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())
    or_else: tuple[str, int] | None = None
    """Another (``reason``, ``close_code``) the RFC allows for this input, if any."""
    close_frame_may_be_lost: bool = False
    """The client's close frame may never reach the server, which then records none:
    it waits behind what the flood makes the client write, and a loaded machine can
    let the close timeout pass first, after which the client drops the socket, as
    it must. The reason and the timing of the reconnect are checked all the same."""

    @property
    def inactivity(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return SHORT_INACTIVITY if self.route == INACTIVE else INACTIVITY


INVALID_FRAME: Final = "InvalidFrame"


def protocol_error(name: str, data: bytes, *, code: int = 1002) -> Case:
    """A frame the transport refuses: it closes with ``code`` and says why in the close
    reason (in the WebSocket library's words), which the next Connect reports after
    ``InvalidFrame: `` (see ``reconnected``)."""
    return Case(name, after_connect(data), BAD_INPUT, INVALID_FRAME, code)


UTF8 = message("é€😀 split")
_UTF8 = encoded(UTF8)
# Inside "é" (2 bytes), "€" (3) and "😀" (4): each character split across two frames.
_SPLITS = tuple(_UTF8.index(c.encode()) + 1 for c in "é€😀")
BIG = message("x" * MIB)
TOO_MANY_FRAGMENTS = 100_000
CASES: Final = [
    # -- the list
    protocol_error("bad UTF-8 in a text frame", frame(TEXT, b'{"type":"Ping"\xff}'), code=1007),
    protocol_error("reserved opcode 0x3", frame(0x3, b"x")),
    protocol_error("RSV2 and RSV3 set", frame(TEXT, PING_MESSAGE, rsv=0b011)),
    protocol_error("RSV1 set, no extension", frame(TEXT, PING_MESSAGE, rsv=0b100)),
    protocol_error("masked server frame", frame(TEXT, PING_MESSAGE, mask=b"k3y!")),
    protocol_error("fragmented ping", frame(PING, b"p", fin=False)),
    protocol_error("126-byte ping", frame(PING, bytes(126))),
    protocol_error("orphan continuation", frame(CONT, b"x")),
    protocol_error("close code 999", frame(CLOSE, close_payload(999))),
    protocol_error("close code 1005 on the wire", frame(CLOSE, close_payload(1005))),
    Case(
        "declared length 2^63",
        after_connect(frame(TEXT, b"", declared=2**63)),
        BAD_INPUT,
        "MessageTooLarge",
        1009,
        # Over any limit, and a protocol error too: RFC 6455 §5.2 requires the most
        # significant bit of a 64-bit length to be 0 (picows checks that first).
        or_else=(INVALID_FRAME, 1002),
    ),
    Case(
        "declared length 2^63 - 1",
        after_connect(frame(TEXT, b"", declared=2**63 - 1)),
        BAD_INPUT,
        "MessageTooLarge",
        1009,
    ),
    Case(
        "truncated frame, then EOF",
        after_connect(frame(TEXT, PING_MESSAGE)[:8], then_eof=True),
        DROPPED,
        "closed with code 1006",
    ),
    Case(
        "HTTP 200 instead of 101",
        handshake_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
        HANDSHAKE,
        "InitialConnect",
    ),
    Case(
        "deflate bomb, 64 MiB + 1",
        after_connect(frame(TEXT, deflate_bomb(LIMIT + 1), rsv=0b100), deflate=True),
        BAD_INPUT,
        "MessageTooLarge",
        1009,
        work=1.0,
    ),
    # -- more
    protocol_error("1-byte close payload", frame(CLOSE, b"\x03")),
    protocol_error("close reason not UTF-8", frame(CLOSE, close_payload(1000, b"\xc3")), code=1007),
    protocol_error(
        "new message inside a fragmented one",
        frame(TEXT, b"{", fin=False) + frame(TEXT, PING_MESSAGE),
    ),
    Case(
        "binary frame",
        after_connect(frame(BINARY, b"\x00\x01")),
        BAD_INPUT,
        "BinaryFrame",
        1000,
    ),
    Case(
        "wrong Sec-WebSocket-Accept",
        wrong_accept(),
        HANDSHAKE,
        "InitialConnect",
    ),
    Case(
        "100,000 handshake headers",
        handshake_reply(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-A: b\r\n" * 100_000),
        HANDSHAKE,
        "InitialConnect",
    ),
    Case("silence after TCP accept", silent(), INACTIVE, "InactiveServer"),
    Case("stalled 1 MiB frame", stalled_frame(), INACTIVE, "InactiveServer", 1000),
    Case(
        "WebSocket pings only, no messages",
        every(frame(PING, b"alive?"), PING_INTERVAL),
        INACTIVE,
        "InactiveServer",
        1000,
    ),
    Case(
        "ping flood (125-byte pings)",
        flood(frame(PING, bytes(125)), seconds=CASE_TIMEOUT),
        INACTIVE,
        "InactiveServer",
        1000,
        # The flooding server shares this process's loop and 2 cores with CI.
        work=2.0,
        close_frame_may_be_lost=True,
        threshold=0.5,
        marks=(pytest.mark.transport_needs(READS_IN_BOUNDED_CHUNKS),),
    ),
    Case(
        f"{TOO_MANY_FRAGMENTS:,} one-byte fragments",
        after_connect(*fragments(b" " * TOO_MANY_FRAGMENTS, range(1, TOO_MANY_FRAGMENTS))),
        BAD_INPUT,
        "MessageTooLarge",
        1009,
    ),
    Case(
        "endless empty fragments",
        flood(
            frame(CONT, b"", fin=False), seconds=CASE_TIMEOUT, first=frame(TEXT, b"{", fin=False)
        ),
        BAD_INPUT,
        "MessageTooLarge",
        1009,
        marks=(pytest.mark.full,),
    ),
    # -- valid input that looks hostile: delivered, no reconnect
    Case(
        "UTF-8 split mid-character across fragments",
        after_connect(*fragments(_UTF8, _SPLITS), then_healthy=True),
        VALID,
        delivered=UTF8,
    ),
    Case(
        "pings between fragments",
        after_connect(
            *(part + frame(PING, b"between") for part in fragments(_UTF8, range(1, len(_UTF8), 7))),
            then_healthy=True,
        ),
        VALID,
        delivered=UTF8,
    ),
    Case(
        "compressed 1 MiB message",
        after_connect(
            frame(TEXT, deflated(encoded(BIG)), rsv=0b100), deflate=True, then_healthy=True
        ),
        VALID,
        delivered=BIG,
    ),
]
CASES.append(
    Case(
        f"{MAX_FRAGMENTS:,} fragments (the transport's most)",
        after_connect(*fragments(_UTF8, range(1, MAX_FRAGMENTS)), then_healthy=True),
        VALID,
        delivered=UTF8,
    )
)


# --------------------------------------------------------------------------- the test


def unexpected_log_lines(recorder: Recorder) -> list[str]:
    return [line for line in recorder.log.lines if any(s in line for s in _UNEXPECTED_LOG)]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.name, marks=case.marks) for case in CASES]
)
async def test_hostile_input_ends_in_a_clean_reconnect(
    transport_kind: Kind, case: Case, figure: Figure, full: bool
) -> None:
    """A server is never trusted: whatever it sends, the manager stays up and reconnects."""
    async with asyncio.timeout(CASE_TIMEOUT), hostile_server(case.behaviour) as server:
        recorder = scaled_manager(
            server.url,
            inactivity_threshold=case.inactivity,
            transport=transport_kind.make(close_timeout=CLOSE_TIMEOUT),
        )
        try:
            if case.route == VALID:
                await accepted(case, server.attempts, recorder, figure)
            else:
                await reconnected(case, server.attempts, recorder, figure, full)
        finally:
            await recorder.manager.terminate()
    assert not unexpected_log_lines(recorder)


async def accepted(case: Case, attempts: list[Attempt], recorder: Recorder, figure: Figure) -> None:
    """The input is delivered as it was sent, and the socket stays up."""
    await until(lambda: bool(recorder.messages), "the message")
    await asyncio.sleep(QUIET)
    assert recorder.messages[0] == case.delivered
    assert len(attempts) == 1, "a valid input made the client reconnect"
    assert attempts[0].close_code is None
    assert recorder.manager.socket_state() == "ready"
    figure(f"hostile: {case.name}", "delivered, no reconnect", goal="accepted", held=True)


async def reconnected(
    case: Case, attempts: list[Attempt], recorder: Recorder, figure: Figure, full: bool
) -> None:
    """The socket is closed and a new one opened, after the backoff delay and soon
    (within ``SLACK`` of it in the full tier, ``LOADED_SLACK`` in the fast one)."""
    reason_class = UNKNOWN if case.route in (DROPPED, HANDSHAKE) else CLIENT
    delay = expected_delay(reason_class)
    wait = case.inactivity if case.route == INACTIVE else 0.0
    goal = wait + delay + SLACK + case.work
    bound = goal if full else wait + delay + LOADED_SLACK + case.work
    # Waiting longer than the bound would only tell us how late a failure is.
    try:
        async with asyncio.timeout(bound + 1.0):
            while len(attempts) < 2 or not attempts[1].first_text.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        hostile = attempts[0]
        figure(f"hostile: {case.name}", "no reconnect", goal=f"< {goal * 1000:.0f} ms", held=False)
        pytest.fail(
            f"no new connection {bound + 1.0:.1f} s after the fault "
            f"(client close code {hostile.close_code}, socket ended: {hostile.ended.is_set()})"
        )
    hostile, fresh = attempts[0], attempts[1]
    await until(hostile.ended.is_set, "the hostile socket to be closed")
    assert hostile.fault_at is not None
    manager = recorder.manager
    await until(lambda: manager.socket_state() == "ready", "ready")

    # Why the socket ended, as the next on_open was told (and the Connect carried).
    opened = hostile.first_text.is_set()  # the hostile socket opened: the client spoke
    connect = parse_client_message(fresh.client_frames[0][1])
    assert isinstance(connect, Connect)
    reason = connect.last_close_reason or ""
    # How soon: the class's delay after the fault (after the inactivity threshold
    # where only inactivity can end it), and not much later.
    start = hostile.at if case.route == INACTIVE else hostile.fault_at
    took = fresh.at - start
    expected = case.reason
    if case.or_else is not None and reason.startswith(case.or_else[0]):
        expected = case.or_else[0]
    held = reason.startswith(expected) and took < goal
    figure(
        f"hostile: {case.name}",
        f"closed ({hostile.close_code or 'no close frame'}), reconnected after "
        f"{took * 1000:.0f} ms: {reason}",
        goal=f"clean reconnect, {case.reason}, < {goal * 1000:.0f} ms",
        held=held,
    )
    assert reason.startswith(expected), reason
    if expected == INVALID_FRAME:
        # Exactly the reason of the close frame the transport sent, under syncwire's
        # label: what the reason says is the WebSocket library's wording, not syncwire's.
        sent = hostile.close_reason
        assert reason == (f"{INVALID_FRAME}: {sent}" if sent else INVALID_FRAME), (reason, sent)
    assert connect.connection_count == (1 if opened else 0)
    assert recorder.reconnect_delays_ms()[0] == round(delay * 1000)
    assert wait + delay - 0.05 <= took < bound, (took, bound)
    close_code = case.or_else[1] if expected != case.reason and case.or_else else case.close_code
    lost = case.close_frame_may_be_lost and hostile.close_code is None
    assert hostile.close_code == close_code or lost, (hostile.close_code, close_code)
    assert hostile.error is None, hostile.error
    assert len(attempts) == 2, "more than one reconnect"


# --------------------------------------------------------------------------- memory


async def peak_in_child(
    kind: Kind, behaviour: Behaviour, *, inactivity: float = INACTIVITY, window: float = 0.0
) -> tuple[float, str | None]:
    """Serve ``behaviour`` here; a child process's manager meets it over ``kind``'s
    transport (so the peak is this case's alone). Its peak RSS growth in MiB, and why
    it reconnected (if it did)."""
    # stderr to a file: a pipe nobody reads while we wait could fill and block the child.
    with tempfile.TemporaryFile() as errors:
        async with hostile_server(behaviour) as server:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.reliability.hostile_server",
                server.url,
                str(inactivity),
                str(window),
                kind.name,
                cwd=ROOT,  # with -m, the child imports ``tests`` from here
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
            assert child.stdout is not None
            try:
                async with asyncio.timeout(window + CASE_TIMEOUT):
                    line = await child.stdout.readline()
            except BaseException:
                child.kill()
                await child.wait()
                raise
        # The server has stopped, which ends the child's old socket: it can exit now.
        try:
            async with asyncio.timeout(CASE_TIMEOUT):
                await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()
            raise
        errors.seek(0)
        assert child.returncode == 0, errors.read().decode(errors="replace")[-2000:]
    result = json.loads(line)
    reason = result["reason"]
    return int(result["growth_kib"]) / 1024, None if reason is None else str(reason)


BOMB_GOAL_MIB: Final = 160
"""Peak RSS growth allowed for a bomb: ``websockets``' inflater (which both transports
run) inflates at most the 64 MiB limit,
and CPython's zlib gathers its output in blocks it then joins into one ``bytes`` (a
second 64 MiB while both exist). 2 × 64 MiB plus 32 MiB of headroom; inflating a
bomb whole would cost its full size (64 MiB + 1 here, 1 GiB in the full tier)."""


@pytest.mark.asyncio
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
async def test_a_deflate_bomb_is_refused_in_bounded_memory(
    transport_kind: Kind, figure: Figure, full: bool
) -> None:
    """65 KiB on the wire must not cost more than the size limit allows, however much it
    would inflate to; in a child process, so the peak is the bomb's and nothing else's."""
    bombs = [LIMIT + 1, 1 << 30] if full else [LIMIT + 1]
    control, why = await peak_in_child(transport_kind, after_connect(frame(TEXT, b"\xff")))
    assert why is not None
    assert why.startswith("InvalidFrame"), why
    figure("peak RSS growth, a reconnect after a bad frame (control)", f"{control:.1f} MiB")
    for size in bombs:
        payload = deflate_bomb(size)
        assert inflated_size(payload, LIMIT) > LIMIT  # a real bomb, over the limit
        bomb = after_connect(frame(TEXT, payload, rsv=0b100), deflate=True)
        growth, why = await peak_in_child(transport_kind, bomb)
        assert why == "MessageTooLarge", why
        label = f"{size / MIB:,.0f} MiB" + (" + 1" if size % MIB else "")
        figure(
            f"deflate bomb ({label} inflated, {len(payload) / 1024:,.0f} KiB sent): "
            "peak RSS growth",
            f"{growth:.1f} MiB",
            goal=f"< {BOMB_GOAL_MIB} MiB (limit 64 MiB)",
            held=growth < BOMB_GOAL_MIB,
        )
        assert growth < BOMB_GOAL_MIB, growth


FLOOD_WINDOW: Final = 3.0
FLOOD_GOAL_MIB: Final = MAX_WRITE_BUFFER / 2**20 + 4
"""Pongs queue up to the transport's write-buffer cap, then reading stops."""


@pytest.mark.asyncio
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
# Not strict: picows' peak is near the goal (21-29 MiB seen), and may pass some runs.
@pytest.mark.transport_needs(READS_IN_BOUNDED_CHUNKS, strict=False)
async def test_an_unread_ping_flood_does_not_grow_memory(
    transport_kind: Kind, figure: Figure
) -> None:
    """A server that pings as fast as it can and never reads the pongs: the client
    must not buffer pongs without bound: above ``MAX_WRITE_BUFFER`` it stops reading."""
    growth, why = await peak_in_child(
        transport_kind,
        flood(frame(PING, bytes(125)), seconds=CASE_TIMEOUT, read=False),
        inactivity=1.0,
        window=FLOOD_WINDOW,
    )
    figure(
        f"ping flood, pongs never read: peak RSS growth in {FLOOD_WINDOW:.0f} s",
        f"{growth:.1f} MiB ({growth / FLOOD_WINDOW:.1f} MiB/s; reconnected: {why or 'no'})",
        goal=f"< {FLOOD_GOAL_MIB} MiB, not growing with time",
        held=growth < FLOOD_GOAL_MIB,
    )
    assert growth < FLOOD_GOAL_MIB, growth
