"""Keeping secrets out of logs, exception texts and reprs: the one place it is done.

A sync session carries secrets in two places: the ``Authenticate`` frame (the
user's JWT or an admin key) and, for some deployments, the URL's query string.
Everything syncwire prints goes through here: URLs lose their credentials and
query, a token quoted back in a server's text is replaced, and the
``websockets`` library (client and dev server alike) logs through an adapter that
drops frame payloads and header values before a log record even exists.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import MutableMapping
from typing import Any
from typing import Final

from websockets.frames import Frame
from websockets.frames import Opcode

__all__ = ["REDACTED", "numbers_only_logger", "redact_secret", "redact_url", "redacting_logger"]

REDACTED: Final = "[redacted]"
"""What stands where a secret was."""

# Handshake headers whose values are protocol plumbing, never credentials.
_PLAIN_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "date",
        "host",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-version",
        "server",
        "upgrade",
        "user-agent",
    }
)
_HEADER_LINE_FORMATS: Final = frozenset({"> %s: %s", "< %s: %s"})
_REQUEST_LINE_FORMAT: Final = "> GET %s HTTP/1.1"
# Frame kinds by their RFC 6455 opcode, named here rather than by websockets' enum.
_OPCODE_NAMES: Final[Mapping[int, str]] = {
    0x0: "CONT",
    0x1: "TEXT",
    0x2: "BINARY",
    0x8: "CLOSE",
    0x9: "PING",
    0xA: "PONG",
}


def redact_url(url: str) -> str:
    """``url`` without credentials, query or fragment: fit for reprs and messages."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_secret(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` replaced (a server quoting a token back)."""
    return text.replace(secret, REDACTED) if secret else text


def _describe_frame(frame: Frame) -> str:
    """``TEXT [123 bytes]``: what ``websockets`` shows for a frame, minus the payload."""
    size = len(frame.data)
    details = [f"{size} byte{'' if size == 1 else 's'}"]
    if not frame.fin:
        details.append("continued")
    opcode = int(frame.opcode)
    head = _OPCODE_NAMES.get(opcode, f"opcode {opcode:#x}")
    if frame.opcode is Opcode.CLOSE and size >= 2:
        head += f" {int.from_bytes(frame.data[:2], 'big')}"  # the code; never the reason
    return f"{head} [{', '.join(details)}]"


def _redact_arg(arg: object) -> object:
    if isinstance(arg, Frame):
        return _describe_frame(arg)
    if isinstance(arg, bytes | bytearray | memoryview):
        return f"[{len(arg)} bytes]"
    return arg


def _redact_args(msg: object, args: tuple[object, ...]) -> tuple[object, ...]:
    """The arguments of one ``websockets`` log call, with payloads and secrets removed."""
    if not isinstance(msg, str):
        return tuple(_redact_arg(arg) for arg in args)
    if msg in _HEADER_LINE_FORMATS and len(args) == 2:
        name, value = args
        if str(name).lower() not in _PLAIN_HEADERS:
            value = REDACTED
        return (name, value)
    if msg == _REQUEST_LINE_FORMAT and len(args) == 1:
        path = str(args[0])
        return (path.partition("?")[0] + ("?" + REDACTED if "?" in path else ""),)
    return tuple(_redact_arg(arg) for arg in args)


def redacting_logger(logger: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
    """A logger to give ``websockets`` (client or server): payloads and secrets removed."""
    return _RedactingAdapter(logger, _redact_args, keep_exc_info=True)


def numbers_only_logger(logger: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
    """A logger for a library whose log arguments we cannot tell apart (``picows``):
    only numbers and socket addresses pass, and no exception text (it may quote data)."""
    return _RedactingAdapter(logger, _numbers_only, keep_exc_info=False)


def _number_or_address(arg: object) -> object:
    if isinstance(arg, bool | int | float):
        return arg
    if (
        isinstance(arg, tuple)
        and 2 <= len(arg) <= 4
        and isinstance(arg[0], str)
        and isinstance(arg[1], int)
    ):
        return arg  # (host, port[, flowinfo, scope_id]) from getsockname/getpeername
    if isinstance(arg, bytes | bytearray | memoryview):
        return f"[{len(arg)} bytes]"
    return REDACTED


def _numbers_only(msg: object, args: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(_number_or_address(arg) for arg in args)


class _RedactingAdapter(logging.LoggerAdapter[logging.Logger]):
    """Rewrites a library's log calls before a record exists, so no handler,
    filter or formatter anywhere can see a frame payload or a header value."""

    def __init__(
        self,
        logger: logging.Logger,
        redact: Callable[[object, tuple[object, ...]], tuple[object, ...]],
        *,
        keep_exc_info: bool,
    ) -> None:
        super().__init__(logger, None)
        self._redact = redact
        self._keep_exc_info = keep_exc_info

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        # Keep the caller's ``extra`` (websockets adds the connection) instead of ours.
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(level):
            # One more frame to skip, so records point at websockets' code, not here.
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
            if not self._keep_exc_info:
                kwargs.pop("exc_info", None)
            self.logger.log(level, msg, *self._redact(msg, args), **kwargs)

    def exception(self, msg: Any, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, exc_info=exc_info, **kwargs)
