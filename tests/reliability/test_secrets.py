"""No auth token in any log record, exception text or repr, through a whole
client fault scenario against the dev server with every logger at DEBUG.

``tests/loopback/test_redaction.py`` proves it for the manager alone; this is
the same check one level up: a ``Client`` with a token fetcher whose cached
token the server rejects (AuthError, refetch), then an overload close, a
garbage frame, a kill and restart, a silent server and an oversized frame,
while a subscription and mutations run. Both tokens are sentinels: a leak is
any 8-character substring of either, in our logs, the dev server's, or the
transport library's. Run on every shipped transport.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

import pytest

from syncwire import BackoffPolicy
from syncwire import Client
from syncwire.devserver.auth import make_hs256_token
from syncwire.devserver.example import chat_app
from syncwire.devserver.server import DevServer
from syncwire.protocol import MutationResponse
from syncwire.protocol import encode_server_message
from tests.helpers import ExceptionTexts
from tests.helpers import fragments
from tests.helpers import leaks
from tests.helpers import until
from tests.reliability.conftest import Figure
from tests.transports import Kind

TIMEOUT = 20.0
INACTIVITY = 0.4
SECRET = secrets.token_urlsafe(32)
POLICY = BackoffPolicy(client_initial=0.01, unknown_initial=0.01, max_backoff=0.1)
LIMIT = 64 * 1024


@pytest.mark.asyncio
async def test_no_token_leaks_through_a_client_fault_scenario(
    transport_kind: Kind,
    every_logger_at_debug: pytest.LogCaptureFixture,
    figure: Figure,
) -> None:
    now = int(time.time())
    good = make_hs256_token(
        {"sub": secrets.token_urlsafe(12), "iat": now, "exp": now + 3600, "name": "ann"}, SECRET
    )
    bad = make_hs256_token({"sub": secrets.token_urlsafe(12), "iat": now}, "not-the-secret")
    pieces = fragments(good) | fragments(bad)
    fetches: list[bool] = []

    def fetch(force_refresh: bool) -> str:
        fetches.append(force_refresh)
        return good if force_refresh else bad

    reprs: list[str] = []
    with ExceptionTexts() as raised:
        async with DevServer(
            chat_app(), auth_secret=SECRET, ping_interval=INACTIVITY / 4
        ) as server:
            client = Client(
                server.url,
                inactivity_threshold=INACTIVITY,
                backoff=POLICY,
                transport=transport_kind.make(max_message_size=LIMIT),
            )
            async with client:
                authenticated: list[bool] = []
                client.set_auth(fetch, on_change=authenticated.append)
                sub = client.subscribe("messages:list", {"channel": "secrets"})
                await client.mutation("messages:send", {"channel": "secrets", "body": "one"})
                await until(lambda: authenticated == [True], "the fresh token to be confirmed")
                reprs += [repr(client), repr(sub), repr(client.connection_state())]

                async def fault_then_write(name: str, fault: Callable[[], object]) -> None:
                    opened = client.connection_state().connection.connection_count
                    result = fault()
                    if asyncio.iscoroutine(result):
                        await result
                    await client.mutation("messages:send", {"channel": "secrets", "body": name})
                    await until(
                        lambda: client.connection_state().connection.connection_count > opened,
                        f"a reconnect after {name}",
                    )
                    reprs.append(repr(client.connection_state()))

                echo = MutationResponse(
                    request_id=999, success=True, result=good * 2000, ts=1, log_lines=()
                )
                oversized = encode_server_message(echo)
                assert len(oversized) > LIMIT
                await fault_then_write(
                    "overload",
                    lambda: server.faults.close_all(1013, "SubscriptionsWorkerFullError"),
                )
                await fault_then_write(
                    "garbage", lambda: server.faults.send_raw('{"echo":"' + good + '",,}')
                )
                await fault_then_write("restart", lambda: server.restart(downtime=0.05))
                await fault_then_write("silence", lambda: server.faults.silence(INACTIVITY * 3))
                await fault_then_write("oversized", lambda: server.faults.send_raw(oversized))
                bodies = ["one", "overload", "garbage", "restart", "silence", "oversized"]
                messages: list[dict[str, object]] = []
                async with asyncio.timeout(TIMEOUT):
                    while [m["body"] for m in messages] != bodies:
                        messages = await sub.next()
                assert {m.get("author") for m in messages} == {"ann"}
                reprs += [repr(client), repr(sub), repr(client._manager)]
            reprs.append(repr(client))

    # Controls: the bad token was tried and rejected, the good one used on every socket.
    assert fetches[:2] == [False, True]
    records = every_logger_at_debug.records
    # Frame logs at DEBUG on both ends were captured (redacted to opcode and size), and
    # the client transport's own log of its traffic (``tests/transports.py``).
    name = "syncwire.devserver.websockets"
    assert any(r.name == name and "TEXT" in r.getMessage() for r in records), name
    assert transport_kind.log_shows_traffic(records), transport_kind.logger_name
    assert {"ProtocolError", "MessageTooLargeError"} <= raised.types, raised.types
    assert not raised.failures

    leaked: list[str] = []
    for record in records:
        rendered = record.getMessage()
        if record.exc_info:
            rendered += logging.Formatter().formatException(record.exc_info)
        if leaks(rendered, pieces):
            leaked.append(f"log {record.name}: {rendered[:200]}")
    leaked += [f"exception: {text[:200]}" for text in raised.texts if leaks(text, pieces)]
    leaked += [f"repr: {text[:200]}" for text in reprs if leaks(text, pieces)]
    figure(
        "token fragments in logs, exceptions and reprs (client fault scenario)",
        f"{len(leaked)} in {len(records)} log records, {len(raised.texts)} exceptions, "
        f"{len(reprs)} reprs",
        goal="0",
        held=not leaked,
    )
    assert not leaked, leaked
