"""Both HTTP clients on a scripted deployment: what they send, and each answer's meaning."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import httpx
import msgspec
import pytest

import syncwire
from syncwire import AuthenticationError
from syncwire import ClientClosedError
from syncwire import ConvexError
from syncwire import ConvexInt64
from syncwire import FunctionError
from syncwire import HttpError
from syncwire import ProtocolError
from syncwire import ResultTypeError
from syncwire.protocol import JSONValue
from tests.http.support import ADMIN_KEY
from tests.http.support import TOKEN
from tests.http.support import URL
from tests.http.support import Deployment
from tests.http.support import Driver
from tests.http.support import Seen
from tests.http.support import failed
from tests.http.support import ok

Drive = Callable[..., Driver]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("query", "/api/query"),
        ("mutation", "/api/mutation"),
        ("action", "/api/action"),
        ("function", "/api/function"),
    ],
)
def test_a_call_is_one_post_as_upstream_sends_it(drive: Drive, method: str, path: str) -> None:
    deployment = Deployment(lambda seen: ok({"n": {"$integer": "AQAAAAAAAAA="}, "b": 1.5}))
    driver = drive(deployment)
    value = driver.call(method, "messages:list", {"channel": "general", "n": ConvexInt64(2)})
    assert value == {"n": ConvexInt64(1), "b": 1.5}
    (seen,) = deployment.requests
    assert seen.path == path
    assert seen.body == {
        "path": "messages:list",
        "format": "convex_encoded_json",
        "args": [{"channel": "general", "n": {"$integer": "AgAAAAAAAAA="}}],
    }
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["convex-client"] == f"syncwire-{syncwire.__version__}"
    assert "authorization" not in seen.headers


def test_args_default_to_an_empty_object(drive: Drive) -> None:
    deployment = Deployment()
    drive(deployment).call("query", "messages:count")
    assert deployment.requests[0].body["args"] == [{}]


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        ([1, 2], TypeError, "args must be a dict, not list"),
        ({"when": object()}, TypeError, "$.when"),
        ({"$bad": 1}, ValueError, "starts with '$'"),
        ({"n": 2**60}, ValueError, "ConvexInt64"),
    ],
)
def test_bad_args_raise_from_the_call_and_nothing_is_sent(
    drive: Drive, args: object, error: type[Exception], words: str
) -> None:
    deployment = Deployment()
    driver = drive(deployment)
    for method in ("query", "mutation", "action", "function", "consistent_query"):
        with pytest.raises(error, match=words.replace("$", r"\$").replace("(", r"\(")):
            driver.call(method, "messages:send", args)
    with pytest.raises(TypeError, match="non-empty str"):
        driver.call("query", "", {})
    assert deployment.requests == []


def test_a_failed_function_raises_function_error_or_convex_error_with_its_data(
    drive: Drive,
) -> None:
    answers = iter(
        [
            failed("Uncaught Error: boom"),
            failed("Uncaught ConvexError: full", errorData={"code": "FULL", "n": 3}),
            failed("Uncaught ConvexError: x", errorData="just a string"),
        ]
    )
    driver = drive(Deployment(lambda seen: next(answers)))
    with pytest.raises(FunctionError) as plain:
        driver.call("mutation", "messages:send")
    assert type(plain.value) is FunctionError
    assert plain.value.message == "Uncaught Error: boom"
    with pytest.raises(ConvexError) as convex:
        driver.call("mutation", "messages:send")
    assert convex.value.data == {"code": "FULL", "n": 3.0}
    assert convex.value.message == "Uncaught ConvexError: full"
    with pytest.raises(ConvexError) as text:
        driver.call("action", "messages:send")
    assert text.value.data == "just a string"


def test_a_refusal_with_the_apis_json_is_an_http_error(drive: Drive) -> None:
    refusal = {"code": "BadJsonBody", "message": "Failed to parse the body"}
    driver = drive(Deployment(lambda seen: httpx.Response(400, json=refusal)))
    with pytest.raises(HttpError) as caught:
        driver.call("query", "messages:list")
    assert (caught.value.status, caught.value.code) == (400, "BadJsonBody")
    assert caught.value.message == "Failed to parse the body"
    assert str(caught.value) == "HTTP 400 BadJsonBody: Failed to parse the body"


def test_a_404_without_credentials_is_an_http_error_too(drive: Drive) -> None:
    refusal = {"code": "NotFound", "message": "no such route"}
    driver = drive(Deployment(lambda seen: httpx.Response(401, json=refusal)))
    with pytest.raises(HttpError):  # 401 with no credentials sent: not about ours
        driver.call("query", "messages:list")


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_token_is_an_authentication_error_without_the_token(
    drive: Drive, status: int
) -> None:
    def answer(seen: Seen) -> httpx.Response:
        quoted = seen.headers["authorization"]
        return httpx.Response(
            status, json={"code": "InvalidAuthHeader", "message": f"Could not verify {quoted}"}
        )

    driver = drive(Deployment(answer), auth=TOKEN)
    with pytest.raises(AuthenticationError) as caught:
        driver.call("mutation", "messages:send", {"body": "hi"})
    text = str(caught.value)
    assert f"HTTP {status} InvalidAuthHeader" in text
    assert "Could not verify Bearer [redacted]" in text
    assert TOKEN not in text
    assert TOKEN not in caught.value.reason


def test_an_answer_that_is_not_convex_is_an_http_error_with_a_short_snippet(
    drive: Drive,
) -> None:
    page = (
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>"
        + "x" * 5000
        + "</body></html>"
    )
    driver = drive(
        Deployment(
            lambda seen: httpx.Response(
                502, content=page.encode(), headers={"content-type": "text/html; charset=utf-8"}
            )
        )
    )
    with pytest.raises(HttpError) as caught:
        driver.call("query", "messages:list")
    error = caught.value
    assert (error.status, error.code) == (502, None)
    assert "is this a Convex deployment URL?" in error.message
    assert "text/html" in error.message
    assert "<html> <head><title>502 Bad Gateway</title>" in error.message
    assert len(str(error)) < 400
    assert "\r" not in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (200, b"not json"),
        (200, b"[1, 2]"),
        (200, b'{"value": 1}'),
        (200, b'{"status": "success"}'),
        (200, b'{"status": "maybe", "value": 1}'),
        (200, b'{"status": "success", "value": {"$integer": "no"}}'),
        (200, b'{"status": "success", "value": 1, "logLines": "one"}'),
        (560, b'{"status": "error"}'),
        (560, b"<html></html>"),
    ],
)
def test_an_answer_without_the_apis_shape_is_a_protocol_error(
    drive: Drive, status: int, content: bytes
) -> None:
    driver = drive(Deployment(lambda seen: httpx.Response(status, content=content)))
    with pytest.raises(ProtocolError, match=f"the answer to the query 'q' \\(HTTP {status}\\)"):
        driver.call("query", "q")


def test_log_lines_are_logged_on_function_logs_unless_debug_is_off(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="syncwire.function_logs")
    lines = ["[LOG] 'hello'", "[WARN] careful"]
    driver = drive(Deployment(lambda seen: ok(1, lines)))
    driver.call("query", "messages:list")
    driver.call("mutation", "messages:send")
    driver.call("action", "messages:send")
    driver.call("function", "messages:stats")
    records = [r for r in caplog.records if r.name == "syncwire.function_logs"]
    assert [r.getMessage() for r in records] == [
        "[CONVEX Q(messages:list)] [LOG] 'hello'",
        "[CONVEX Q(messages:list)] [WARN] careful",
        "[CONVEX M(messages:send)] [LOG] 'hello'",
        "[CONVEX M(messages:send)] [WARN] careful",
        "[CONVEX A(messages:send)] [LOG] 'hello'",
        "[CONVEX A(messages:send)] [WARN] careful",
        "[CONVEX ?(messages:stats)] [LOG] 'hello'",
        "[CONVEX ?(messages:stats)] [WARN] careful",
    ]
    assert [r.levelname for r in records[:2]] == ["INFO", "WARNING"]
    caplog.clear()
    driver.client.set_debug(False)
    driver.call("query", "messages:list")
    quiet = drive(Deployment(lambda seen: failed("boom", logLines=lines)), debug=False)
    with pytest.raises(FunctionError):
        quiet.call("query", "messages:list")
    assert [r for r in caplog.records if r.name == "syncwire.function_logs"] == []


def test_log_lines_of_a_failed_function_are_logged_too(
    drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="syncwire.function_logs")
    driver = drive(Deployment(lambda seen: failed("boom", logLines=["[ERROR] before"])))
    with pytest.raises(FunctionError):
        driver.call("mutation", "messages:send")
    assert [r.getMessage() for r in caplog.records] == ["[CONVEX M(messages:send)] [ERROR] before"]


def test_auth_headers_as_upstream_sends_them(drive: Drive) -> None:
    deployment = Deployment()
    driver = drive(deployment, auth=TOKEN)
    driver.call("query", "q")
    driver.client.set_admin_auth(ADMIN_KEY)
    driver.call("query", "q")
    identity: dict[str, JSONValue] = {
        "subject": "user-1",
        "issuer": "https://issuer.example",
        "n": 1.0,
    }
    driver.client.set_admin_auth(ADMIN_KEY, acting_as=identity)
    driver.call("query", "q")
    driver.client.clear_auth()
    driver.call("query", "q")
    driver.client.set_auth(TOKEN)
    driver.call("query", "q")
    headers = [seen.headers.get("authorization") for seen in deployment.requests]
    encoded = base64.b64encode(
        json.dumps(
            {"subject": "user-1", "issuer": "https://issuer.example", "n": 1},
            separators=(",", ":"),
        ).encode()
    ).decode()
    assert headers == [
        f"Bearer {TOKEN}",
        f"Convex {ADMIN_KEY}",
        f"Convex {ADMIN_KEY}:{encoded}",
        None,
        f"Bearer {TOKEN}",
    ]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.set_auth(""), ValueError),
        (lambda c: c.set_auth(None), TypeError),
        (lambda c: c.set_auth("a\nb"), ValueError),
        (lambda c: c.set_admin_auth(""), ValueError),
    ],
)
def test_bad_credentials_are_refused_at_once(
    drive: Drive, call: Callable[[object], None], error: type[Exception]
) -> None:
    driver = drive(Deployment())
    with pytest.raises(error) as caught:
        call(driver.client)
    assert "\n" not in str(caught.value)


def test_repr_shows_the_origin_and_never_a_secret(drive: Drive) -> None:
    driver = drive(Deployment(), auth=TOKEN)
    assert repr(driver.client) == f"<{driver.kind} {URL} open>"
    driver.client.set_admin_auth(ADMIN_KEY)
    assert ADMIN_KEY not in repr(driver.client)
    driver.close()
    assert repr(driver.client) == f"<{driver.kind} {URL} closed>"


def test_a_call_after_close_raises_client_closed_error(drive: Drive) -> None:
    deployment = Deployment()
    driver = drive(deployment)
    driver.close()
    driver.close()  # idempotent
    for method in ("query", "mutation", "action", "function", "consistent_query"):
        with pytest.raises(ClientClosedError):
            driver.call(method, "q")
    with pytest.raises(ClientClosedError):
        driver.collect("paginate", "q")
    assert deployment.requests == []


def test_the_sync_endpoint_and_ws_urls_give_the_http_origin() -> None:
    for url in ("wss://happy-otter-123.convex.cloud/api/sync", f"{URL}/"):
        client = syncwire.ConvexHttpClient(url)
        assert client.url == URL
        client.close()
    with pytest.raises(ValueError, match="has no path"):
        syncwire.ConvexHttpClient(f"{URL}/api/query")
    with pytest.raises(ValueError, match="no credentials"):
        syncwire.HttpClient("https://user:pw@x.convex.cloud")


# --------------------------------------------------------------------------- typed results


class Message(msgspec.Struct):
    author: str
    body: str


@dataclass
class MessageData:
    author: str
    body: str


class MessageDict(TypedDict):
    author: str
    body: str


MESSAGES = [{"author": f"a{i}", "body": f"b{i}"} for i in range(5)]


@pytest.mark.parametrize("item", [Message, MessageData, MessageDict])
def test_result_type_converts_the_value(drive: Drive, item: type) -> None:
    def answer(seen: Seen) -> httpx.Response:
        if seen.path == "/api/query_ts":
            return httpx.Response(200, json={"ts": 1})
        return ok(MESSAGES)

    driver = drive(Deployment(answer))
    for method in ("query", "mutation", "action", "function", "consistent_query"):
        got = driver.call(method, "messages:list", result_type=list[item])  # type: ignore[valid-type]
        assert len(got) == 5
        first = got[0]
        assert (first["author"] if item is MessageDict else first.author) == "a0"


def test_int64_results_convert_into_int(drive: Drive) -> None:
    driver = drive(Deployment(lambda seen: ok({"$integer": "BQAAAAAAAAA="})))
    assert driver.call("query", "messages:count", result_type=int) == 5


def test_a_mismatch_names_the_path_and_gives_no_half_converted_value(drive: Drive) -> None:
    bad = [*MESSAGES[:3], {"author": 7, "body": "x"}, MESSAGES[4]]
    driver = drive(Deployment(lambda seen: ok(bad)))
    with pytest.raises(ResultTypeError) as caught:
        driver.call("query", "messages:list", result_type=list[Message])
    assert caught.value.path == "$[3].author"
    assert "$[3].author" in str(caught.value)


def test_a_bad_result_type_raises_before_anything_is_sent(drive: Drive) -> None:
    deployment = Deployment()
    driver = drive(deployment)
    for method in ("query", "mutation", "action", "function", "consistent_query"):
        with pytest.raises(TypeError, match="is not a type results can be converted into"):
            driver.call(method, "messages:send", {"body": "x"}, result_type=object())
    assert deployment.requests == []


# --------------------------------------------------------------------------- consistent_query


def test_consistent_query_asks_for_the_snapshot_once_and_reads_at_it(drive: Drive) -> None:
    def answer(seen: Seen) -> httpx.Response:
        if seen.path == "/api/query_ts":
            return httpx.Response(200, json={"ts": "opaque-ts-1"})
        return ok(seen.body["args"][0]["i"])

    deployment = Deployment(answer)
    driver = drive(deployment, auth=TOKEN)
    assert driver.call("consistent_query", "messages:count", {"i": 1}) == 1
    assert driver.call("consistent_query", "messages:count", {"i": 2}) == 2
    assert deployment.paths == ["/api/query_ts", "/api/query_at_ts", "/api/query_at_ts"]
    at = deployment.requests[1].body
    assert at == {
        "path": "messages:count",
        "format": "convex_encoded_json",
        "args": [{"i": 1}],
        "ts": "opaque-ts-1",
    }
    assert "authorization" not in deployment.requests[0].headers  # as upstream
    assert deployment.requests[1].headers["authorization"] == f"Bearer {TOKEN}"


def test_a_failed_snapshot_request_is_not_kept(drive: Drive) -> None:
    answers = iter(
        [
            httpx.Response(503, json={"code": "Overloaded", "message": "try later"}),
            httpx.Response(200, json={"ts": 7}),
            ok(1),
        ]
    )
    deployment = Deployment(lambda seen: next(answers))
    driver = drive(deployment)
    with pytest.raises(HttpError, match="Overloaded"):
        driver.call("consistent_query", "q")
    assert driver.call("consistent_query", "q") == 1
    assert deployment.requests[-1].body["ts"] == 7
