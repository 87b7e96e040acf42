"""What a deployment answers, as ``watch`` and ``run`` show it: values as plain JSON,
failures in the deployment's own words, and which failures say "not this kind"."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncwire.errors import AuthenticationError

__all__ = ["auth_rejected", "dumps", "error_text", "plain_json", "wrong_kind"]


def plain_json(value: object) -> object:
    """A Convex value as plain JSON (see ``VALUES_HELP``): ``json.dumps`` takes it."""
    from syncwire.protocol import ConvexInt64

    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) <= 2**53:
            return int(value)
        return value
    if isinstance(value, int | ConvexInt64):
        return int(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    return str(value)


def dumps(value: object, *, indent: int | None = None) -> str:
    return json.dumps(plain_json(value), ensure_ascii=False, indent=indent)


def error_text(error: Exception) -> str:
    from syncwire.errors import FunctionError

    return error.message if isinstance(error, FunctionError) else str(error)


def auth_rejected(command: str, error: AuthenticationError) -> str:
    """The line for a rejected --auth token: the server's reason, never the token."""
    return f"syncwire {command}: --auth: {error.reason}"


_NOT_FOUND = "Could not find public function for '"
_DEFINED_AS = re.compile(r"but it is defined as (Query|Mutation|Action)\b")


def _canonical(name: str) -> str:
    """``messages`` → ``messages:default``, ``messages.js:send`` → ``messages:send``."""
    module, _, function = name.partition(":")
    module = module.removesuffix(".js")
    return f"{module}:{function or 'default'}"


def wrong_kind(error: Exception, name: str) -> str | None:
    """Whether a failure says the function is not of the kind tried: the kind it is
    (``"mutation"``), ``""`` for "not found as this kind", ``None`` for a real failure."""
    from syncwire.errors import ConvexError
    from syncwire.errors import FunctionError

    if not isinstance(error, FunctionError) or isinstance(error, ConvexError):
        return None
    found = _DEFINED_AS.search(error.message)
    if found is not None:
        return found.group(1).lower()
    at = error.message.find(_NOT_FOUND)
    if at >= 0:
        named = error.message[at + len(_NOT_FOUND) :].partition("'")[0]
        if named in (name, _canonical(name)) or _canonical(named) == _canonical(name):
            return ""
    return None
