"""``syncwire run`` and ``watch`` at their edges: nothing hangs, nothing runs under the
wrong identity, and each stream carries exactly what the help says (issue #11).

Every command runs as a subprocess (``python -m syncwire``) against a dev server or a
plain HTTP server in this test, on 127.0.0.1. Where a line holds a cause in the
library's words, the test asks the library for those words instead of spelling
them, so that only the command's own text is pinned here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import json
import os
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import pytest

from syncwire import Client
from syncwire.cli import main
from syncwire.devserver import ActionCtx
from syncwire.devserver import App
from syncwire.devserver import DevServer
from syncwire.devserver import MutationCtx
from syncwire.devserver import QueryCtx
from syncwire.devserver import console
from syncwire.devserver import make_hs256_token
from syncwire.devserver.example import chat_app
from syncwire.errors import FunctionError
from syncwire.protocol import ConvexInt64
from syncwire.protocol import ConvexValue
from syncwire.protocol import json_to_convex
from tests.helpers import DEADLINE
from tests.helpers import ROOT
from tests.helpers import STATUS_LINE
from tests.helpers import child
from tests.helpers import first_error
from tests.helpers import next_json_line
from tests.helpers import run_syncwire
from tests.helpers import syncwire_command
from tests.transport.servers import closed_port
from tests.transport.servers import silent_server

CAUSE_DEADLINE = 10.0
"""Issue #11: an unreachable or non-Convex URL ends ``run`` within 10 s, not at --timeout."""


def app_for_edges() -> App:
    """The chat app, plus functions that log, stall, echo their argument and fail."""
    app = chat_app()

    def hello(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        console.log("hello")
        return "hi"

    def write(ctx: MutationCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        console.log("wrote")
        return None

    def act(ctx: ActionCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        console.warn("careful")
        return 1.0

    async def stall(ctx: ActionCtx | MutationCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        await asyncio.Event().wait()  # never answers; cancelled when the server stops
        return None

    def echo(ctx: ActionCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        n = args["n"]
        return {"type": type(n).__name__, "n": n}

    def last(ctx: QueryCtx, args: Mapping[str, ConvexValue]) -> ConvexValue:
        messages = ctx.db.query("messages").collect()
        body = messages[-1]["body"] if messages else None
        if body == "bad":
            raise ValueError("the last message is bad")
        return body

    app.query("logs:hello", hello)
    app.mutation("logs:write", write)
    app.action("logs:act", act)
    app.action("work:stall", stall)
    app.mutation("work:stall_mutation", stall)
    app.action("work:echo", echo)
    app.query("work:last", last)
    return app


@contextlib.contextmanager
def plain_http(status: int) -> Iterator[str]:
    """An HTTP server that answers ``status`` to everything: not a Convex deployment."""

    class Answer(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = b"not a Convex deployment"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)


async def library_cause(url: str) -> str:
    """The library's words for why it cannot connect to ``url``."""
    async with Client(url) as client:
        return await first_error(client)


async def server_message(url: str, function: str) -> str:
    """The deployment's own message for a query of ``function`` that fails."""
    async with Client(url) as client:
        with pytest.raises(FunctionError) as failed:
            await asyncio.wait_for(client.query(function), DEADLINE)
    return failed.value.message


async def timed_run(*args: str) -> tuple[float, str, int]:
    """``run_syncwire`` and how long it took; (seconds, stderr, exit code)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = await run_syncwire(*args)
    assert done.stdout == ""
    return loop.time() - started, done.stderr, done.returncode


# --- 1. failure is visible and bounded ------------------------------------------------


@pytest.mark.asyncio
async def test_run_to_a_refused_port_exits_1_at_once_with_the_cause() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    cause = await library_cause(url)
    # --timeout 60: the exit must come from the cause, not from the timeout.
    elapsed, stderr, code = await timed_run("run", url, "messages:list", "--timeout", "60")
    assert code == 1
    assert stderr == f"syncwire run: cannot connect: {cause}\n"
    assert elapsed < CAUSE_DEADLINE


@pytest.mark.asyncio
async def test_run_to_a_port_that_never_answers_exits_1_at_its_timeout() -> None:
    # Over HTTP no handshake tells a silent server from a long action: --timeout bounds it.
    async with silent_server() as server:
        url = f"http://127.0.0.1:{server.port}"
        elapsed, stderr, code = await timed_run("run", url, "messages:list", "--timeout", "2")
    assert code == 1
    assert re.fullmatch(
        r"syncwire run: the function 'messages:list' got no answer within 2 s; [^\n]+\n", stderr
    ), stderr
    assert elapsed < 2.0 + CAUSE_DEADLINE  # the bound, then the interpreter's exit


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [404, 200])
async def test_run_to_a_server_that_is_not_convex_exits_1_at_once_with_the_cause(
    status: int,
) -> None:
    with plain_http(status) as url:
        elapsed, stderr, code = await timed_run("run", url, "messages:list", "--timeout", "60")
    assert code == 1
    assert stderr.startswith("syncwire run: "), stderr
    assert f"HTTP {status}" in stderr
    assert "is this a Convex deployment URL?" in stderr
    assert stderr.count("\n") == 1
    assert elapsed < CAUSE_DEADLINE


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "how"),
    [
        (
            [],
            "the function 'work:stall' got no answer within 3 s; it was sent, so it may still run",
        ),
        (
            ["--kind", "action"],
            "the action 'work:stall' got no answer within 3 s; "
            "it was sent, so the action may still run",
        ),
        (
            ["--kind", "mutation"],
            "the mutation 'work:stall_mutation' got no answer within 3 s; "
            "it was sent, so it may still commit",
        ),
    ],
)
async def test_run_timeout_says_whether_the_call_may_still_run(kind: list[str], how: str) -> None:
    function = "work:stall_mutation" if "mutation" in kind else "work:stall"
    async with DevServer(app_for_edges()) as server:
        done = await run_syncwire("run", server.url, function, "--timeout", "3", *kind)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"syncwire run: {how}"), done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("function", ["nothing:here", "messages:send"])
async def test_watch_of_a_missing_function_or_a_mutation_exits_1_with_the_servers_message(
    function: str,
) -> None:
    async with DevServer(chat_app()) as server:
        message = await server_message(server.url, function)
        async with syncwire_command("watch", server.url, function) as process:
            assert await asyncio.wait_for(process.wait(), DEADLINE) == 1
            assert process.stdout is not None
            assert process.stderr is not None
            assert await process.stdout.read() == b""
            *status, last = (await process.stderr.read()).decode().splitlines()
    assert last == f"syncwire watch: {message}"
    assert all(STATUS_LINE.fullmatch(line) for line in status), status


# --- 2. identity is never silently dropped ----------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", [[], ["--kind", "mutation"]])
async def test_run_with_a_rejected_token_exits_1_and_commits_nothing(kind: list[str]) -> None:
    token = make_hs256_token({"sub": "u1", "name": "Bo"}, "another-secret")
    async with DevServer(chat_app(), auth_secret="the-secret") as server:
        done = await run_syncwire(
            "run", server.url, "messages:send", "--args", '{"body": "x"}', "--auth", token, *kind
        )
        count = await server.engine.query("messages:count", {}, None)
    assert done.returncode == 1
    assert done.stdout == ""
    assert re.fullmatch(r"syncwire run: --auth: [^\n]+\n", done.stderr), done.stderr
    assert token not in done.stderr
    assert count.value == 0  # nothing ran without the identity the user gave


@pytest.mark.asyncio
async def test_watch_with_a_rejected_token_exits_1_and_prints_no_value() -> None:
    token = make_hs256_token({"sub": "u1"}, "another-secret")
    async with (
        DevServer(chat_app(), auth_secret="the-secret") as server,
        syncwire_command("watch", server.url, "messages:list", "--auth", token) as process,
    ):
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 1
        assert process.stdout is not None
        assert process.stderr is not None
        assert await process.stdout.read() == b""  # no value computed without the identity
        stderr = (await process.stderr.read()).decode()
    *status, last = stderr.splitlines()
    assert re.fullmatch(r"syncwire watch: --auth: .+", last), last
    assert all(STATUS_LINE.fullmatch(line) for line in status), status
    assert token not in stderr


# --- 3. function log lines ---------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("function", "kind", "result", "line"),
    [
        # /api/function runs any kind: the client does not know which, as convex-js.
        ("logs:hello", "auto", '"hi"', "[CONVEX ?(logs:hello)] [LOG] 'hello'"),
        ("logs:write", "mutation", "null", "[CONVEX M(logs:write)] [LOG] 'wrote'"),
        ("logs:hello", "query", '"hi"', "[CONVEX Q(logs:hello)] [LOG] 'hello'"),
        ("logs:act", "action", "1", "[CONVEX A(logs:act)] [WARN] 'careful'"),
    ],
)
async def test_run_shows_the_functions_log_lines_on_stderr(
    function: str, kind: str, result: str, line: str
) -> None:
    async with DevServer(app_for_edges()) as server:
        done = await run_syncwire("run", server.url, function, "--kind", kind)
    assert done.returncode == 0, done.stderr
    assert done.stdout == result + "\n"
    assert done.stderr == line + "\n"


@pytest.mark.asyncio
async def test_watch_shows_the_functions_log_lines_on_stderr() -> None:
    async with (
        DevServer(app_for_edges()) as server,
        syncwire_command("watch", server.url, "logs:hello") as process,
    ):
        assert await next_json_line(process) == "hi"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
        assert process.stderr is not None
        lines = (await process.stderr.read()).decode().splitlines()
    assert "[CONVEX Q(logs:hello)] [LOG] 'hello'" in lines
    others = [x for x in lines if x != "[CONVEX Q(logs:hello)] [LOG] 'hello'"]
    assert all(STATUS_LINE.fullmatch(x) for x in others), others


# --- 4. the CLI says exactly what it does -----------------------------------------------


@pytest.mark.asyncio
async def test_watch_prints_one_json_document_per_line_and_the_rest_on_stderr() -> None:
    """``syncwire watch … | jq``: every stdout line parses, across a failing query and a
    reconnect; the failure and the connection changes are on stderr."""
    async with (
        DevServer(app_for_edges()) as server,
        Client(server.url) as client,
        syncwire_command("watch", server.url, "work:last") as process,
    ):
        assert await next_json_line(process) is None
        await client.mutation("messages:send", {"body": "héllo\nworld"})
        assert await next_json_line(process) == "héllo\nworld"
        await client.mutation("messages:send", {"body": "bad"})  # the query now fails
        server.faults.close_all(1011, "InternalServerError")
        await client.mutation("messages:send", {"body": "good"})
        assert await next_json_line(process) == "good"
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
        assert process.stdout is not None
        assert process.stderr is not None
        assert await process.stdout.read() == b""
        stderr = (await process.stderr.read()).decode()
    assert re.search(r"^\S+ error: .*the last message is bad", stderr, re.M | re.S), stderr
    assert "last close: InternalServerError" in stderr


@pytest.mark.parametrize("number", [2**53 + 1, -(2**53) - 1, 2**62, 12345678901234567890])
def test_integers_a_float64_cannot_hold_are_refused_with_exit_code_2(
    number: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "http://127.0.0.1:1", "work:echo", "--args", f'{{"n": {number}}}'])
    assert exited.value.code == 2
    complaint = capsys.readouterr().err.splitlines()[-1]
    assert f"--args: {number} is beyond +-2^53" in complaint  # syncwire's words
    hint = re.search(r'give (\{"\$integer": "[^"]+"\})$', complaint)
    if -(2**63) <= number < 2**63:
        assert hint is not None, complaint  # the int64 form, ready to paste
        assert json_to_convex(json.loads(hint.group(1))) == ConvexInt64(number)
    else:
        assert hint is None
        assert complaint.endswith("it does not fit an int64 either")


@pytest.mark.asyncio
async def test_args_send_plain_numbers_as_float64_and_integer_as_int64() -> None:
    big = 2**60 + 1
    encoded = base64.b64encode(big.to_bytes(8, "little", signed=True)).decode()
    async with DevServer(app_for_edges()) as server:
        edge = await run_syncwire("run", server.url, "work:echo", "--args", f'{{"n": {2**53}}}')
        int64 = await run_syncwire(
            "run", server.url, "work:echo", "--args", f'{{"n": {{"$integer": "{encoded}"}}}}'
        )
    assert edge.returncode == 0, edge.stderr
    assert json.loads(edge.stdout) == {"type": "float", "n": 2**53}
    assert int64.returncode == 0, int64.stderr
    assert json.loads(int64.stdout) == {"type": "ConvexInt64", "n": big}


@pytest.mark.asyncio
async def test_a_ws_url_without_the_sync_path_gets_it() -> None:
    async with DevServer(chat_app()) as server:
        ws = server.url.replace("http://", "ws://")
        for url in (ws, ws + "/", ws + "/api/sync"):
            done = await run_syncwire("run", url, "messages:count", "--timeout", "60")
            assert (done.returncode, done.stdout, done.stderr) == (0, "0\n", "")
        async with syncwire_command("watch", ws, "messages:count") as process:
            assert await next_json_line(process) == 0
        # Another path names no deployment: run (on the HTTP API, at the origin) refuses it.
        refused = await run_syncwire("run", ws + "/elsewhere", "messages:count")
    assert refused.returncode == 2
    assert "bad URL" in refused.stderr


# --- 6. a reader that goes away --------------------------------------------------------


@contextlib.asynccontextmanager
async def piped(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, IO[bytes]]]:
    """``python -m syncwire ARGS`` with stdout on a pipe this test may close (``| head``)."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as reader:
        async with syncwire_command(*args, stdout=write_end) as process:
            os.close(write_end)
            yield process, reader


@pytest.mark.asyncio
@pytest.mark.parametrize("another_value", [False, True])
async def test_watch_ends_quietly_when_stdout_is_closed(another_value: bool) -> None:
    """``watch … | head -1``: it ends once head has its line, whether or not another
    value comes (none may ever come), without a traceback."""
    async with (
        DevServer(chat_app()) as server,
        Client(server.url) as client,
        piped("watch", server.url, "messages:count") as (process, stdout),
    ):
        first = await asyncio.wait_for(asyncio.to_thread(stdout.readline), DEADLINE)
        assert json.loads(first) == 0
        stdout.close()  # `| head -1` has had its line
        if another_value:
            await client.mutation("messages:send", {"body": "one more value"})
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
        assert process.stderr is not None
        status = (await process.stderr.read()).decode().splitlines()
    assert all(STATUS_LINE.fullmatch(line) for line in status), status  # no traceback


@pytest.mark.asyncio
async def test_run_ends_quietly_when_stdout_is_closed() -> None:
    async with (
        DevServer(chat_app()) as server,
        piped("run", server.url, "messages:list") as (process, stdout),
    ):
        stdout.close()  # `| head -0`
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
        assert process.stderr is not None
        assert await process.stderr.read() == b""


# --- the README's commands, as pasted ------------------------------------------------------


def command_line_blocks() -> list[str]:
    """The ```sh blocks of the README's "The command line" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.partition("\n## The command line\n")[2].partition("\n## ")[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.mark.asyncio
async def test_the_readmes_command_line_session_works_as_pasted() -> None:
    """The README's two shells, in order, on a free port instead of 8187, with this
    environment's ``bin`` for ``.venv/bin`` (CI runs one environment per Python)."""
    serve, session = (
        block.replace(".venv/bin/", f"{Path(sys.executable).parent}/")
        for block in command_line_blocks()
    )
    port = str(closed_port())
    [serve_argv] = [line.partition("#")[0].split() for line in serve.splitlines()]
    serve_words = [word.replace("8187", port) for word in serve_argv]
    async with child(*serve_words, cwd=ROOT, stdin=asyncio.subprocess.PIPE) as server:
        assert server.stdout is not None
        async with asyncio.timeout(DEADLINE):
            while b"Ctrl-C stops" not in await server.stdout.readline():
                pass
        async with child("bash", "-e", "-c", session.replace("8187", port), cwd=ROOT) as shell:
            stdout, stderr = await asyncio.wait_for(shell.communicate(), DEADLINE)
    assert shell.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert "1" in lines  # messages:count after the one send
    assert '    "body": "hi",' in lines  # the last 2 messages (an int64 n), indented by run
