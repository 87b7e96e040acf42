"""HS256 JSON Web Tokens, with the standard library only.

Enough to stand in for a Convex deployment's auth provider in tests: the dev
server verifies ``Authenticate`` tokens against a shared secret, and
``make_hs256_token`` mints them. Any other scheme plugs in as a verifier
callable instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import TypeAlias

from syncwire.errors import InvalidTokenError
from syncwire.tokens import b64url_decode
from syncwire.tokens import b64url_encode

__all__ = [
    "TokenVerifier",
    "identity_from_claims",
    "make_hs256_token",
    "verify_hs256",
]

TokenVerifier: TypeAlias = Callable[[str], Mapping[str, Any]]
"""Takes a token, returns its claims, raises (any exception) to reject it."""


def _unb64url(text: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise InvalidTokenError("Could not decode token: invalid base64url") from None


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def make_hs256_token(claims: Mapping[str, Any], secret: str | bytes) -> str:
    """Sign ``claims`` (e.g. ``{"sub": "u1", "iss": "test", "exp": ...}``) with HS256."""
    header = b64url_encode(
        json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode()
    )
    payload = b64url_encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(_key(secret), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url_encode(signature)}"


def verify_hs256(
    token: str,
    secret: str | bytes,
    *,
    issuer: str | None = None,
    audience: str | None = None,
    leeway: float = 0.0,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a valid HS256 token; ``InvalidTokenError`` otherwise.

    Checks the signature in constant time, then ``exp``/``nbf`` (with
    ``leeway`` seconds) and, when given, ``iss`` and ``aud``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError("Could not parse token: expected three dot-separated parts")
    try:
        header = json.loads(_unb64url(parts[0]))
        claims = json.loads(_unb64url(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise InvalidTokenError("Could not parse token: invalid JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidTokenError("Token algorithm is not HS256")
    if not isinstance(claims, dict):
        raise InvalidTokenError("Token claims are not a JSON object")
    expected = hmac.new(_key(secret), f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256)
    if not hmac.compare_digest(expected.digest(), _unb64url(parts[2])):
        raise InvalidTokenError(
            "Could not verify token signature. Check that the token is signed with the right key."
        )
    current = time.time() if now is None else now
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, (int, float)) or current > exp + leeway):
        raise InvalidTokenError("Token expired")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or current < nbf - leeway):
        raise InvalidTokenError("Token is not valid yet (nbf)")
    if issuer is not None and claims.get("iss") != issuer:
        raise InvalidTokenError("Token issuer does not match")
    if audience is not None:
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if audience not in audiences:
            raise InvalidTokenError("Token audience does not match")
    return claims


def identity_from_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The identity functions see: the claims plus Convex's ``UserIdentity`` keys."""
    subject = str(claims.get("sub", ""))
    issuer = str(claims.get("iss", ""))
    return {
        **claims,
        "subject": subject,
        "issuer": issuer,
        "tokenIdentifier": f"{issuer}|{subject}",
    }
