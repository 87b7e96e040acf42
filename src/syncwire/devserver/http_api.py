"""The Convex HTTP API's answers (docs/protocol.md#http-api): one request in, one answer out.

Why apart: ``front.py`` speaks HTTP/1.1 on the socket; this module only knows
what each path means. It runs functions through the same ``Engine`` (so an
HTTP mutation invalidates subscriptions and is saved like a sync one) and
verifies tokens with the server's verifier; its errors follow what a
deployment answers (crates/local_backend/src/public_api.rs,
crates/common/src/http/extract.rs, crates/errors/src/lib.rs in
get-convex/convex-backend).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from msgspec import UNSET

from syncwire.devserver.context import UserIdentity
from syncwire.devserver.database import SnapshotUnavailableError
from syncwire.devserver.engine import Engine
from syncwire.devserver.engine import Outcome
from syncwire.errors import ProtocolError
from syncwire.protocol import ConvexValue
from syncwire.protocol import JSONValue
from syncwire.protocol import json_to_convex

__all__ = [
    "FUNCTION_PATHS",
    "HTTP_API_PATHS",
    "HttpAnswer",
    "HttpApi",
    "decode_ts",
    "encode_ts",
]

FUNCTION_PATHS: Final = {
    "/api/query": "query",
    "/api/mutation": "mutation",
    "/api/action": "action",
    "/api/function": "any",
    "/api/query_at_ts": "query",
}
HTTP_API_PATHS: Final = frozenset({*FUNCTION_PATHS, "/api/query_ts"})
"""Every path the HTTP API serves (all ``POST``)."""

# Formats a deployment accepts that mean Convex's encoded JSON (the one the
# official clients send); the clean-JSON ones ("json") are refused here.
_ENCODED_FORMATS: Final = frozenset({"convex_encoded_json", "convex_json"})
_INTERNAL_MESSAGE: Final = "Your request couldn't be completed. Try again later."

logger = logging.getLogger("syncwire.devserver")


@dataclass(frozen=True)
class HttpAnswer:
    """A status, extra headers and a body (JSON, or empty)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def json_answer(status: int, value: JSONValue) -> HttpAnswer:
    """``value`` as a JSON body."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return HttpAnswer(status, text.encode(), (("content-type", "application/json"),))


def error_answer(status: int, code: str, message: str) -> HttpAnswer:
    """A deployment's error body: ``{"code": "CamelCase", "message": "words"}``."""
    return json_answer(status, {"code": code, "message": message})


class _BadRequest(Exception):
    """Answer with this status and ``{code, message}``; nothing runs."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = error_answer(status, code, message)


def encode_ts(ts: int) -> str:
    """A snapshot timestamp as a deployment gives it: base64 of its 8 little-endian bytes."""
    return base64.b64encode(ts.to_bytes(8, "little")).decode()


def decode_ts(value: str) -> int:
    """The timestamp ``encode_ts`` gave; ``ValueError`` for anything else."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("ts is not base64") from None
    if len(raw) != 8:
        raise ValueError("Wrong number of bytes for SerializedTs.")
    return int.from_bytes(raw, "little")


class HttpApi:
    """Answers HTTP API requests for one server: its ``Engine`` and token verifier.

    ``verify`` turns a user token into an identity and raises to reject it
    (the server's, shared with the sync endpoint).
    """

    def __init__(self, engine: Engine, verify: Callable[[str], UserIdentity]) -> None:
        self._engine = engine
        self._verify = verify

    async def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> HttpAnswer:
        """The answer to one request (``headers`` by lower-case name)."""
        path = target.partition("?")[0]
        if path not in HTTP_API_PATHS:
            return HttpAnswer(404)  # as a deployment's router: no body
        if method != "POST":
            return HttpAnswer(405, headers=(("allow", "POST"),))
        try:
            if path == "/api/query_ts":
                return json_answer(200, {"ts": encode_ts(self._engine.ts)})
            identity = self._identity(headers.get("authorization"))
            request = _parse_body(headers.get("content-type"), body)
            return await self._run(path, request, identity)
        except _BadRequest as exc:
            return exc.answer

    def _identity(self, header: str | None) -> UserIdentity | None:
        """Who is calling; the token is checked before anything runs."""
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "convex":
            raise _BadRequest(
                401,
                "BadAdminKey",
                "The provided admin key was invalid for this deployment: "
                "the dev server accepts no admin keys (use a user token, Bearer)",
            )
        if scheme.lower() != "bearer" or not token:
            raise _BadRequest(
                401, "InvalidAuthHeader", "The Authorization header must be `Bearer <token>`"
            )
        try:
            return self._verify(token)
        except Exception as exc:  # the verifier's words; they never hold the token
            raise _BadRequest(
                401, "InvalidAuthHeader", f"Could not verify token: {exc or type(exc).__name__}"
            ) from None

    async def _run(
        self, path: str, request: Mapping[str, object], identity: UserIdentity | None
    ) -> HttpAnswer:
        name = _function_path(request)
        args = _function_args(request)
        kind = FUNCTION_PATHS[path]
        engine = self._engine
        if path == "/api/query_at_ts":
            ts = _snapshot_ts(request)
            try:
                outcome = await engine.query_at(ts, name, args, identity)
            except SnapshotUnavailableError as exc:
                logger.info("query_at_ts refused: %s", exc)
                return error_answer(500, "InternalServerError", _INTERNAL_MESSAGE)
            return _function_answer(outcome)
        if kind == "any":
            found = engine.app.lookup(name)
            kind = "query" if found is None else found[0]  # unknown: the engine's error
        if kind == "mutation":
            outcome = await engine.mutation(name, args, identity)
        elif kind == "action":
            outcome = await engine.action(name, args, identity)
        else:
            outcome = await engine.query(name, args, identity)
        return _function_answer(outcome)


def _parse_body(content_type: str | None, body: bytes) -> Mapping[str, object]:
    """The JSON object of a function request, or ``BadJsonBody``/``BadFormat``."""
    mime = (content_type or "").partition(";")[0].strip().lower()
    if not (
        mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))
    ):
        raise _BadRequest(
            400, "BadJsonBody", "Expected request with `Content-Type: application/json`"
        )
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadRequest(
            400, "BadJsonBody", f"Failed to parse the request body as JSON: {exc}"
        ) from None
    if not isinstance(request, dict):
        raise _BadRequest(400, "BadJsonBody", "The request body must be a JSON object")
    fmt = request.get("format")
    if fmt is not None and fmt not in _ENCODED_FORMATS:
        raise _BadRequest(
            400,
            "BadFormat",
            f"unrecognized value format {fmt!r}: the dev server answers in convex_encoded_json",
        )
    component = request.get("componentPath")
    if component not in (None, ""):
        raise _BadRequest(400, "BadJsonBody", "componentPath: the dev server has no components")
    return request


def _function_path(request: Mapping[str, object]) -> str:
    if "path" not in request:
        raise _BadRequest(400, "BadJsonBody", "missing field `path`")
    path = request["path"]
    if not isinstance(path, str):
        raise _BadRequest(400, "BadJsonBody", "`path` must be a string")
    if not path.strip():
        raise _BadRequest(400, "InvalidConvexFunction", "Failed to parse Convex function path: ''")
    return path


def _function_args(request: Mapping[str, object]) -> Mapping[str, ConvexValue]:
    """``args``: an object, or (as the official clients send) an array of one object."""
    if "args" not in request:
        raise _BadRequest(400, "BadJsonBody", "missing field `args`")
    args = request["args"]
    if isinstance(args, list) and len(args) == 1:
        args = args[0]
    if not isinstance(args, dict):
        raise _BadRequest(400, "BadJsonBody", "`args` must be an object or an array of one object")
    try:
        value = json_to_convex(args)
    except (ProtocolError, TypeError, ValueError) as exc:
        raise _BadRequest(400, "BadJsonBody", f"`args` is not a Convex value: {exc}") from None
    if not isinstance(value, Mapping):  # pragma: no cover - an object decodes to a mapping
        raise _BadRequest(400, "BadJsonBody", "`args` must be an object")
    return value


def _snapshot_ts(request: Mapping[str, object]) -> int:
    if "ts" not in request:
        raise _BadRequest(400, "BadJsonBody", "missing field `ts`")
    ts = request["ts"]
    if not isinstance(ts, str):
        raise _BadRequest(400, "BadJsonBody", "`ts` must be the string /api/query_ts gave")
    try:
        return decode_ts(ts)
    except ValueError as exc:
        # A deployment fails this past its JSON check, as an internal error.
        logger.info("query_at_ts with a bad ts: %s", exc)
        raise _BadRequest(500, "InternalServerError", _INTERNAL_MESSAGE) from None


def _function_answer(outcome: Outcome) -> HttpAnswer:
    """The value or the error, and the log lines when there are any: always 200.

    A deployment answers a function that ran with 200 whether it succeeded or
    failed (``public_function_post`` and its siblings in the backend's
    ``public_api.rs`` return their JSON with the default status); npm's client
    also accepts 560 for a failure, the official Python client only 200.
    Numbers are written as the backend's serializer writes a float64 (``1.0``,
    not JavaScript's ``1``): the official Python client refuses a JSON integer.
    """
    if outcome.success:
        body: dict[str, JSONValue] = {
            "status": "success",
            "value": _as_floats(outcome.json_value),
        }
    else:
        body = {"status": "error", "errorMessage": outcome.error_message}
        if outcome.error_data is not UNSET:
            body["errorData"] = _as_floats(outcome.error_data)
    if outcome.log_lines:
        body["logLines"] = list(outcome.log_lines)
    return json_answer(200, body)


def _as_floats(value: JSONValue) -> JSONValue:
    """Convex JSON with its numbers as floats: in it, every JSON number is a float64
    (an int64 is an ``{"$integer": …}`` object), which ``convex_to_json`` writes as
    JavaScript does (``1``)."""
    if type(value) is int:
        return float(value)
    if isinstance(value, list):
        return [_as_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_floats(item) for key, item in value.items()}
    return value
