"""JSON Web Token pieces both sides read: base64url segments, written once.

The client reads a token's ``iat``/``exp`` without verifying it (to schedule a
refresh, as the official clients do); the dev server verifies and mints HS256
tokens. Both decode the same base64url JSON segments.
"""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["b64url_decode", "b64url_encode", "decode_segment"]


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JWT segments are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of an unpadded base64url segment; ``ValueError`` if it is not one."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_segment(text: str) -> Any:
    """The JSON value of one token segment; ``ValueError`` if it is not base64url JSON."""
    return json.loads(b64url_decode(text))
