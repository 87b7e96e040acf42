"""No user token in any log record, exception text or repr, through a full reconnect
scenario on loopback with every logger at DEBUG (spec §3, "Logging and secrets").

The sentinel is a random 40-character JWT-like string, sent in
``Authenticate(token_type="User")`` from ``on_open`` on every (re)connect. A
leak is any 8-character substring of it; the manager's own ``"..." + last 7
characters`` in its send log is allowed (7 < 8). The server also sends the
token back inside bad and oversized frames, so "never log the payload" is
tested too.

Controls make sure the test looks at the right data and can fail: the token is
in the raw frames the server received, the DEBUG records of both the manager
and the ``websockets`` frame log were captured, and the exception collector
saw the exceptions the faults raise.
"""

from __future__ import annotations

import logging
import secrets
import string
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from syncwire.protocol import (
    Authenticate,
    ClientMessage,
    MutationResponse,
    ProtocolError,
    encode_server_message,
    parse_client_message,
    parse_server_message,
)
from syncwire.transport import WebSocketsTransport
from syncwire.transport.websockets import LOGGER_NAME
from tests.manager.scripted_server import (
    INACTIVITY,
    Recorder,
    Session,
    make_manager,
    scripted_server,
    until,
)

LIMIT = 4096
WINDOW = 8
_ALPHABET = string.ascii_letters + string.digits + "-_"


def sentinel_token() -> str:
    """A random JWT-shaped token of 40 characters: ``eyJ<12>.<14>.<9>``."""

    def part(n: int) -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(n))

    token = f"eyJ{part(12)}.{part(14)}.{part(9)}"
    assert len(token) == 40
    return token


def fragments(token: str) -> set[str]:
    return {token[i : i + WINDOW] for i in range(len(token) - WINDOW + 1)}


def leaks(text: str, pieces: set[str]) -> list[str]:
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


def opened(recorder: Recorder, index: int) -> Callable[[], bool]:
    return lambda: len(recorder.opens) > index


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("websockets", "websockets.client", "syncwire", "asyncio", LOGGER_NAME):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.mark.asyncio
async def test_no_token_in_logs_exceptions_or_reprs(
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    token = sentinel_token()
    pieces = fragments(token)
    reprs: list[str] = []

    def authenticate(_: object) -> list[ClientMessage]:
        return [Authenticate(base_version=0, token_type="User", value=token)]

    async def internal_error(session: Session) -> None:
        await session.close(1011, "InternalServerError")

    garbage_frame = '{"type":"Transition","echo":"' + token + '",,}'  # not JSON

    async def garbage(session: Session) -> None:
        await session.send(garbage_frame)

    async def silent(session: Session) -> None:
        await session.silent()

    async def oversized(session: Session) -> None:
        echo = MutationResponse(request_id=1, success=True, result=token * 110, ts=1, log_lines=())
        frame = encode_server_message(echo)
        assert len(frame) > LIMIT
        await session.send(frame)

    recorder = Recorder(also_send=authenticate)
    transport = WebSocketsTransport(max_message_size=LIMIT)
    with ExceptionTexts() as raised:
        async with scripted_server(internal_error, garbage, silent, oversized) as server:
            make_manager(server.url, recorder, transport=transport)
            manager = recorder.manager
            assert manager is not None
            try:
                for index in range(5):
                    await server.session(index)
                    await until(opened(recorder, index), f"on_open #{index}")
                    reprs.append(repr(manager))
                    reprs.append(repr(manager._connection))
                await until(lambda: len(server.sessions[4].frames) >= 2, "the last Authenticate")
                assert manager.connection_state().is_connected
                reprs.append(repr(manager))
            finally:
                await manager.terminate()
            reprs.append(repr(manager))

    # The scenario ran: each fault was recovered from, for the expected reason.
    reasons = [metadata.last_close_reason for _, metadata in recorder.opens]
    assert reasons[:2] == ["InitialConnect", "InternalServerError"]
    with pytest.raises(ProtocolError) as parsed:  # the parser's verdict, in syncwire's words
        parse_server_message(garbage_frame)
    garbage_error = str(parsed.value)
    assert reasons[2] == f"InvalidServerMessage: {garbage_error}"
    assert reasons[3:] == ["InactiveServer", "MessageTooLarge"]
    assert server.sessions[3].requested_at - server.sessions[2].requested_at >= INACTIVITY

    # Controls: the token really crossed the wire, on every connection...
    auth_frames = [session.frames[1] for session in server.sessions]
    for frame in auth_frames:
        assert token in frame
        message = parse_client_message(frame)
        assert isinstance(message, Authenticate)
        assert message.value == token
    # ...the DEBUG records of the manager and of the websockets frame log were captured...
    records = every_logger_at_debug.records
    messages = [record.getMessage() for record in records]
    assert any(f'"value":"...{token[-7:]}"' in m for m in messages if "Authenticate" in m)
    frame_size = len(auth_frames[0].encode())
    assert any(r.name == LOGGER_NAME and r.args == (f"TEXT [{frame_size} bytes]",) for r in records)
    # ...and the exception collector saw the faults' exceptions.
    assert {"ProtocolError", "ConnectionClosed", "MessageTooLarge"} <= raised.types, raised.types
    assert any(garbage_error in text for text in raised.texts)
    assert not raised.failures
    # The leak check itself finds an 8-character piece, and lets the allowed 7 through.
    assert leaks(f"x{token[5:13]}x", pieces)
    assert not leaks(f"...{token[-7:]}", pieces)

    # No leak in log records (message and exception text)...
    for record in records:
        rendered = record.getMessage()
        if record.exc_info:
            rendered += logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            rendered += record.exc_text
        assert not leaks(rendered, pieces), (record.name, rendered)
    assert not leaks(every_logger_at_debug.text, pieces)
    # ...in any exception raised during the run...
    for text in raised.texts:
        assert not leaks(text, pieces), text
    # ...or in a repr: the manager, its snapshots, the transport and connections, messages.
    reprs.append(repr(manager.connection_state()))
    reprs.extend(repr(state) for _, state in recorder.states)
    reprs.extend(repr(metadata) for _, metadata in recorder.opens)
    reprs.append(repr(transport))
    for message in recorder.sent:
        reprs.extend([repr(message), str(message)])
    reprs.extend(repr(message) for message in recorder.messages)
    for text in reprs:
        assert not leaks(text, pieces), text
    assert any("Authenticate" in text for text in reprs)


def test_the_exception_collector_sees_caught_exceptions() -> None:
    """Control for ``ExceptionTexts``: an exception caught where it is raised counts."""

    def swallow() -> None:
        try:
            raise ValueError("needle-in-a-frame")
        except ValueError:
            pass

    with ExceptionTexts() as raised:
        swallow()
    assert any("needle-in-a-frame" in text for text in raised.texts)
