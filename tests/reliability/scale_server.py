"""A minimal sync server for the scale tests, in a process of its own.

``python -m tests.reliability.scale_server [--port P] [--hold]`` listens on
127.0.0.1 with ``websockets`` and answers each connection's first frame (the
client's ``Connect``) with one ``MutationResponse``: the first message a
manager hands to ``on_message``, so "synced" can be observed without a real
session. After that it stays silent until the client closes. A process of its
own keeps the server's objects and CPU out of the client's measurements, and
lets a test kill it like a crashed deployment (SIGKILL: every client sees its
TCP connection drop, close code 1006).

``--hold`` imports everything, prints ``READY`` and binds only once a line
arrives on stdin, so that a restart's downtime is the test's sleep rather
than an interpreter's start-up. The process exits when stdin closes (the test
went away) or after ``LIFETIME`` seconds, whatever happens.

``ServerProcess`` starts, kills and releases it from a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import sys
from collections.abc import Sequence
from typing import Final

HOST: Final = "127.0.0.1"
REPO: Final = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""The directory ``tests`` is in: the child runs ``-m tests.reliability.scale_server``."""
LIFETIME: Final = 1800.0
"""Seconds after which the server exits by itself."""
START_TIMEOUT: Final = 60.0
"""Seconds a test waits for the server's ``READY``/``PORT`` line (2 shared cores)."""
BACKLOG: Final = 4096
"""Listen backlog: a storm of 1,000 handshakes must not overflow it (SYNs would be
dropped and retried a second later, which is not what is measured)."""
_ANSWER: Final = (
    '{"type":"MutationResponse","requestId":0,"success":true,"result":null,'
    '"ts":"AQAAAAAAAAA=","logLines":[]}'
)
"""The answer to ``Connect``: a response to a request nobody made, which a bare
manager hands to ``on_message`` (a ``Ping`` never reaches it)."""


# --------------------------------------------------------------------------- the server


def raise_nofile(wanted: int) -> bool:
    """Raise the soft limit on open files to ``wanted`` (at most the hard limit).

    Returns whether the soft limit is now at least ``wanted``.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return True
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return False
    return target >= wanted


async def _serve(port: int, hold: bool) -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()
    go = loop.create_future()

    def on_stdin() -> None:
        data = os.read(sys.stdin.fileno(), 4096)
        if not go.done():
            go.set_result(None)
        if not data and not stdin_closed.done():
            stdin_closed.set_result(None)
            loop.remove_reader(sys.stdin.fileno())

    async def handle(ws: ServerConnection) -> None:
        try:
            await ws.recv()
            await ws.send(_ANSWER)
            async for _ in ws:  # until the client closes
                pass
        except ConnectionClosed:
            pass

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    async with asyncio.timeout(LIFETIME):
        if hold:
            print("READY", flush=True)
            await go
        if stdin_closed.done():
            return
        async with serve(
            handle,
            HOST,
            port,
            compression=None,  # as bench/bench_manager.py: the figures stay comparable
            ping_interval=None,
            max_size=2**16,
            backlog=BACKLOG,
        ) as server:
            bound = next(iter(server.sockets)).getsockname()[1]
            print(f"PORT {bound}", flush=True)
            await stdin_closed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hold", action="store_true", help="bind only when a line arrives")
    parser.add_argument("--nofile", type=int, default=0, help="open files needed")
    args = parser.parse_args(argv)
    if args.nofile and not raise_nofile(args.nofile):
        print(f"cannot allow {args.nofile} open files", file=sys.stderr, flush=True)
        return 2
    with contextlib.suppress(TimeoutError):  # LIFETIME is over
        asyncio.run(_serve(args.port, args.hold))
    return 0


# --------------------------------------------------------------------------- from a test


class ServerProcess:
    """The server in a child process, driven from a test's event loop.

    ``await ServerProcess.start()`` returns once it listens (or, with
    ``hold=True``, once it is ready to listen: ``await release()`` binds).
    Always ``await close()`` in a ``finally``: it kills the process if needed.
    """

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self._proc = proc
        self.port = port

    @classmethod
    async def start(cls, *, port: int = 0, hold: bool = False, nofile: int = 0) -> ServerProcess:
        args = [sys.executable, "-m", "tests.reliability.scale_server", "--port", str(port)]
        args += ["--nofile", str(nofile)] + (["--hold"] if hold else [])
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        server = cls(proc, port)
        try:
            line = await server._line()
            if line != ("READY" if hold else "PORT"):
                raise RuntimeError(f"the scale server did not start (exit {proc.returncode})")
        except BaseException:
            await server.close()
            raise
        return server

    async def _line(self) -> str:
        """The next line's first word; ``PORT n`` also sets ``port``."""
        assert self._proc.stdout is not None
        async with asyncio.timeout(START_TIMEOUT):
            words = (await self._proc.stdout.readline()).decode().split()
        if words[:1] == ["PORT"]:
            self.port = int(words[1])
        return words[0] if words else ""

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/api/sync"

    async def release(self) -> None:
        """Bind now (a server started with ``hold=True``); returns once it listens."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(b"go\n")
        await self._proc.stdin.drain()
        if await self._line() != "PORT":
            raise RuntimeError(f"the scale server did not listen (exit {self._proc.returncode})")

    async def kill(self) -> None:
        """SIGKILL, as a crash: clients' connections drop without a close frame."""
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGKILL)
        await self._proc.wait()

    async def close(self) -> None:
        """End the process (stdin closed, then SIGKILL after 10 s) and its pipes."""
        proc = self._proc
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            async with asyncio.timeout(10.0):
                await proc.wait()
        except TimeoutError:
            await self.kill()
        if proc.stdout is not None:
            await proc.stdout.read()  # to EOF, so the pipe transport closes
        if proc.stdin is not None:
            await proc.stdin.wait_closed()


if __name__ == "__main__":
    sys.exit(main())
