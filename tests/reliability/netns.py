"""Two hosts in network namespaces, joined by a veth pair, for true network faults.

Why namespaces: the dev server's own faults (``syncwire.devserver.faults``)
act above TCP; they cannot show what a client sees when the kernel silently
drops every packet, or when a link is slow enough that one frame takes
seconds to arrive. Here the faults are real: iptables DROP rules and a ``tbf``
rate limit, on a private link between two namespaces this module creates.

Nothing leaves the namespaces: the veth pair is created inside them (never in
the root namespace) with addresses that exist only there, and every process,
rule and qdisc dies with them. ``linked_namespaces()`` deletes them in a
``finally``, after killing every process still inside (a namespace with a
process in it outlives its name). Names carry the creating pid, so a run that
was killed before its ``finally`` is cleaned up by the next one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO
from typing import Any
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
"""The repository: peers run from here (``python -m tests...``)."""

__all__ = [
    "CLIENT_IP",
    "SERVER_IP",
    "Event",
    "Host",
    "Link",
    "NetnsError",
    "Peer",
    "linked_namespaces",
    "unavailable_reason",
]

PREFIX: Final = "swnet"
SERVER_IP: Final = "10.231.0.1"
CLIENT_IP: Final = "10.231.0.2"
PREFIX_LEN: Final = 30
DEVICE: Final = "veth0"
"""The veth end's name in both namespaces: names are per namespace, so no clash."""
COMMAND_TIMEOUT: Final = 10.0
STOP_TIMEOUT: Final = 5.0
_SBIN: Final = "/usr/local/sbin:/usr/sbin:/sbin"
_NAME: Final = re.compile(rf"{PREFIX}-(\d+)-[0-9a-f]{{6}}-(?:srv|cli)")

Event = dict[str, Any]
"""One JSON line a peer printed (``ev`` names it, ``t`` is its monotonic time)."""


class NetnsError(RuntimeError):
    """A command of ``ip``, ``tc`` or ``iptables`` failed."""


def _tool(name: str) -> str | None:
    """Full path of a tool; sbin is searched too (a user's PATH may lack it)."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{_SBIN}")


def _run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a command to its end (bounded); its stdout, or ``NetnsError`` with stderr."""
    tool = _tool(argv[0])
    if tool is None:
        raise NetnsError(f"{argv[0]} not found (run scripts/install-netns-tools.sh)")
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv: ip, tc, iptables
            [tool, *argv[1:]], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise NetnsError(f"`{' '.join(argv)}` took over {timeout} s") from None
    if done.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Host:
    """One end of the link: a namespace, its address and its peer's."""

    netns: str
    ip: str
    peer_ip: str
    device: str = DEVICE


class Peer:
    """A process inside a namespace that prints JSON events, one per line.

    A thread reads its stdout into ``events`` (non-JSON lines become
    ``{"ev": "text"}``); ``wait_for`` waits, bounded, for an event to appear.
    Its stderr goes to a temporary file, shown when a wait fails.
    """

    def __init__(self, name: str, process: subprocess.Popen[str], stderr: IO[str]) -> None:
        self.name = name
        self.process = process
        self._stderr = stderr
        self.events: list[Event] = []
        self._changed = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"ev": "text", "text": line.rstrip("\n"), "t": time.monotonic()}
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def mark(self) -> int:
        """An index into ``events``: pass it as ``since`` to look only at later events."""
        with self._changed:
            return len(self.events)

    def snapshot(self, since: int = 0) -> list[Event]:
        with self._changed:
            return list(self.events[since:])

    def wait_for(
        self, what: str, predicate: Callable[[Event], bool], timeout: float, since: int = 0
    ) -> Event:
        """The first event from ``since`` on that matches; ``TimeoutError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                since = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    break
                self._changed.wait(left)
        ended = f"exited with {self.process.poll()}" if self._eof else f"no sign after {timeout} s"
        raise TimeoutError(
            f"{self.name}: waited for {what}: {ended}\n"
            f"last events: {self.snapshot()[-8:]}\nstderr: {self.stderr_tail()}"
        )

    def send(self, line: str) -> None:
        """Write one command line to the peer's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stderr_tail(self, lines: int = 20) -> str:
        self._stderr.flush()
        with open(self._stderr.name, encoding="utf-8", errors="replace") as err:
            return "".join(err.readlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """End of stdin (the peer exits on it), then SIGTERM, then SIGKILL; bounded."""
        process = self.process
        if process.poll() is None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        self._reader.join(timeout)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return process.poll()

    def close(self) -> None:
        """Stop, and remove the stderr file."""
        self.stop()
        self._stderr.close()
        with contextlib.suppress(OSError):
            os.unlink(self._stderr.name)


@dataclass
class Link:
    """Two namespaces joined by a veth pair: ``server`` (.1) and ``client`` (.2)."""

    server: Host
    client: Host
    peers: list[Peer] = field(default_factory=list)

    def run(self, host: Host, *argv: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command inside ``host``'s namespace, to its end."""
        return _run(["ip", "netns", "exec", host.netns, *argv], timeout)

    def spawn(self, host: Host, name: str, argv: Sequence[str]) -> Peer:
        """Start a ``Peer`` inside ``host``'s namespace; stopped when the link goes."""
        ip = _tool("ip")
        if ip is None:
            raise NetnsError("ip not found")
        stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the peer
            "w+", prefix=f"{name}-", suffix=".stderr", delete=False, encoding="utf-8"
        )
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [ip, "netns", "exec", host.netns, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: killed as one
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,  # where ``python -m tests...`` finds the tests package
        )
        peer = Peer(name, process, stderr)
        self.peers.append(peer)
        return peer

    # -- faults -------------------------------------------------------------------------

    def _drop_rule(self, action: str, host: Host) -> None:
        self.run(host, "iptables", "-w", "5", action, "INPUT", "-s", host.peer_ip, "-j", "DROP")

    def drop_both_ways(self) -> None:
        """Every packet between the hosts vanishes: DROP on input at both ends.

        At input rather than output, so that neither side's kernel reports an
        error to the sender (an OUTPUT DROP fails ``connect`` at once with
        EPERM): the sockets see what a dead network shows, nothing.
        """
        for host in (self.client, self.server):
            self._drop_rule("-I", host)

    def heal(self) -> None:
        """Remove the DROP rules."""
        for host in (self.client, self.server):
            self._drop_rule("-D", host)

    def limit_rate(
        self, host: Host, rate: str, burst: str = "32kbit", latency: str = "400ms"
    ) -> None:
        """Shape what ``host`` sends (its veth's egress) with a token bucket (``tbf``)."""
        self.run(
            host, "tc", "qdisc", "replace", "dev", host.device, "root", "tbf",
            "rate", rate, "burst", burst, "latency", latency,
        )  # fmt: skip

    def unlimit(self, host: Host) -> None:
        self.run(host, "tc", "qdisc", "del", "dev", host.device, "root")

    def received_bytes(self, host: Host) -> int:
        """Bytes ``host``'s veth has received (link layer): what really crossed the wire."""
        shown = json.loads(_run(["ip", "-n", host.netns, "-s", "-j", "link", "show", host.device]))
        return int(shown[0]["stats64"]["rx"]["bytes"])


def _delete_namespace(name: str) -> None:
    """Kill whatever still runs inside, then delete the namespace (best effort)."""
    with contextlib.suppress(NetnsError):
        for pid in _run(["ip", "netns", "pids", name]).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(NetnsError):
        _run(["ip", "netns", "delete", name])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Delete namespaces of ours whose creating process is gone (a killed run)."""
    removed = []
    with contextlib.suppress(NetnsError):
        for line in _run(["ip", "netns", "list"]).splitlines():
            name = line.split(" ", 1)[0]
            match = _NAME.fullmatch(name)
            if match is not None and not _alive(int(match.group(1))):
                _delete_namespace(name)
                removed.append(name)
    return removed


@contextlib.contextmanager
def linked_namespaces() -> Iterator[Link]:
    """Create the two namespaces and the veth between them; delete all of it at the end."""
    remove_stale_namespaces()
    tag = f"{PREFIX}-{os.getpid()}-{secrets.token_hex(3)}"
    server = Host(f"{tag}-srv", SERVER_IP, CLIENT_IP)
    client = Host(f"{tag}-cli", CLIENT_IP, SERVER_IP)
    link = Link(server, client)
    created: list[str] = []
    try:
        for host in (server, client):
            _run(["ip", "netns", "add", host.netns])
            created.append(host.netns)
        # Created inside the server's namespace with its peer end born inside the
        # client's: no interface ever exists in the root namespace.
        _run(
            ["ip", "-n", server.netns, "link", "add", server.device, "type", "veth",
             "peer", "name", client.device, "netns", client.netns]
        )  # fmt: skip
        for host in (server, client):
            _run(
                [
                    "ip",
                    "-n",
                    host.netns,
                    "addr",
                    "add",
                    f"{host.ip}/{PREFIX_LEN}",
                    "dev",
                    host.device,
                ]
            )
            _run(["ip", "-n", host.netns, "link", "set", host.device, "up"])
            _run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
        yield link
    finally:
        for peer in link.peers:
            peer.close()
        for name in created:
            _delete_namespace(name)


@functools.cache
def unavailable_reason() -> str | None:
    """Why the ``netns`` tests cannot run here, or ``None`` when they can.

    Tries everything they use, once: root, the tools, two namespaces with a
    veth pair, an iptables rule and a tbf qdisc.
    """
    if os.geteuid() != 0:
        return "netns tier: network namespaces need root"
    missing = [tool for tool in ("ip", "tc", "iptables") if _tool(tool) is None]
    if missing:
        return (
            f"netns tier: {', '.join(missing)} not found "
            "(scripts/install-netns-tools.sh installs iproute2 and iptables)"
        )
    try:
        with linked_namespaces() as link:
            link.drop_both_ways()
            link.heal()
            link.limit_rate(link.server, "1mbit")
            link.unlimit(link.server)
    except NetnsError as exc:
        return f"netns tier: network namespaces are not usable here: {exc}"
    return None
