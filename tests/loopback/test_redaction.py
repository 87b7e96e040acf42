"""No user token in any log record, exception text or repr, through a full reconnect
scenario on loopback with every logger at DEBUG (docs/manager.md#logging).

The sentinel is a random 40-character JWT-like string, sent in
``Authenticate(token_type="User")`` from ``on_open`` on every (re)connect. A
leak is any 8-character substring of it; the manager's own ``"..." + last 7
characters`` in its send log is allowed (7 < 8). The server also sends the
token back inside bad and oversized frames, so "never log the payload" is
tested too.

Controls make sure the test looks at the right data and can fail: the token is
in the raw frames the server received, the DEBUG records of both the manager
and the transport's own log of the traffic were captured, and the exception
collector saw the exceptions the faults raise. Run on every shipped transport.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable

import pytest

from syncwire.protocol import Authenticate
from syncwire.protocol import ClientMessage
from syncwire.protocol import MutationResponse
from syncwire.protocol import ProtocolError
from syncwire.protocol import encode_server_message
from syncwire.protocol import parse_client_message
from syncwire.protocol import parse_server_message
from tests.helpers import ExceptionTexts
from tests.helpers import Recorder
from tests.helpers import fragments
from tests.helpers import leaks
from tests.helpers import until
from tests.manager.scripted_server import INACTIVITY
from tests.manager.scripted_server import Session
from tests.manager.scripted_server import scaled_manager
from tests.manager.scripted_server import scripted_server
from tests.transports import Kind

LIMIT = 4096
_ALPHABET = string.ascii_letters + string.digits + "-_"


def sentinel_token() -> str:
    """A random JWT-shaped token of 40 characters: ``eyJ<12>.<14>.<9>``."""

    def part(n: int) -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(n))

    token = f"eyJ{part(12)}.{part(14)}.{part(9)}"
    assert len(token) == 40
    return token


def opened(recorder: Recorder, index: int) -> Callable[[], bool]:
    return lambda: len(recorder.opens) > index


@pytest.mark.asyncio
async def test_no_token_in_logs_exceptions_or_reprs(
    transport_kind: Kind,
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
    transport = transport_kind.make(max_message_size=LIMIT)
    with ExceptionTexts() as raised:
        async with scripted_server(internal_error, garbage, silent, oversized) as server:
            manager = scaled_manager(server.url, recorder, transport=transport).manager
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
    # ...the DEBUG records of the manager and the transport's log of the traffic (the
    # Authenticate frame, by size, where the library logs frames) were captured...
    records = every_logger_at_debug.records
    messages = [record.getMessage() for record in records]
    assert any(f'"value":"...{token[-7:]}"' in m for m in messages if "Authenticate" in m)
    assert transport_kind.log_shows_traffic(records, auth_frames[0])
    # ...and the exception collector saw the faults' exceptions.
    assert {"ProtocolError", "ConnectionClosedError", "MessageTooLargeError"} <= raised.types, (
        raised.types
    )
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
