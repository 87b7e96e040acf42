"""The shipped transports, for the tests that hold every one of them to one contract.

A test that takes the ``transport_kind`` fixture (or ``make_transport``, which
builds that kind's transport) runs once per ``Kind`` in ``KINDS``, with the ids
``websockets`` and ``picows``; a kind whose library is not installed is skipped
with the reason. Nothing here imports a transport's module until a test asks
for it, so a missing optional library costs a skip, not an import error.

What differs between kinds lives here, never as ``if kind == ...`` in a test:

- the logger each transport writes to (``logger_name``, ``log_names``);
- the adapters for the few tests that must look inside a connection
  (``asyncio_transport``: the asyncio transport under it, to see its write buffer,
  its reading state and its OS socket; ``queued``: messages received, not read;
  ``abort_pending``: a close-timeout timer still armed);
- ``log_shows_traffic``: the control that the transport's own log of a
  connection was captured, so that a redaction test can fail;
- capabilities a kind lacks, with why: a test marked
  ``@pytest.mark.transport_needs("reports_partial_frames")`` is a strict xfail on
  such a kind (``tests/conftest.py``), so it still runs and must start passing
  the day the kind gains it. Today both kinds have every capability: the marks
  say what a test depends on, for the next transport.

``python -m`` children and the netns peers take a kind's ``name`` and look it up
with ``kind_named``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import re
import socket
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from types import ModuleType
from typing import Any
from typing import Final

from syncwire.transport.base import Transport
from syncwire.transport.base import TransportConnection

REPORTS_PARTIAL_FRAMES: Final = "reports_partial_frames"
"""``last_data_at`` moves while bytes of one frame are still arriving (``base.py``)."""
EXACT_LIMIT_ON_DEFLATED_FRAGMENTS: Final = "exact_limit_on_deflated_fragments"
"""A message of exactly ``max_message_size`` bytes passes whatever its framing, compressed
and in fragments included (the limit is on the decompressed message)."""
READS_IN_BOUNDED_CHUNKS: Final = "reads_in_bounded_chunks"
"""Each read from the socket is bounded (asyncio's 256 KiB for the default transport), so
a flood is answered at the pace the peer reads, and memory stays near the write limit."""
CAPABILITIES: Final = frozenset(
    {EXACT_LIMIT_ON_DEFLATED_FRAGMENTS, READS_IN_BOUNDED_CHUNKS, REPORTS_PARTIAL_FRAMES}
)

_SIZE: Final = re.compile(r"\[\d+ bytes\]")


@dataclass(frozen=True)
class Kind:
    """One shipped transport, as the tests see it."""

    name: str
    """The test id, and the name ``kind_named`` takes."""
    library: str
    """The importable library it is built on; without it the kind is skipped."""
    module: str
    """The syncwire module that holds the transport."""
    transport_class: str
    connection_class: str
    log_names: tuple[str, ...]
    """The loggers its library writes to, besides the transport's own ``logger_name``."""
    lowest_log_level: int
    """The lowest level its library logs at (picows logs the handshake at 9)."""
    _asyncio_transport: Callable[[Any], asyncio.Transport]
    _queued: Callable[[Any], int]
    _abort_pending: Callable[[Any], bool]
    _log_shows_traffic: Callable[[Sequence[logging.LogRecord], str | None, str, int], bool]
    lacks: Mapping[str, str] = field(default_factory=dict)
    """Capability (one of ``CAPABILITIES``) -> why this kind does not have it."""

    @property
    def missing(self) -> str | None:
        """Why this kind cannot run here (its library is not installed), or ``None``."""
        if importlib.util.find_spec(self.library) is None:
            return f"the {self.name} transport needs {self.library}, which is not installed"
        return None

    @property
    def transport_module(self) -> ModuleType:
        """The transport's module (monkeypatch its limits, such as ``MAX_WRITE_BUFFER``)."""
        return importlib.import_module(self.module)

    @property
    def transport_type(self) -> Callable[..., Transport]:
        made: Callable[..., Transport] = getattr(self.transport_module, self.transport_class)
        return made

    @property
    def connection_type(self) -> Any:
        """The connection class (``Any``: its attributes are the kind's own)."""
        return getattr(self.transport_module, self.connection_class)

    @property
    def logger_name(self) -> str:
        """The logger the transport writes to (its module's ``LOGGER_NAME``)."""
        name: str = self.transport_module.LOGGER_NAME
        return name

    def make(self, **options: Any) -> Transport:
        """This kind's transport, with the keyword options every transport takes."""
        return self.transport_type(**options)

    def has(self, capability: str) -> bool:
        assert capability in CAPABILITIES, capability
        return capability not in self.lacks

    # -- looking inside a connection (the few tests that must) ------------------------------

    def asyncio_transport(self, conn: TransportConnection) -> asyncio.Transport:
        """The asyncio transport under ``conn``: write buffer, reading state, socket."""
        assert isinstance(conn, self.connection_type), conn
        return self._asyncio_transport(conn)

    def os_socket(self, conn: TransportConnection) -> socket.socket:
        """The client's OS socket, taken while open (a TLS transport forgets it on close):
        nothing public tells whether the file descriptor was closed."""
        sock: socket.socket = self.asyncio_transport(conn).get_extra_info("socket")
        assert sock.fileno() >= 0
        return sock

    def queued(self, conn: TransportConnection) -> int:
        """Messages received and not read yet."""
        assert isinstance(conn, self.connection_type), conn
        return self._queued(conn)

    def abort_pending(self, conn: TransportConnection) -> bool:
        """Whether the close-timeout timer is still armed (it must not outlive the socket)."""
        assert isinstance(conn, self.connection_type), conn
        return self._abort_pending(conn)

    def log_shows_traffic(
        self,
        records: Sequence[logging.LogRecord],
        frame: str | None = None,
        *,
        header: str | None = None,
        times: int = 1,
    ) -> bool:
        """Control for the redaction tests: the transport's log of a connection that
        carried ``frame`` (``times`` times, either way; ``None``: any data frame) and
        sent the header ``header`` was captured, with sizes instead of payloads. What
        shows depends on the library: see each kind's function."""
        own = [record for record in records if record.name == self.logger_name]
        return self._log_shows_traffic(own, frame, header or "", times)


# --------------------------------------------------------------------------- websockets


def _websockets_asyncio_transport(conn: Any) -> asyncio.Transport:
    transport: asyncio.Transport = conn._wire.transport
    return transport


def _websockets_queued(conn: Any) -> int:
    return len(conn._wire.messages)


def _websockets_abort_pending(conn: Any) -> bool:
    timer: asyncio.TimerHandle | None = conn._wire.abort_timer
    loop = asyncio.get_running_loop()
    return timer is not None and not timer.cancelled() and timer.when() > loop.time()


def _websockets_log_shows_traffic(
    records: Sequence[logging.LogRecord], frame: str | None, header: str, times: int
) -> bool:
    """``websockets`` logs every frame, both ways, and every handshake header at
    DEBUG: the adapter leaves a data frame's size (``TEXT [n bytes]``) and a header's
    name (its value ``[redacted]``)."""
    args = [record.args for record in records]
    text = re.compile(
        r"TEXT \[\d+ bytes\]" if frame is None else rf"TEXT \[{len(frame.encode())} bytes\]"
    )
    frames = sum(
        1
        for arg in args
        if isinstance(arg, tuple) and len(arg) == 1 and text.fullmatch(str(arg[0]))
    )
    return frames >= times and (not header or (header, "[redacted]") in args)


# --------------------------------------------------------------------------- picows


def _picows_asyncio_transport(conn: Any) -> asyncio.Transport:
    assert conn._transport is not None
    transport: asyncio.Transport = conn._transport.underlying_transport
    return transport


def _picows_queued(conn: Any) -> int:
    return len(conn._queue)


def _picows_abort_pending(conn: Any) -> bool:
    return conn._abort_handle is not None


def _picows_log_shows_traffic(
    records: Sequence[logging.LogRecord], frame: str | None, header: str, times: int
) -> bool:
    """``picows`` logs no data frame, but the whole upgrade request (every header, the
    URL's query) below DEBUG: the adapter leaves its size (``[n bytes]``)."""
    return any(
        record.levelno < logging.DEBUG
        and isinstance(record.args, tuple)
        and any(isinstance(arg, str) and _SIZE.fullmatch(arg) for arg in record.args)
        for record in records
    )


# --------------------------------------------------------------------------- the registry

WEBSOCKETS: Final = Kind(
    name="websockets",
    library="websockets",
    module="syncwire.transport.websockets",
    transport_class="WebSocketsTransport",
    connection_class="WebSocketsConnection",
    log_names=("websockets", "websockets.client"),
    lowest_log_level=logging.DEBUG,
    _asyncio_transport=_websockets_asyncio_transport,
    _queued=_websockets_queued,
    _abort_pending=_websockets_abort_pending,
    _log_shows_traffic=_websockets_log_shows_traffic,
)
PICOWS: Final = Kind(
    name="picows",
    library="picows",
    module="syncwire.transport.picows",
    transport_class="PicowsTransport",
    connection_class="PicowsConnection",
    log_names=("picows", "picows.client"),
    lowest_log_level=1,
    _asyncio_transport=_picows_asyncio_transport,
    _queued=_picows_queued,
    _abort_pending=_picows_abort_pending,
    _log_shows_traffic=_picows_log_shows_traffic,
)
KINDS: Final = (WEBSOCKETS, PICOWS)


def kind_named(name: str) -> Kind:
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise LookupError(f"no transport kind {name!r}: {[kind.name for kind in KINDS]}")
