"""What ``watch`` and ``run`` share: one function of one deployment, as the command
line names it (URL, function, ``--args``, ``--auth``), checked before connecting."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Final

if TYPE_CHECKING:
    from syncwire.client import Client
    from syncwire.protocol import ConvexValue

__all__ = ["VALUES_HELP", "Call", "add_call_arguments", "client_for", "parse_call"]

VALUES_HELP: Final = (
    "Values are printed as JSON: Convex int64 as a plain integer, bytes as a base64 "
    "string, whole float64 numbers without a fraction (1, not 1.0, as JavaScript "
    'prints them) and NaN/Infinity as the strings "NaN", "Infinity", "-Infinity".'
)


@dataclass(frozen=True, slots=True)
class Call:
    url: str
    function: str
    args: dict[str, ConvexValue]
    auth: str | None


def add_call_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url",
        metavar="URL",
        help="a deployment URL (https://NAME.convex.cloud), the dev server's "
        "(http://127.0.0.1:PORT), or a ws:// or wss:// sync endpoint (one given without a "
        "path, ws://HOST:PORT, gets the sync path /api/sync, as a deployment URL does)",
    )
    parser.add_argument("function", metavar="FUNCTION", help="e.g. messages:list")
    parser.add_argument(
        "--args",
        default="{}",
        metavar="JSON",
        help='the arguments, a JSON object (default: {}); e.g. \'{"channel": "general"}\'. '
        "A JSON number is a Convex float64, as in JavaScript, so an integer beyond "
        "+-2^53 is refused (exit code 2); give an int64 as Convex encodes it: "
        '{"$integer": BASE64}, the 8 bytes of the integer, little-endian '
        '(2 is {"$integer": "AgAAAAAAAAA="}); bytes are {"$bytes": BASE64}',
    )
    parser.add_argument(
        "--auth", metavar="TOKEN", help="authenticate with this JWT (it is never printed)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print the library's log on stderr (connection attempts, reconnects)",
    )


def parse_call(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Call:
    """The command's URL, function and arguments, checked before connecting (exit 2)."""
    from syncwire.protocol import json_to_convex
    from syncwire.urls import sync_url

    try:
        url = sync_url(args.url)
    except ValueError as exc:
        parser.error(f"bad URL {args.url!r}: {exc}")
    if not args.function:
        parser.error("FUNCTION is empty; give one like messages:list")
    try:
        parsed: object = json.loads(args.args, parse_int=_float64_int)
    except _InexactIntegerError as exc:
        parser.error(f"--args: {exc}")
    except ValueError as exc:
        parser.error(f"--args is not valid JSON ({exc}); give an object like '{{\"n\": 1}}'")
    if not isinstance(parsed, dict):
        parser.error(
            f"--args must be a JSON object, not {type(parsed).__name__}; "
            'give one like \'{"channel": "general"}\''
        )
    try:
        converted = json_to_convex(parsed)
    except ValueError as exc:  # ProtocolError: e.g. a "$" field name
        parser.error(f"--args is not a Convex value: {exc}")
    if args.auth is not None and not args.auth:
        parser.error("--auth TOKEN is empty")
    assert isinstance(converted, dict)  # noqa: S101 - an object stays an object
    return Call(url, args.function, converted, args.auth)


class _InexactIntegerError(ValueError):
    """An integer in --args that a Convex number (a float64) cannot hold exactly."""


_INT64 = range(-(2**63), 2**63)


def _float64_int(text: str) -> int:
    """``json.loads``' ``parse_int``: refuse what the Python API refuses (beyond ±2^53),
    rather than send an integer rounded to the nearest float64."""
    number = int(text)
    if abs(number) <= 2**53:
        return number
    reason = f"{text} is beyond +-2^53, where a Convex number (a float64) loses precision"
    if number not in _INT64:
        raise _InexactIntegerError(f"{reason}, and it does not fit an int64 either")
    encoded = base64.b64encode(number.to_bytes(8, "little", signed=True)).decode("ascii")
    raise _InexactIntegerError(
        f'{reason}; to send it as an int64, give {{"$integer": "{encoded}"}}'
    )


@contextlib.asynccontextmanager
async def client_for(call: Call) -> AsyncIterator[Client]:
    """A ``Client`` of the call's deployment, closed at the end (at most 5 s spent on it)."""
    from syncwire.client import Client

    client = Client(call.url)
    try:
        yield client
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await client.close()
