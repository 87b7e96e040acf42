"""``ConvexClient``: timeouts, rejected identities and garbage collection (issue 11).

On real sockets against the dev server (``DevServerThread``, 127.0.0.1). Waits
are bounded: calls get ``timeout=``, threads are joined with a bound.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from syncwire import AuthenticationError
from syncwire import Client
from syncwire import ClientClosedError
from syncwire import ConvexClient
from syncwire.devserver import DevServerThread
from syncwire.devserver import make_hs256_token
from syncwire.devserver.example import chat_app
from tests.helpers import run_python
from tests.transport.servers import closed_port

TIMEOUT = 20.0
SECRET = "lifecycle-test-secret"


@pytest.fixture(scope="module")
def server() -> Iterator[DevServerThread]:
    with DevServerThread(chat_app(), auth_secret=SECRET) as running:
        yield running


def token(subject: str, secret: str = SECRET) -> str:
    return make_hs256_token({"sub": subject, "iss": "test", "exp": time.time() + 600}, secret)


def eventually(condition: Any, what: str) -> None:
    """Wait (bounded) for ``condition()`` to hold: for work the loop thread finishes."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {TIMEOUT:g} s: {what}")
        time.sleep(0.01)


# -- timeouts -------------------------------------------------------------------------------


def test_timeouts_raise_timeout_error_and_a_call_s_own_overrides_the_client_s() -> None:
    port = closed_port()
    with ConvexClient(f"http://127.0.0.1:{port}", timeout=0.2) as client:
        with pytest.raises(TimeoutError, match=r"^the query 'messages:list' got no answer"):
            client.query("messages:list")
        with pytest.raises(TimeoutError, match=r"may still commit, exactly once$"):
            client.mutation("messages:send", {"body": "x"})
        with pytest.raises(TimeoutError, match=r"may still run$"):
            client.action("messages:act")
        # Never sent (nothing listens): withdrawn, so nothing is left in flight.
        eventually(
            lambda: client.connection_state().inflight_mutations == 0, "the mutation withdrawn"
        )
        state = client.connection_state()
        assert state.inflight_actions == 0
        assert state.last_error == f"connection refused by 127.0.0.1:{port}: is the server running?"

        # timeout=None on the call: waits past the client's 0.2 s until close().
        outcome: list[BaseException] = []

        def wait_forever() -> None:
            try:
                client.query("messages:list", timeout=None)
            except BaseException as exc:  # recorded for the main thread
                outcome.append(exc)

        waiter = threading.Thread(target=wait_forever)
        waiter.start()
        waiter.join(0.6)
        assert waiter.is_alive(), "the call's timeout=None was not honoured"
        assert not outcome
        client.close()
        waiter.join(TIMEOUT)
        assert [type(exc) for exc in outcome] == [ClientClosedError]


def test_a_per_call_timeout_without_a_client_default() -> None:
    with ConvexClient(f"http://127.0.0.1:{closed_port()}") as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.query("messages:list", timeout=0.1)
        assert time.monotonic() - started >= 0.1


def test_a_subscription_s_next_takes_a_timeout_and_loses_no_value(
    server: DevServerThread,
) -> None:
    with ConvexClient(server.url, timeout=TIMEOUT) as client:
        sub = client.subscribe("messages:count", {"channel": "next timeout"})
        assert sub.next(timeout=TIMEOUT) == 0.0
        with pytest.raises(TimeoutError, match="subscription to 'messages:count'"):
            sub.next(timeout=0.1)  # nothing changed
        client.mutation("messages:send", {"channel": "next timeout", "body": "b"})
        assert sub.next(timeout=TIMEOUT) == 1.0


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-1, ValueError), ("5", TypeError)])
def test_a_bad_timeout_is_refused_before_a_thread_starts(value: object, error: type) -> None:
    before = set(threading.enumerate())
    with pytest.raises(error, match="timeout"):
        ConvexClient("http://127.0.0.1:9", timeout=value)  # type: ignore[arg-type]
    assert set(threading.enumerate()) == before


# -- a rejected identity ------------------------------------------------------------------------


def test_a_rejected_token_commits_nothing_and_every_call_says_so(
    server: DevServerThread,
) -> None:
    forged = token("mallory", secret="not-the-server-secret")
    channel = "rejected token, blocking"
    with ConvexClient(server.url, timeout=TIMEOUT) as client:
        sub = client.subscribe("messages:list", {"channel": channel})
        assert next(sub) == []
        idle = client.subscribe("messages:count", {"channel": channel})  # unread throughout
        client.set_auth(forged)
        # Sent right behind the Authenticate frame, before its rejection is known.
        with pytest.raises(AuthenticationError) as failed:
            client.mutation("messages:send", {"channel": channel, "body": "forged"})
        assert forged not in str(failed.value)
        with pytest.raises(AuthenticationError):
            next(sub)
        with pytest.raises(AuthenticationError):
            next(sub)
        with pytest.raises(AuthenticationError):
            client.query("messages:list", {"channel": channel})
        with pytest.raises(AuthenticationError):
            client.action("messages:act")
        with pytest.raises(AuthenticationError):
            client.subscribe("messages:list", {"channel": channel})
        assert client.connection_state().is_authenticated is False

        # A new identity, still being fetched: the failure is over, its news is stale.
        gate = threading.Event()

        async def fetcher(force_refresh: bool) -> str:
            await asyncio.to_thread(gate.wait, TIMEOUT)
            return token("ada")

        client.set_auth(fetcher)
        with pytest.raises(TimeoutError):
            idle.next(timeout=0.2)  # waits for a value: not the failure that is over
        gate.set()
        assert next(idle) == 0.0
        assert next(sub) == [], "nothing was committed, under any identity"
        client.mutation("messages:send", {"channel": channel, "body": "signed"})
        assert [m["author"] for m in client.query("messages:list", {"channel": channel})] == ["ada"]


def test_clear_auth_after_a_rejection_runs_signed_out(server: DevServerThread) -> None:
    channel = "rejected token, then signed out"
    with ConvexClient(server.url, timeout=TIMEOUT) as client:
        client.set_auth("not.a.token")
        with pytest.raises(AuthenticationError):
            client.mutation("messages:send", {"channel": channel, "body": "x"})
        client.clear_auth()
        client.mutation("messages:send", {"channel": channel, "body": "anonymous"})
        assert [m.get("author") for m in client.query("messages:list", {"channel": channel})] == [
            None
        ]


def test_the_async_client_raises_the_same_error(server: DevServerThread) -> None:
    channel = "rejected token, async"

    async def main() -> None:
        async with asyncio.timeout(TIMEOUT), Client(server.url) as client:
            sub = client.subscribe("messages:list", {"channel": channel})
            assert await sub.next() == []
            client.set_auth(token("mallory", secret="wrong"))
            with pytest.raises(AuthenticationError):
                await client.mutation("messages:send", {"channel": channel, "body": "forged"})
            with pytest.raises(AuthenticationError):
                await sub.next()
            client.set_auth(token("bob"))
            await client.mutation("messages:send", {"channel": channel, "body": "signed"})
            values = [await sub.next()]
            while values[-1] == []:
                values.append(await sub.next())
            assert [m["author"] for m in values[-1]] == ["bob"]

    asyncio.run(main())


# -- garbage collection ---------------------------------------------------------------------------


def test_an_unreferenced_client_is_collected_and_its_thread_and_socket_end(
    server: DevServerThread,
) -> None:
    before = set(threading.enumerate())
    client = ConvexClient(server.url, timeout=TIMEOUT)
    assert client.query("messages:count") >= 0.0
    (thread,) = set(threading.enumerate()) - before
    server.run(lambda: server.server.wait_for_sessions(1))
    collected = weakref.ref(client)
    del client  # no gc.collect(): no reference cycle holds it either
    assert collected() is None, "the client's own thread kept it alive"
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    server.run(lambda: server.server.wait_for_sessions(0))


_NOTEBOOK = """
import os, sys, threading, time
from syncwire import ConvexClient

def sockets():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count

client = ConvexClient(sys.argv[1], timeout=20)
client.query("messages:count")
one = (threading.active_count(), sockets())
for _ in range(100):  # a notebook cell, run again and again
    client = ConvexClient(sys.argv[1], timeout=20)
client.query("messages:count")
deadline = time.monotonic() + 20
for thread in threading.enumerate():
    if thread.name.startswith("syncwire-ConvexClient") and thread is not client._loop_thread.thread:
        thread.join(max(deadline - time.monotonic(), 0))
print(*one, threading.active_count(), sockets())
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets in /proc")
def test_re_running_a_notebook_cell_leaves_one_thread_and_one_socket(
    server: DevServerThread,
) -> None:
    child = run_python(_NOTEBOOK, server.url, timeout=120)
    threads_one, sockets_one, threads_after, sockets_after = map(int, child.stdout.split())
    assert (threads_after, sockets_after) == (threads_one, sockets_one), (
        "a hundred clients later, only the last one's thread and socket remain"
    )
