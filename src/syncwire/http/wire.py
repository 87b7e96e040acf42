"""The Convex HTTP API as both HTTP clients speak it: requests built, answers read.

No I/O here: ``HttpClient`` (asyncio) and ``ConvexHttpClient`` (blocking) send
what ``Call`` holds with httpx and hand the answer to ``read_answer``. The wire
is the official npm ``ConvexHttpClient``'s (``dist/esm/browser/http_client.js``
in convex 1.48): ``POST <origin>/api/<kind>`` with ``{"path", "format":
"convex_encoded_json", "args": [<args as Convex JSON>]}``; HTTP 200 with
``{"status": "success", "value"}``, 560 with ``{"status": "error",
"errorMessage", "errorData"?}``, both with ``logLines``; any other status is
the deployment refusing the request, with ``{"code", "message"}``.

Errors never quote a credential: every text built from the deployment's words
has the token or admin key in use replaced (``syncwire.redaction``).
"""

from __future__ import annotations

import base64
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Final
from typing import Literal
from typing import TypeVar

import msgspec

from syncwire._version import __version__
from syncwire.errors import AuthenticationError
from syncwire.errors import ConvexError
from syncwire.errors import FunctionError
from syncwire.errors import HttpError
from syncwire.errors import ProtocolError
from syncwire.function_logs import log_function_lines
from syncwire.protocol import ConvexValue
from syncwire.protocol import JSONValue
from syncwire.protocol import convex_to_json
from syncwire.protocol import function_args
from syncwire.protocol import json_to_convex
from syncwire.protocol import normalize_json
from syncwire.protocol.values import enc_hook
from syncwire.redaction import redact_secret

__all__ = [
    "CLIENT_TIMEOUT",
    "CLIENT_VERSION",
    "UDF_FAILED",
    "Call",
    "CallKind",
    "ClientTimeout",
    "Credentials",
    "Timeout",
    "admin_credentials",
    "prepare_call",
    "query_ts_call",
    "read_answer",
    "read_query_ts",
    "request_headers",
    "user_credentials",
]

CLIENT_VERSION: Final = f"syncwire-{__version__}"
"""The ``Convex-Client`` header: what the sync client sends in its handshake too."""
UDF_FAILED: Final = 560
"""The status of an answer whose function failed (``STATUS_CODE_UDF_FAILED`` upstream)."""
SNIPPET: Final = 120
"""Characters of an answer that is not Convex's quoted in the error (a proxy's page)."""

CallKind = Literal["query", "mutation", "action", "function", "query_at_ts", "query_ts"]

_PATHS: Final[Mapping[CallKind, str]] = {
    "query": "/api/query",
    "mutation": "/api/mutation",
    "action": "/api/action",
    "function": "/api/function",
    "query_at_ts": "/api/query_at_ts",
    "query_ts": "/api/query_ts",
}
_LOG_KINDS: Final[Mapping[CallKind, Literal["Q", "M", "A", "?"]]] = {
    "query": "Q",
    "mutation": "M",
    "action": "A",
    "function": "?",
    "query_at_ts": "Q",
    "query_ts": "Q",
}
# What a call that ran out of time may have done, once it was sent.
_AFTER_SENT: Final[Mapping[CallKind, str]] = {
    "mutation": "it was sent, so it may still commit",
    "action": "it was sent, so the action may still run",
    "function": "it was sent, so it may still run (or commit)",
}
_ENCODER: Final = msgspec.json.Encoder(enc_hook=enc_hook)
S = TypeVar("S", bound=msgspec.Struct)


class ClientTimeout(enum.Enum):
    """A per-call ``timeout`` not given: the client's applies."""

    CLIENT = "the client's timeout"


CLIENT_TIMEOUT: Final = ClientTimeout.CLIENT
Timeout = float | None | ClientTimeout
"""A call's ``timeout=``: seconds, ``None`` to wait as long as it takes, or the client's."""


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True, slots=True)
class Credentials:
    """The ``Authorization`` header one call is sent with, and the secret in it.

    Its repr names the kind only, never the secret.
    """

    kind: Literal["token", "admin key"]
    header: str
    secret: str

    def __repr__(self) -> str:
        return f"<Credentials {self.kind}>"

    def redact(self, text: str) -> str:
        """``text`` without the secret (a deployment quoting it back)."""
        return redact_secret(text, self.secret)


def user_credentials(token: object) -> Credentials:
    """``Authorization: Bearer <jwt>`` for a user's JWT."""
    if not isinstance(token, str):
        raise TypeError(f"set_auth takes a JWT (a str), not {type(token).__name__}")
    if not token:
        raise ValueError("the auth token is empty; use clear_auth() to sign out")
    _check_header_safe(token, "the auth token")
    return Credentials("token", f"Bearer {token}", token)


def admin_credentials(
    admin_key: object, acting_as: Mapping[str, JSONValue] | None = None
) -> Credentials:
    """``Authorization: Convex <admin key>``, acting as ``acting_as`` (a user identity)
    when given, as upstream's ``setAdminAuth``: ``<key>:<base64 of its JSON>``."""
    if not isinstance(admin_key, str):
        raise TypeError(
            f"set_admin_auth takes an admin key (a str), not {type(admin_key).__name__}"
        )
    if not admin_key:
        raise ValueError("the admin key is empty")
    _check_header_safe(admin_key, "the admin key")
    value = admin_key
    if acting_as:
        if not isinstance(acting_as, Mapping):
            raise TypeError(f"acting_as must be a dict, not {type(acting_as).__name__}")
        try:
            identity = _ENCODER.encode(normalize_json(dict(acting_as)))
        except TypeError as exc:
            raise TypeError(f"acting_as must be JSON: {exc}") from None
        value = f"{admin_key}:{base64.b64encode(identity).decode('ascii')}"
    return Credentials("admin key", f"Convex {value}", value)


def _check_header_safe(secret: str, what: str) -> None:
    # Never quoted: a header value with a line break would be refused by httpx with
    # an error that shows it.
    if not secret.isascii() or not secret.isprintable():
        raise ValueError(f"{what} holds a character that cannot be sent in an HTTP header")


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Call:
    """One request, ready to send: where, what, and how to speak of it."""

    kind: CallKind
    name: str
    path: str
    """The URL path on the deployment's origin."""
    args_json: JSONValue
    ts: JSONValue = None
    """``query_at_ts`` only: the snapshot ``/api/query_ts`` gave."""

    @property
    def body(self) -> bytes:
        if self.kind == "query_ts":
            return b"{}"
        body: dict[str, JSONValue] = {
            "path": self.name,
            "format": "convex_encoded_json",
            "args": [self.args_json],
        }
        if self.kind == "query_at_ts":
            body["ts"] = self.ts
        return _ENCODER.encode(body)

    @property
    def what(self) -> str:
        """How messages name the call: ``the mutation 'messages:send'``."""
        if self.kind == "query_ts":
            return "the snapshot timestamp request (/api/query_ts)"
        kind = "query" if self.kind == "query_at_ts" else self.kind
        return f"the {kind} {self.name!r}"

    @property
    def idempotent(self) -> bool:
        """A query: running it twice changes nothing, so a lost connection may be retried."""
        return self.kind in ("query", "query_at_ts", "query_ts")

    def at(self, ts: JSONValue) -> Call:
        """This query, read at the snapshot ``ts`` (``/api/query_at_ts``)."""
        return Call("query_at_ts", self.name, _PATHS["query_at_ts"], self.args_json, ts)

    def timed_out(self, seconds: float | None, *, sent: bool) -> TimeoutError:
        """The ``TimeoutError`` of this call, saying what may still happen."""
        within = "" if seconds is None else f" within {seconds:g} s"
        if not sent:
            after = "it was never sent, so it never runs"
        else:
            after = _AFTER_SENT.get(self.kind, "it was sent, and changes nothing")
        return TimeoutError(f"{self.what} got no answer{within}; {after}")

    def lost(self, where: str) -> str:
        """Words for a connection lost while this call waited for its answer."""
        head = f"the connection to {where} was lost while {self.what} waited for its answer"
        if self.kind == "mutation":
            return f"{head}: it may have committed"
        if self.kind in ("action", "function"):
            return f"{head}: it may have run"
        return head


def prepare_call(kind: CallKind, name: object, args: Mapping[str, ConvexValue] | None) -> Call:
    """A function call, its arguments checked now: ``TypeError``/``ValueError`` name
    the bad field, as the sync client's calls do."""
    if not isinstance(name, str) or not name:
        raise TypeError("the function name must be a non-empty str")
    return Call(kind, name, _PATHS[kind], convex_to_json(function_args(args)))


def query_ts_call() -> Call:
    """``/api/query_ts``: the deployment's current snapshot timestamp."""
    return Call("query_ts", "", _PATHS["query_ts"], None)


def request_headers(credentials: Credentials | None) -> dict[str, str]:
    """The headers of every request: the content type, the client, and the credentials."""
    headers = {"Content-Type": "application/json", "Convex-Client": CLIENT_VERSION}
    if credentials is not None:
        headers["Authorization"] = credentials.header
    return headers


# --------------------------------------------------------------------------- answers


class _FunctionAnswer(msgspec.Struct):
    status: str
    value: Any = msgspec.UNSET
    errorMessage: Any = msgspec.UNSET
    errorData: Any = msgspec.UNSET
    logLines: Any = msgspec.UNSET


class _RefusalAnswer(msgspec.Struct):
    code: str
    message: str


class _TimestampAnswer(msgspec.Struct):
    ts: Any


def read_answer(
    call: Call,
    status: int,
    content_type: str | None,
    body: bytes,
    *,
    credentials: Credentials | None,
    logger: logging.Logger | None,
) -> ConvexValue:
    """The value of a function call's answer; raises what the answer means.

    ``FunctionError`` (``ConvexError`` with ``data``) for a function that failed,
    ``AuthenticationError`` for credentials the deployment rejected,
    ``HttpError`` for any other refusal, ``ProtocolError`` for a 200 or a 560
    that is not Convex's answer. The function's log lines go to ``logger``
    (``None``: not logged).
    """
    if status not in (200, UDF_FAILED):
        raise _refusal(call, status, content_type, body, credentials)
    answer = _decode(call, status, body, _FunctionAnswer)
    if logger is not None and answer.logLines is not msgspec.UNSET:
        lines = answer.logLines
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise _bad(call, status, "its logLines are not a list of strings")
        log_function_lines(logger, _LOG_KINDS[call.kind], call.name, lines)
    if answer.status == "success":
        if answer.value is msgspec.UNSET:
            raise _bad(call, status, "it has no value")
        return _convex(call, status, answer.value, "value")
    if answer.status == "error":
        message = answer.errorMessage
        if not isinstance(message, str):
            raise _bad(call, status, "its errorMessage is not a string")
        if credentials is not None:
            message = credentials.redact(message)
        if answer.errorData is not msgspec.UNSET:
            raise ConvexError(message, _convex(call, status, answer.errorData, "errorData"))
        raise FunctionError(message)
    raise _bad(call, status, "its status is neither success nor error")


def read_query_ts(call: Call, status: int, content_type: str | None, body: bytes) -> JSONValue:
    """The snapshot timestamp in ``/api/query_ts``'s answer (opaque: sent back as it is)."""
    if status != 200:
        raise _refusal(call, status, content_type, body, None)
    ts: JSONValue = _decode(call, status, body, _TimestampAnswer).ts
    if ts is None:
        raise _bad(call, status, "its ts is null")
    return ts


def _decode(call: Call, status: int, body: bytes, shape: type[S]) -> S:
    try:
        return msgspec.json.decode(body, type=shape)
    except msgspec.DecodeError:
        # The reason msgspec gives names a field or a position, never a value.
        raise _bad(
            call,
            status,
            "it is not the JSON object the HTTP API answers with: is this a Convex deployment URL?",
        ) from None


def _convex(call: Call, status: int, value: JSONValue, field: str) -> ConvexValue:
    try:
        return json_to_convex(value)
    except ProtocolError as exc:
        raise _bad(call, status, f"its {field} is not a Convex value ({exc})") from None


def _bad(call: Call, status: int, why: str) -> ProtocolError:
    return ProtocolError(f"the answer to {call.what} (HTTP {status}) is not Convex's: {why}")


def _refusal(
    call: Call,
    status: int,
    content_type: str | None,
    body: bytes,
    credentials: Credentials | None,
) -> Exception:
    try:
        refusal: _RefusalAnswer | None = msgspec.json.decode(body, type=_RefusalAnswer)
    except msgspec.DecodeError:
        refusal = None
    if refusal is None:
        return HttpError(status, None, _not_convex(status, content_type, body, credentials))
    message = refusal.message if credentials is None else credentials.redact(refusal.message)
    code = refusal.code if credentials is None else credentials.redact(refusal.code)
    if status in (401, 403) and credentials is not None:
        return AuthenticationError(
            f"the deployment rejected the {credentials.kind} (HTTP {status} {code}): {message}"
        )
    return HttpError(status, code, message)


def _not_convex(
    status: int, content_type: str | None, body: bytes, credentials: Credentials | None
) -> str:
    """What an answer that is not the HTTP API's says: its kind, and a short printable
    piece of it (a proxy's error page), with no secret."""
    kind = (content_type or "").partition(";")[0].strip()
    kind = kind if kind.isprintable() and len(kind) < 64 else "an unknown type"
    text = " ".join(body.decode("utf-8", "replace").split())
    if credentials is not None:
        text = credentials.redact(text)  # before cutting, so no piece of it is left
    text = "".join(ch if ch.isprintable() else "?" for ch in text[:SNIPPET])
    what = f"{len(body)} bytes of {kind or 'no stated type'}" if body else "no body"
    words = (
        "the server's answer is not the Convex HTTP API's "
        f"({what}): is this a Convex deployment URL?"
    )
    return words + (f" It begins: {text!r}" if text else "")
