"""What test modules share, written once: ``from tests.helpers import until, now, ...``.

- Waiting: ``until`` (a condition, with a generous ``DEADLINE`` and a failure that
  says what was awaited), ``now`` (the loop's clock), ``ms`` (seconds for a figure).
- Frames: ``chunked``, a Transition's frame as the server splits it.
- The official client: ``require_node`` (skip, or fail on CI, without Node and
  the pinned npm ``convex``).
- Managers: ``URL``, ``RESPONSE``, ``no_jitter``, ``Recorder`` and ``make_manager`` (callbacks
  that record with loop times), ``bare_manager`` (callbacks that do nothing).
- Clients: ``first_error``, the cause of the first failed attempt.
- Secrets: ``fragments``, ``leaks`` and ``ExceptionTexts``, for the tests that
  prove no token shows in logs, exception texts or reprs.
- Logs: ``LogLines``, a handler that keeps the messages it is given.
- The command line: ``syncwire_command`` and ``run_syncwire`` (``python -m syncwire``
  in a subprocess, killed at the end; ``child`` for any command), ``serving`` (a
  ``syncwire serve`` and its URLs), ``next_json_line`` and ``STATUS_LINE`` (what
  ``watch`` prints), ``client_state`` (a client's state, connected but for changes).

Folder-specific support lives beside its tests (``tests/transport/servers.py``,
``tests/manager/scripted_server.py``, ``tests/client/virtual/peer.py``, ...);
test modules never import other test modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any
from typing import Final

import pytest

from syncwire import Client
from syncwire import ClientConnectionState
from syncwire.manager import ConnectionState
from syncwire.manager import OnMessageResponse
from syncwire.manager import ReconnectMetadata
from syncwire.manager import WebSocketManager
from syncwire.protocol import ClientMessage
from syncwire.protocol import Connect
from syncwire.protocol import ServerMessage
from syncwire.protocol import encode_server_message
from syncwire.protocol.chunks import split_transition

ROOT: Final = Path(__file__).resolve().parents[1]
"""The repository."""

# --------------------------------------------------------------------------- waiting

DEADLINE: Final = 30.0
"""Bound on ``until``: a hang fails in half a minute; a loaded, shared 2-core machine
still passes (only a real failure waits this long)."""
POLL: Final = 0.002
"""How often ``until`` re-checks a condition that has no event to wait on."""


async def until(
    predicate: Callable[[], bool],
    what: str,
    *,
    changed: Callable[[], Awaitable[object]] | None = None,
    deadline: float = DEADLINE,
) -> None:
    """Wait until ``predicate()`` holds; fail the test, naming ``what``, after ``deadline`` s.

    The condition is re-checked each time ``changed()`` returns (an awaitable the code
    under test completes on every change), or else every ``POLL`` seconds: most
    conditions read state that callbacks change, with no event to wait on.
    """
    try:
        async with asyncio.timeout(deadline):
            while not predicate():
                if changed is None:
                    await asyncio.sleep(POLL)
                else:
                    await changed()
    except TimeoutError:
        pytest.fail(f"timed out after {deadline:g} s waiting for {what}")


def now() -> float:
    """The running loop's clock (virtual time on a virtual-time loop)."""
    return asyncio.get_running_loop().time()


def ms(seconds: float) -> str:
    """``seconds`` as a figure: ``"52.3 ms"``."""
    return f"{seconds * 1000:.1f} ms"


# --------------------------------------------------------------------------- frames


def chunked(text: str, parts: int, transition_id: str | None = None) -> list[str]:
    """A Transition's frame ``text`` as ``parts`` TransitionChunk frames (fewer if the
    text is too short), split as a server splits: ``split_transition``, whole
    characters, in order. ``transition_id`` defaults to the text's size in bytes."""
    size = len(text.encode())
    tid = str(size) if transition_id is None else transition_id
    budget = max(4, -(-size // parts))  # split_transition's least: one whole character
    return [encode_server_message(chunk) for chunk in split_transition(text, budget, tid)]


# --------------------------------------------------------------------------- the official client

CONVEX_PACKAGE: Final = ROOT / "node_modules" / "convex" / "package.json"


def pinned_convex_version() -> str:
    """The npm ``convex`` version ``package.json`` pins."""
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    version: str = package["dependencies"]["convex"]
    return version


def require_node(tests: str) -> str:
    """The path of ``node`` with the pinned npm ``convex`` installed, or skip the test;
    on CI (``CI`` set) fail instead: CI must run ``tests`` (e.g. "the differential tests")."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "`node` is not on PATH"
    elif not CONVEX_PACKAGE.is_file():
        problem = f"{CONVEX_PACKAGE.parent} is missing"
    else:
        installed = json.loads(CONVEX_PACKAGE.read_text(encoding="utf-8"))["version"]
        pinned = pinned_convex_version()
        if installed != pinned:
            problem = f"node_modules has convex {installed}, package.json pins {pinned}"
    if problem is not None:
        hint = "run `make test` (it runs `npm ci`) to set up the official client"
        if os.environ.get("CI"):
            pytest.fail(f"{problem}: CI must run {tests}; {hint}", pytrace=False)
        pytest.skip(f"{problem}; {hint}")
    assert node is not None
    return node


# --------------------------------------------------------------------------- managers

URL: Final = "wss://happy-animal-123.convex.cloud/api/sync"
"""A deployment URL for tests whose transport never resolves it."""
RESPONSE: Final = (
    '{"type":"MutationResponse","requestId":1,"success":true,"result":null,'
    '"ts":"AAAAAAAAAAA=","logLines":[]}'
)
"""A MutationResponse frame as a server writes it: a message that reaches ``on_message``."""


def no_jitter() -> float:
    """``rand`` for a manager or client: the middle of the jitter range, so every delay
    is exactly the policy's."""
    return 0.5


_manager_loggers = itertools.count()
_RECONNECT_IN = re.compile(r"Attempting reconnect in (\d+)ms")


class LogLines(logging.Handler):
    """The messages of the records it is given at ``level`` or above, in order."""

    def __init__(self, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _manager_logger(lines: LogLines) -> logging.Logger:
    """A fresh child of ``syncwire.manager`` (so caplog still sees everything) that
    also hands its lines to ``lines``, at INFO or below whatever the test set."""
    logger = logging.getLogger(f"syncwire.manager.test{next(_manager_loggers)}")
    parent = logging.getLogger("syncwire.manager")
    logger.setLevel(min(logging.INFO, parent.getEffectiveLevel()))
    logger.addHandler(lines)
    return logger


@dataclass(eq=False)
class Recorder:
    """A manager's callbacks, recording what they were told and when (loop time).

    ``on_open`` sends ``Connect`` (and whatever ``also_send`` returns), as the sync
    client does.
    """

    manager: WebSocketManager = field(init=False)
    """Set by ``make_manager``."""
    also_send: Callable[[ReconnectMetadata], Sequence[ClientMessage]] = lambda _: ()
    """Messages ``on_open`` sends after Connect (e.g. Authenticate)."""
    synced: bool = False
    """What ``on_message`` answers: the session caught up past the last reconnect."""
    opens: list[tuple[float, ReconnectMetadata]] = field(default_factory=list)
    messages: list[ServerMessage] = field(default_factory=list)
    states: list[tuple[float, ConnectionState]] = field(default_factory=list)
    disconnect_errors: list[str] = field(default_factory=list)
    sent: list[ClientMessage] = field(default_factory=list)
    retries_seen: list[int] = field(default_factory=list)
    """``connection_retries`` as ``on_message`` saw it, per message."""
    resumes: int = 0
    log: LogLines = field(default_factory=LogLines)
    """The manager's log lines (INFO and up, or more if the test lowered the level)."""

    def reconnect_delays_ms(self) -> list[int]:
        """The delays of the manager's ``Attempting reconnect in <ms>ms`` lines, in order:
        the backoff the core computed, exactly, whatever the load on the machine."""
        return [int(m.group(1)) for line in self.log.lines if (m := _RECONNECT_IN.search(line))]

    def on_open(self, metadata: ReconnectMetadata) -> None:
        self.opens.append((now(), metadata))
        connect = Connect(
            connection_count=metadata.connection_count,
            last_close_reason=metadata.last_close_reason,
            client_ts=metadata.client_ts,
            session_id="tests",
        )
        for message in (connect, *self.also_send(metadata)):
            self.sent.append(message)
            assert self.manager.send_message(message)

    def on_message(self, message: ServerMessage) -> OnMessageResponse:
        self.messages.append(message)
        self.retries_seen.append(self.manager.connection_state().connection_retries)
        return OnMessageResponse(has_synced_past_last_reconnect=self.synced)

    def on_resume(self) -> None:
        self.resumes += 1

    def on_state_change(self, state: ConnectionState) -> None:
        self.states.append((now(), state))

    def disconnects(self) -> list[tuple[float, ConnectionState]]:
        """The recorded changes to ``disconnected``, each with its loop time."""
        return [(at, state) for at, state in self.states if state.state == "disconnected"]


def make_manager(url: str, recorder: Recorder | None = None, **options: Any) -> Recorder:
    """A manager whose callbacks ``recorder`` (a new one by default) records, with no
    jitter and the production settings unless ``options`` say otherwise (a
    ``transport``, an ``inactivity_threshold``, a ``backoff``...). Returns the
    recorder; ``recorder.manager`` is the manager, connecting already."""
    recorder = recorder or Recorder()
    settings: dict[str, Any] = {"rand": no_jitter, "logger": _manager_logger(recorder.log)}
    settings.update(options)
    recorder.manager = WebSocketManager(
        url,
        on_open=recorder.on_open,
        on_message=recorder.on_message,
        on_resume=recorder.on_resume,
        on_server_disconnect_error=recorder.disconnect_errors.append,
        on_state_change=recorder.on_state_change,
        **settings,
    )
    return recorder


def bare_manager(url: str, **options: Any) -> WebSocketManager:
    """A manager whose callbacks do nothing, for tests about the connection alone."""
    return WebSocketManager(
        url,
        on_open=lambda _: None,
        on_message=lambda _: OnMessageResponse(False),
        **options,
    )


# --------------------------------------------------------------------------- clients


async def first_error(client: Client, deadline: float = DEADLINE) -> str:
    """The client's ``last_error`` once there is one (bounded by ``deadline``)."""
    async with asyncio.timeout(deadline):
        async for state in client.connection_states():
            if state.last_error is not None:
                return state.last_error
    raise AssertionError("the client closed before it failed")


# --------------------------------------------------------------------------- secrets

WINDOW: Final = 8
"""A leak is any piece of a secret this long."""


def fragments(secret: str) -> set[str]:
    """Every ``WINDOW``-character piece of ``secret``."""
    return {secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)}


def leaks(text: str, pieces: set[str]) -> list[str]:
    """The pieces (of ``fragments``) that occur in ``text``."""
    return sorted(piece for piece in pieces if piece in text)


# How generators and coroutines return values (StopIteration's "text" is the value
# returned, e.g. a frame that a future resolved to): control flow, not errors.
_CONTROL_FLOW = (StopIteration, StopAsyncIteration, GeneratorExit)


class ExceptionTexts:
    """Records the text of every exception raised in Python code while active.

    A ``sys.settrace`` hook with line events off: it sees each exception where it
    is raised and in every frame it passes through, caught or not, including
    ones the manager handles silently. Generator and coroutine returns
    (``StopIteration`` and kin) are control flow and are skipped. (It replaces
    any other tracer, such as coverage, for the duration.)
    """

    def __init__(self) -> None:
        self.texts: set[str] = set()
        self.types: set[str] = set()
        self.failures: list[str] = []

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_lines = False
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "exception" and not isinstance(arg[1], _CONTROL_FLOW):
            exc = arg[1]
            self.types.add(type(exc).__name__)
            try:
                self.texts.add(f"{exc!s} {exc!r}")
            except Exception as error:  # a tracer that raises is switched off: never raise
                self.failures.append(f"{type(exc).__name__}: {type(error).__name__}")
        return self._local

    def __enter__(self) -> ExceptionTexts:
        self._previous = sys.gettrace()
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.settrace(self._previous)


# --------------------------------------------------------------------------- the command line


@contextlib.asynccontextmanager
async def child(*argv: str, **options: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """``argv`` as a subprocess (Python unbuffered; stdout and stderr piped unless
    ``options`` say otherwise), killed at the end if it is still running."""
    pipes = {"stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.PIPE}
    process = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **{**pipes, **options}
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), DEADLINE)


def syncwire_command(
    *args: str, **options: Any
) -> AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """``python -m syncwire ARGS`` as a ``child``."""
    return child(sys.executable, "-m", "syncwire", *args, **options)


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


async def run_syncwire(*args: str, limit: float = DEADLINE) -> Finished:
    """``python -m syncwire ARGS`` to the end (killed past ``limit`` seconds)."""
    async with syncwire_command(*args) as process:
        stdout, stderr = await asyncio.wait_for(process.communicate(), limit)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def next_json_line(process: asyncio.subprocess.Process) -> Any:
    """The next value ``syncwire watch`` prints: one JSON document a line on stdout."""
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), DEADLINE)
    assert line, "watch exited"
    return json.loads(line)


STATUS_LINE: Final = re.compile(r"\S+ (connection|auth): [^\n]*")
"""One of ``syncwire watch``'s lines on stderr: a timestamp, then what changed."""


@dataclass
class Served:
    """A ``syncwire serve`` process and the URLs it printed."""

    process: asyncio.subprocess.Process
    url: str
    ws_url: str

    async def command(self, line: str) -> str:
        """Send a fault command; its reply line (stdout)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()
        return (await asyncio.wait_for(self.process.stdout.readline(), DEADLINE)).decode().strip()


@contextlib.asynccontextmanager
async def serving(*args: str) -> AsyncIterator[Served]:
    """``syncwire serve --port 0 ARGS``, once it has printed its URLs."""
    async with syncwire_command(
        "serve", "--port", "0", *args, stdin=asyncio.subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        banner: list[str] = []
        async with asyncio.timeout(DEADLINE):
            while not banner or not banner[-1].startswith("type `help`"):
                line = await process.stdout.readline()
                assert line, "syncwire serve exited before printing its URLs"
                banner.append(line.decode().strip())
        text = "\n".join(banner)
        url = re.search(r"deployment URL: (http://127\.0\.0\.1:\d+)$", text, re.M)
        ws_url = re.search(r"WebSocket URL: +(ws://127\.0\.0\.1:\d+/api/sync)$", text, re.M)
        assert url is not None, text
        assert ws_url is not None, text
        yield Served(process, url.group(1), ws_url.group(1))


def client_state(**changes: Any) -> ClientConnectionState:
    """A client's state, connected and authenticated (6 sockets so far), but for
    ``changes`` to its ``connection`` (e.g. ``state="disconnected"``)."""
    connection = ConnectionState(
        is_connected=True,
        has_ever_connected=True,
        connection_count=6,
        connection_retries=0,
        state="ready",
        paused=False,
        last_close_reason=None,
        next_reconnect_at=None,
    )
    return ClientConnectionState(
        connection=replace(connection, **changes),
        inflight_mutations=0,
        inflight_actions=0,
        oldest_inflight_since=None,
        is_authenticated=True,
    )


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` in a child (this interpreter, ``src/`` on its path, the
    repository as its directory), run to the end; the test fails on a non-zero exit."""
    child = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert child.returncode == 0, child.stderr
    return child
