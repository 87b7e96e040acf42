"""``DevServerThread``: the dev server for blocking code, started and stopped from outside."""

from __future__ import annotations

import errno
import socket
import threading

import pytest

from syncwire import ConvexClient
from syncwire.devserver import DevServerThread
from syncwire.devserver.example import chat_app


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("syncwire-")}


def test_a_blocking_client_uses_it_and_nothing_is_left() -> None:
    before = _threads()
    with DevServerThread(chat_app()) as server, ConvexClient(server.url) as client:
        assert server.url.startswith("http://127.0.0.1:")
        client.mutation("messages:send", {"body": "hi"})
        assert client.query("messages:count") == 1
        assert server.call(lambda: len(server.server.engine.db.tables())) == 1
    assert _threads() == before


def test_errors_at_start_are_raised_in_the_caller() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = DevServerThread(chat_app(), port=port)
        with pytest.raises(OSError) as failed:  # noqa: PT011 - the errno says which
            server.start()
        assert failed.value.errno == errno.EADDRINUSE  # the bind's own error, not a wrapper
        server.stop()  # nothing to stop: returns at once
    assert "syncwire-DevServerThread" not in _threads()


def test_misuse_says_so() -> None:
    server = DevServerThread(chat_app())
    with pytest.raises(RuntimeError, match=r"^the DevServerThread is not started$"):
        _ = server.url
    with server, pytest.raises(RuntimeError, match=r"^a DevServerThread starts once$"):
        server.start()
