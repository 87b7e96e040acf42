"""``syncwire demo``, ``watch`` and ``run``: the commands a newcomer types first.

The demo runs end to end in a subprocess exactly as ``make demo`` runs it (not
a terminal, so plain lines), and its checks are tested on fabricated outcomes:
one lost message must turn the exit code to 1. ``watch`` and ``run`` run in
subprocesses against a dev server in this test's event loop. Every wait is
bounded and every process is killed at the end.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import signal
import socket
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from syncwire import Client
from syncwire.cli import main
from syncwire.cli.answers import plain_json
from syncwire.cli.answers import wrong_kind
from syncwire.demo import AUTHOR
from syncwire.demo import FAULT_COUNT
from syncwire.demo import DemoConfig
from syncwire.demo import FaultReport
from syncwire.demo import Outcome
from syncwire.demo import check
from syncwire.demo import run_scenario
from syncwire.demo import summary_lines
from syncwire.devserver import ActionCtx
from syncwire.devserver import App
from syncwire.devserver import AppError
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver.example import chat_app
from syncwire.errors import FunctionError
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue
from tests.helpers import DEADLINE
from tests.helpers import STATUS_LINE
from tests.helpers import client_state
from tests.helpers import next_json_line
from tests.helpers import run_syncwire
from tests.helpers import syncwire_command

DEMO_LIMIT = 90.0  # the demo's own 30 s deadline and 15 s watchdog, on a slow machine


# --- demo ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_demo_end_to_end_passes_every_check() -> None:
    done = await run_syncwire("demo", limit=DEMO_LIMIT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""  # the demo reports on stdout; nothing was logged or raised
    out = done.stdout
    summary = out[out.index("faults injected:") :]
    for fault in ("overload", "internal error", "silent server", "kill and restart", "token"):
        assert fault in summary
    for seen in ("SubscriptionsWorkerFullError", "InternalServerError", "InactiveServer"):
        assert f"the client saw: {seen}" in summary
    assert "the client saw: AuthError: Token expired" in summary
    results = [line.split()[0] for line in summary.splitlines() if line.startswith("  PASS")]
    assert len(results) == 7, summary
    assert "FAIL" not in summary
    assert "all checks passed" in summary
    # Plain progress lines, not a live view: the reconnect countdown is printed.
    assert "reconnect in" in out
    assert "\x1b[" not in out


@pytest.mark.asyncio
async def test_the_quick_scenario_in_process_leaves_nothing_behind() -> None:
    outcome = await run_scenario(DemoConfig.quick(seed=7))
    failed = [c for c in check(outcome) if not c.passed]
    assert not failed, failed
    assert [f.name for f in outcome.faults] == [
        "overload",
        "internal error",
        "silent server",
        "kill and restart",
        "rejected token",
    ]
    assert outcome.fetches[:2] == [False, True]
    assert outcome.rejected == ["Token expired"]


@pytest.mark.asyncio
async def test_the_scenario_is_bounded_by_its_deadline() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = await run_scenario(replace(DemoConfig.quick(), deadline=0.5))
    assert loop.time() - started < 10.0
    assert outcome.timed_out
    by_name = {c.name: c for c in check(outcome)}
    assert not by_name["finished within 0.5 s"].passed
    assert not by_name["the client reconnected after every fault"].passed


def _good_outcome() -> Outcome:
    """A run where every promise held: 10 messages, the last 4 sent after auth began."""
    sent = [f"msg {i:03d}" for i in range(1, 11)]
    messages: list[Mapping[str, Any]] = [
        {"body": body, **({"author": AUTHOR} if i >= 6 else {})} for i, body in enumerate(sent)
    ]
    return Outcome(
        sent=sent,
        resolved=collections.Counter(sent),
        final_messages=messages,
        authored_from=6,
        fetches=[False, True],
        rejected=["Token expired"],
        final_state=client_state(),
        faults=[FaultReport(f"fault {i}", "x", float(i), "why", 0.5) for i in range(FAULT_COUNT)],
        elapsed=12.0,
    )


def test_the_checks_pass_a_good_outcome_and_catch_each_broken_promise() -> None:
    assert all(c.passed for c in check(_good_outcome()))

    def failed(outcome: Outcome) -> list[str]:
        return [c.name for c in check(outcome) if not c.passed]

    lost = _good_outcome()
    assert lost.final_messages is not None
    del lost.final_messages[3]
    assert failed(lost) == ["every message sent is in the subscription exactly once"]
    assert any(
        "FAIL" in line and "lost: msg 004" in line for line in summary_lines(lost, check(lost))
    )

    doubled = _good_outcome()
    assert doubled.final_messages is not None
    doubled.final_messages.append(doubled.final_messages[0])
    assert failed(doubled) == ["every message sent is in the subscription exactly once"]

    twice = _good_outcome()
    twice.resolved["msg 002"] += 1
    assert failed(twice) == ["every mutation resolved exactly once"]

    anonymous = _good_outcome()
    assert anonymous.final_messages is not None
    anonymous.final_messages[-1] = {"body": "msg 010"}
    assert failed(anonymous) == [f"messages sent once auth began carry the author ({AUTHOR})"]

    retrying = _good_outcome()
    retrying.final_state = client_state(connection_retries=2, state="disconnected")
    assert failed(retrying) == ["the connection is back to connected"]

    unconfirmed = _good_outcome()
    unconfirmed.rejected = []
    assert failed(unconfirmed) == [
        "the expired token was rejected, then a fresh one fetched and confirmed"
    ]

    stuck = _good_outcome()
    stuck.faults[2].recovered_after = None
    stuck.timed_out = True
    assert failed(stuck) == ["the client reconnected after every fault", "finished within 30 s"]


def test_a_failed_check_makes_the_demo_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def losing_scenario(config: DemoConfig, status: object = None) -> Outcome:
        outcome = _good_outcome()
        assert outcome.final_messages is not None
        outcome.final_messages.pop()  # the server lost the last message
        return outcome

    monkeypatch.setattr("syncwire.demo.plain_view.run_scenario", losing_scenario)
    assert main(["demo", "--plain", "--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "  FAIL  every message sent is in the subscription exactly once (lost: msg 010)" in out
    assert "SOME CHECKS FAILED" in out


def test_demo_rejects_a_bad_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--timeout", "0"])
    assert exited.value.code == 2
    assert "--timeout must be positive" in capsys.readouterr().err


# --- watch and run ------------------------------------------------------------------


def app_for_run() -> App:
    """The chat app, plus an action whose result has every special value, and a
    mutation that throws a ConvexError with data."""
    app = chat_app()

    def special(ctx: ActionCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        return {"n": args.get("n"), "big": ConvexInt64(2**60), "raw": b"\x00\x01", "x": 0.5}

    def refuse(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        raise AppError({"code": "FULL", "limit": 3})

    app.action("work:special", special)
    app.mutation("work:refuse", refuse)
    return app


@pytest.mark.asyncio
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_watch_prints_each_new_value_and_stops_cleanly(signum: int) -> None:
    async with (
        DevServer(chat_app()) as server,
        Client(server.url) as client,
        syncwire_command(
            "watch", server.url, "messages:list", "--args", '{"channel": "w"}'
        ) as process,
    ):
        assert await next_json_line(process) == []
        await client.mutation("messages:send", {"channel": "w", "body": "live"})
        [message] = await next_json_line(process)
        assert message["body"] == "live"
        assert isinstance(message["_creationTime"], float | int)
        process.send_signal(signum)
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
        assert process.stdout is not None
        assert process.stderr is not None
        assert (await process.stdout.read()) == b""  # each value was read: nothing more
        # stderr: watch's status lines only (no traceback, no warning).
        status = (await process.stderr.read()).decode().splitlines()
        assert status, "no connection line"
        assert all(STATUS_LINE.fullmatch(line) for line in status), status


@pytest.mark.asyncio
async def test_watch_prints_connection_changes_and_authenticates() -> None:
    from syncwire.devserver import make_hs256_token

    token = make_hs256_token({"sub": "u1", "name": "Bo"}, "secret")
    async with (
        DevServer(chat_app(), auth_secret="secret") as server,
        syncwire_command("watch", server.url, "messages:count", "--auth", token) as process,
    ):
        assert await next_json_line(process) == 0
        server.faults.close_all(1011, "InternalServerError")
        assert process.stderr is not None
        lines: list[str] = []
        async with asyncio.timeout(DEADLINE):
            while not any(" connection: connected · connections 2" in x for x in lines):
                lines.append((await process.stderr.readline()).decode())
        text = "".join(lines)
        assert re.search(r" connection: disconnected · [^\n]*last close: InternalServerError", text)
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
        assert re.search(r"^\S+ auth: confirmed$", text, re.M), text
        assert token not in text


@pytest.mark.asyncio
async def test_run_prints_the_result_of_a_query_a_mutation_and_an_action_as_json() -> None:
    async with DevServer(app_for_run()) as server:
        sent = await run_syncwire("run", server.url, "messages:send", "--args", '{"body": "hi"}')
        assert sent.returncode == 0, sent.stderr
        message_id = json.loads(sent.stdout)
        assert isinstance(message_id, str)
        listed = await run_syncwire("run", server.url, "messages:list")
        assert listed.returncode == 0, listed.stderr
        [message] = json.loads(listed.stdout)
        assert (message["_id"], message["body"]) == (message_id, "hi")
        special = await run_syncwire("run", server.url, "work:special", "--args", '{"n": 2}')
        assert special.returncode == 0, special.stderr
        assert json.loads(special.stdout) == {"n": 2, "big": 2**60, "raw": "AAE=", "x": 0.5}
        # The send ran once (tried as a query first, it was not run as one);
        # the count is 1.0, printed as JavaScript would.
        counted = await run_syncwire("run", server.url, "messages:count", "--kind", "query")
        assert (counted.returncode, counted.stdout.strip()) == (0, "1")


@pytest.mark.asyncio
async def test_run_reports_a_function_error_on_stderr_with_exit_code_1() -> None:
    async with DevServer(app_for_run()) as server:
        # Each failure is reported as "error: <the function's message>" (and "data: <JSON>"
        # for a ConvexError) and nothing else: the report starts and ends stderr.
        failed = await run_syncwire("run", server.url, "messages:send", "--args", '{"body": 5}')
        assert failed.returncode == 1
        assert failed.stdout == ""
        assert failed.stderr.startswith("error: ")
        assert failed.stderr.endswith("\nUncaught TypeError: body must be a string\n")
        refused = await run_syncwire("run", server.url, "work:refuse")
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: ")
        assert "ConvexError" in refused.stderr
        assert refused.stderr.endswith('\ndata: {"code": "FULL", "limit": 3}\n')
        missing = await run_syncwire("run", server.url, "nothing:here")
        assert missing.returncode == 1
        assert missing.stderr.startswith("error: Could not find public function for 'nothing:here'")
        assert missing.stderr.count("\n") == 1
        wrong_kind = await run_syncwire("run", server.url, "messages:send", "--kind", "query")
        assert wrong_kind.returncode == 1
        assert wrong_kind.stderr.startswith("error: ")
        assert wrong_kind.stderr.count("\n") == 1


@pytest.mark.asyncio
async def test_run_gives_up_on_a_deployment_that_never_answers() -> None:
    # A port that listens and never accepts: the request waits, nothing fails.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        done = await run_syncwire(
            "run", f"http://127.0.0.1:{port}", "messages:list", "--timeout", "0.5"
        )
    assert done.returncode == 1
    # One line, syncwire's, and nothing else on stderr. The kernel took the request,
    # so the client cannot know that no one read it: it may still run.
    assert re.fullmatch(
        r"syncwire run: the function 'messages:list' got no answer within 0\.5 s; [^\n]+\n",
        done.stderr,
    ), done.stderr


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["run", "http://127.0.0.1:1", "f", "--args", "[1]"], "--args must be a JSON object"),
        (["run", "http://127.0.0.1:1", "f", "--args", "{nope"], "--args is not valid JSON"),
        (["watch", "http://127.0.0.1:1", "f", "--args", '"s"'], "--args must be a JSON object"),
        (["watch", "http://127.0.0.1:1", "f", "--args", '{"$a": 1}'], "not a Convex value"),
        (["run", "ftp://example.com", "f"], "bad URL"),
        (["watch", "https://example.convex.cloud/path", "f"], "bad URL"),
        (["run", "http://127.0.0.1:1", "f", "--timeout", "-1"], "--timeout must be positive"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert error in capsys.readouterr().err


def test_plain_json_shows_convex_values_as_json_does() -> None:
    value = {
        "i": ConvexInt64(-(2**63)),
        "b": b"\xff",
        "whole": 3.0,
        "half": 0.5,
        "huge": 2.0**60,
        "specials": [float("nan"), float("inf"), float("-inf")],
        "nested": [None, True, "s"],
    }
    assert plain_json(value) == {
        "i": -(2**63),
        "b": "/w==",
        "whole": 3,
        "half": 0.5,
        "huge": 2.0**60,
        "specials": ["NaN", "Infinity", "-Infinity"],
        "nested": [None, True, "s"],
    }


def test_auto_kind_reads_what_the_deployment_says() -> None:
    real = "Trying to execute messages:send as Query, but it is defined as Mutation."
    assert wrong_kind(FunctionError(real), "messages:send") == "mutation"
    missing = "[Request ID: 1] Server Error\nCould not find public function for 'a:b'. Did you…"
    assert wrong_kind(FunctionError(missing), "a:b") == ""
    assert wrong_kind(FunctionError(missing.replace("a:b", "a:default")), "a") == ""
    assert wrong_kind(FunctionError(missing), "other:fn") is None  # a nested call failed
    assert wrong_kind(FunctionError("Uncaught Error: boom"), "a:b") is None
