"""The official HTTP clients against ``syncwire serve``: the dev server's HTTP API is theirs.

Each client runs the same plan of calls against a fresh ``syncwire serve
--auth-secret``: the official JS ``ConvexHttpClient`` (npm ``convex``, on
Node: ``official_http.mjs``), the official Python ``ConvexHttpClient`` (PyPI
``convex``, on ``requests``), syncwire's ``HttpClient``, and syncwire's
sync ``Client`` over the WebSocket. Every call must come out the same for all
of them: the same values (ids and creation times aside, which each fresh
server makes anew), the same ``ConvexError`` data, a rejected token refused,
and nothing run under it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any
from typing import Final

import pytest

from syncwire import Client
from syncwire import ConvexError
from syncwire import HttpClient
from syncwire import SyncwireError
from syncwire.devserver import make_hs256_token
from syncwire.protocol import convex_to_json
from syncwire.protocol import json_to_convex
from tests.helpers import DEADLINE
from tests.helpers import require_node
from tests.helpers import serving

pytestmark = pytest.mark.asyncio

ROOT: Final = Path(__file__).resolve().parents[2]
JS_SCRIPT: Final = Path(__file__).with_name("official_http.mjs")
SECRET: Final = "interop-secret"
GOOD_TOKEN: Final = make_hs256_token({"sub": "ada", "name": "Ada"}, SECRET)
BAD_TOKEN: Final = make_hs256_token({"sub": "eve"}, "another-secret")


def plan() -> list[dict[str, Any]]:
    """The calls, in order; ``args`` as Convex JSON."""
    return [
        {"label": "send", "kind": "mutation", "name": "messages:send", "args": {"body": "hi"}},
        {"label": "count", "kind": "query", "name": "messages:count", "args": {}},
        {"label": "stats", "kind": "action", "name": "messages:stats", "args": {}},
        {"label": "empty body", "kind": "mutation", "name": "messages:send", "args": {"body": ""}},
        {"label": "missing", "kind": "query", "name": "messages:nope", "args": {}},
        {
            "label": "as ada",
            "kind": "mutation",
            "name": "messages:send",
            "args": {"body": "signed", "channel": "general"},
            "auth": GOOD_TOKEN,
        },
        {
            "label": "rejected",
            "kind": "mutation",
            "name": "messages:send",
            "args": {"body": "never"},
            "auth": BAD_TOKEN,
        },
        {"label": "list", "kind": "query", "name": "messages:list", "args": {}},
        {
            "label": "page",
            "kind": "query",
            "name": "messages:page",
            "args": {"paginationOpts": {"numItems": 1.0, "cursor": None}},
        },
    ]


def comparable(outcome: dict[str, Any]) -> dict[str, Any]:
    """An outcome without what each fresh server makes anew (ids, times, cursors)."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: "<made anew>" if k in {"_id", "_creationTime", "continueCursor"} else scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    if outcome["label"] in {"send", "as ada"} and "value" in outcome:
        return {"label": outcome["label"], "value": "<an id>"}
    if "error" in outcome:
        kept = {"label": outcome["label"], "error": outcome["error"]}
        if outcome["error"] == "ConvexError":
            kept["data"] = outcome["data"]
        return kept
    return {"label": outcome["label"], "value": scrub(outcome["value"])}


async def run_official_js(url: str) -> list[dict[str, Any]]:
    node = require_node("the official JS HTTP client interop test")
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_SCRIPT),
        url,
        json.dumps(plan()),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(DEADLINE):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


def run_official_python(url: str) -> list[dict[str, Any]]:
    from convex import ConvexError as OfficialConvexError
    from convex import convex_to_json as official_to_json
    from convex import json_to_convex as official_from_json
    from convex.http_client import ConvexHttpClient as OfficialHttpClient

    outcomes: list[dict[str, Any]] = []
    for call in plan():
        client = OfficialHttpClient(url)
        if call.get("auth"):
            client.set_auth(call["auth"])
        try:
            value = getattr(client, call["kind"])(call["name"], official_from_json(call["args"]))
            outcomes.append({"label": call["label"], "value": official_to_json(value)})
        except OfficialConvexError as exc:
            data = official_to_json(exc.data)
            outcomes.append({"label": call["label"], "error": "ConvexError", "data": data})
        except Exception as exc:  # the official client raises bare Exceptions
            outcomes.append({"label": call["label"], "error": "Error", "message": str(exc)})
    return outcomes


async def run_syncwire_http(url: str) -> list[dict[str, Any]]:
    """The plan with syncwire's ``HttpClient`` (a client per call, as the others)."""
    outcomes: list[dict[str, Any]] = []
    for call in plan():
        async with HttpClient(url, timeout=DEADLINE) as client:
            if call.get("auth"):
                client.set_auth(call["auth"])
            run = getattr(client, call["kind"])
            try:
                value = await run(call["name"], json_to_convex(call["args"]))
                outcomes.append({"label": call["label"], "value": convex_to_json(value)})
            except ConvexError as exc:
                data = convex_to_json(exc.data)  # type: ignore[arg-type]
                outcomes.append({"label": call["label"], "error": "ConvexError", "data": data})
            except SyncwireError as exc:
                outcomes.append({"label": call["label"], "error": "Error", "message": str(exc)})
    return outcomes


async def run_syncwire_socket(url: str) -> list[dict[str, Any]]:
    """The same plan over the sync WebSocket (a client per call, as the others)."""
    outcomes: list[dict[str, Any]] = []
    for call in plan():
        async with Client(url) as client:
            if call.get("auth"):
                client.set_auth(call["auth"])
            run = getattr(client, call["kind"])
            try:
                async with asyncio.timeout(DEADLINE):
                    value = await run(call["name"], json_to_convex(call["args"]))
                outcomes.append({"label": call["label"], "value": convex_to_json(value)})
            except ConvexError as exc:
                data = convex_to_json(exc.data)  # type: ignore[arg-type]
                outcomes.append({"label": call["label"], "error": "ConvexError", "data": data})
            except SyncwireError as exc:
                outcomes.append({"label": call["label"], "error": "Error", "message": str(exc)})
    return outcomes


def check_outcomes(outcomes: list[dict[str, Any]]) -> None:
    """What every client must see, whoever it is."""
    by_label = {outcome["label"]: outcome for outcome in outcomes}
    assert list(by_label) == [call["label"] for call in plan()]
    assert isinstance(by_label["send"]["value"], str)
    assert by_label["count"]["value"] == 1
    assert by_label["empty body"]["error"] == "ConvexError"
    assert by_label["missing"]["error"] == "Error"
    assert by_label["rejected"]["error"] == "Error"
    listed = by_label["list"]["value"]
    assert [m["body"] for m in listed] == ["hi", "signed"]  # nothing ran under the bad token
    assert listed[1]["author"] == "Ada"
    assert len(by_label["page"]["value"]["page"]) == 1


@pytest.mark.node
async def test_the_official_clients_and_syncwire_see_the_same_deployment() -> None:
    results: dict[str, list[dict[str, Any]]] = {}
    async with serving("--auth-secret", SECRET) as served:
        results["official JS (HTTP)"] = await run_official_js(served.url)
    if importlib.util.find_spec("convex") is not None:
        async with serving("--auth-secret", SECRET) as served:
            results["official Python (HTTP)"] = await asyncio.to_thread(
                run_official_python, served.url
            )
    async with serving("--auth-secret", SECRET) as served:
        results["syncwire HttpClient"] = await run_syncwire_http(served.url)
    async with serving("--auth-secret", SECRET) as served:
        results["syncwire (WebSocket)"] = await run_syncwire_socket(served.url)
    for name, outcomes in results.items():
        try:
            check_outcomes(outcomes)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {outcomes}") from exc
    expected = [comparable(o) for o in results["syncwire (WebSocket)"]]
    for name, outcomes in results.items():
        assert [comparable(o) for o in outcomes] == expected, name
