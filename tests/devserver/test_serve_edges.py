"""The dev server's edges: bad options refused at start, a failed save seen, closed pipes."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from syncwire.client import Client
from syncwire.devserver import DevServer
from syncwire.devserver.example import chat_app
from syncwire.errors import FunctionError
from syncwire.protocol import Connect
from tests.devserver.wire import running
from tests.devserver.wire import subscribe

DEADLINE = 60.0  # only a hang misses it


def syncwire(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "syncwire", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def test_serve_refuses_an_unwritable_state_path_at_start(tmp_path: Path) -> None:
    path = tmp_path / "missing-folder" / "state.json"
    served = syncwire("serve", "--state", str(path), stdin="")
    assert served.returncode == 1
    # One line, syncwire's (what follows the path is the OS's reason), and nothing else.
    assert served.stderr.startswith(f"syncwire serve: cannot use --state {str(path)!r}: ")
    assert served.stderr.count("\n") == 1, served.stderr
    assert "deployment URL" not in served.stdout  # it never started


@pytest.mark.parametrize(
    ("port", "complaint"),
    [
        ("99999", "a port is 0-65535 (0: a free one), not 99999"),
        ("-1", "a port is 0-65535 (0: a free one), not -1"),
        ("http", "not a port number: 'http'"),
    ],
)
def test_serve_refuses_a_bad_port(port: str, complaint: str) -> None:
    served = syncwire("serve", "--port", port, stdin="")
    assert served.returncode == 2  # a usage error, not a crash
    # syncwire's complaint ends stderr (argparse writes the usage around it).
    assert served.stderr.endswith(f"{complaint}\n"), served.stderr


def test_serve_warns_when_not_on_loopback() -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the bind fails, nothing is sent.
    served = syncwire("serve", "--host", "192.0.2.1", "--port", "0", stdin="")
    assert "syncwire serve: warning: listening on 192.0.2.1, not loopback" in served.stderr
    assert "as no one (no --auth-secret)" in served.stderr
    assert served.returncode == 1  # cannot listen there
    loopback = syncwire("serve", "--host", "127.0.0.1", "--port", "99999", stdin="")
    assert "warning" not in loopback.stderr


@pytest.mark.asyncio
async def test_a_failed_save_is_logged_once_and_serving_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / "state.json"
    caplog.set_level(logging.WARNING, logger="syncwire.devserver")
    async with DevServer(chat_app(), state_file=path) as server, Client(server.url) as client:
        assert path.exists()  # written at start
        shutil.rmtree(folder)
        await client.mutation("messages:send", {"body": "one"})
        await client.mutation("messages:send", {"body": "two"})
        assert await client.query("messages:count", {}) == 2  # served from memory
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, errors
        assert errors[0].getMessage().startswith(f"cannot save the state to {path}")
        folder.mkdir()
        await client.mutation("messages:send", {"body": "three"})
        assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
            f"the state is saved to {path} again"
        ]
    restarted = DevServer(chat_app(), state_file=path)  # loads what was saved
    assert (await restarted.engine.query("messages:count", {}, None)).value == 3


@pytest.mark.asyncio
async def test_calling_a_function_as_the_wrong_kind_says_what_it_is() -> None:
    async with DevServer(chat_app()) as server, Client(server.url) as client:
        with pytest.raises(FunctionError) as failed:
            await client.query("messages:send", {"body": "x"})
    assert failed.value.message == (
        "Trying to execute messages:send as Query, but it is defined as Mutation."
    )


def test_serve_piped_into_head_ends_quietly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "syncwire", "serve", "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        assert process.stdout.readline().startswith(b"syncwire dev server")
        process.stdout.close()  # `| head -1`
        process.stdin.write(b"help\n")  # its answer goes to the closed pipe
        process.stdin.flush()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        process.kill()
    assert stderr == b""  # no traceback, no "Exception ignored" for the closed pipe
    assert process.returncode == 0


def test_demo_piped_into_head_ends_quietly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "syncwire", "demo", "--quick", "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b"syncwire demo")
        process.stdout.close()  # `| head -1`
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        process.kill()
    assert stderr == b""  # no traceback, no "Exception ignored" for the closed pipe
    assert process.returncode == 0  # the run went on; every check passed


@pytest.mark.asyncio
@pytest.mark.parametrize("client_ts", [-(2**63), 2**63 - 1])
async def test_an_extreme_client_clock_keeps_the_session(client_ts: int) -> None:
    """The skew the server reports is clamped into the i64 a Transition carries."""
    async with running() as (_server, client):
        connect = Connect(
            connection_count=0,
            last_close_reason="InitialConnect",
            client_ts=client_ts,
            session_id=str(uuid.uuid4()),
        )
        await client.send(connect, subscribe())
        transition = await client.transition()
    skew = transition.client_clock_skew
    assert skew is not None
    assert -(2**63) <= skew <= 2**63 - 1
    if client_ts == -(2**63):
        assert skew == -(2**63)  # clamped: clientTs minus now is below the i64 range
