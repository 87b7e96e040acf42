"""WebSocket facts syncwire relies on, written once: close codes, size limit, close checks.

Everything that opens, fakes or serves a socket (the transports, the fake in
``syncwire.testing``, the dev server's fault injection) checks a close code
here, so the three agree on what may be sent.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CLOSE_ABNORMAL",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_NO_STATUS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_CLOSE_REASON_BYTES",
    "check_close",
    "is_sendable_close_code",
]

CLOSE_NO_STATUS: Final = 1005
"""Close code reported when the peer's close frame carried no status (RFC 6455 §7.1.5)."""
CLOSE_ABNORMAL: Final = 1006
"""Close code reported when the connection ended without a close frame."""
CLOSE_MESSAGE_TOO_BIG: Final = 1009
"""Close code for a message over the receiver's size limit."""
DEFAULT_MAX_MESSAGE_SIZE: Final = 64 * 2**20
"""Largest incoming message, after decompression (64 MiB): Convex transitions can
exceed 20 MB. The transport's frame limit and the client's limit on a transition
reassembled from chunks both default to it."""
MAX_CLOSE_REASON_BYTES: Final = 123
"""A close frame is a control frame: 125 bytes of payload, two of them the code."""

# Codes an endpoint may put in a close frame (RFC 6455 §7.4.1: 1004-1006 and 1015
# are reserved for reports; 3000-4999 are for libraries and applications).
_SENDABLE_BELOW_3000: Final = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})


def is_sendable_close_code(code: int) -> bool:
    """Whether ``code`` may travel in a close frame."""
    return code in _SENDABLE_BELOW_3000 or 3000 <= code < 5000


def check_close(code: int, reason: str) -> None:
    """Raise ``ValueError`` unless a close frame can carry ``code`` and ``reason``."""
    try:
        fits = len(reason.encode("utf-8")) <= MAX_CLOSE_REASON_BYTES
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form
        fits = False
    if not (fits and is_sendable_close_code(code)):
        raise ValueError(
            f"cannot close with code {code} and a {len(reason)}-character reason: "
            "codes are 1000-1003, 1007-1014 or 3000-4999; reasons at most "
            f"{MAX_CLOSE_REASON_BYTES} UTF-8 bytes"
        )
