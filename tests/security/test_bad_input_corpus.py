"""A corpus of bad requests for every route. Each gets a clear 4xx in its API's shape (Anthropic
error JSON on the Messages routes, OpenAI's on the others); none a 5xx. A few inputs are odd but
have a documented lenient meaning (unknown model → the default model, a non-object tool schema →
an empty one); those may succeed, but never fail with a 5xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.stack import LiveStack
from tests.reliability.reliability_harness import parse_error_body
from tests.security.bad_inputs import MODEL, corpus
from tests.security.conftest import ADMIN_PASSWORD, MAX_BODY_BYTES

# Accepted on purpose (hygiene rules and the unknown-model policy); must still never be a 5xx.
LENIENT = {
    "unknown_model",
    "tool_schema_not_object",
    "tool_schema_cyclic_refs",
    "tool_schema_deep_within_limit",
    "tool_name_empty",
    "tool_name_huge",
    "tool_choice_unknown_tool",
    "tool_result_without_tool_use",
    "tool_message_without_call",
}
# count_tokens never calls upstream or fetches images: it counts what it was given.
COUNT_LENIENT = LENIENT | {"empty_messages", "image_loopback_url"}
MODEL_ROUTES = [
    ("/v1/messages", "anthropic"),
    ("/v1/messages/count_tokens", "anthropic"),
    ("/cc/v1/messages", "anthropic"),
    ("/v1/chat/completions", "openai"),
    ("/v1/responses", "openai"),
]


def _check_error(api: str, response: httpx.Response, where: str) -> None:
    assert 400 <= response.status_code < 500, (
        f"{where}: {response.status_code} {response.text[:300]}"
    )
    error = parse_error_body(api, response.content)  # type: ignore[arg-type]
    assert error is not None, f"{where}: not an {api} error body: {response.text[:300]}"


@pytest.fixture
async def http(sstack: LiveStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sstack.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(("path", "api"), MODEL_ROUTES)
async def test_model_routes_answer_every_bad_body_with_a_clean_4xx(
    http: httpx.AsyncClient, path: str, api: str
) -> None:
    lenient = COUNT_LENIENT if path.endswith("count_tokens") else LENIENT
    for name, raw in corpus(api).items():
        response = await http.post(path, content=raw, headers={"content-type": "application/json"})
        where = f"{path} {name}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
        if name in lenient and response.status_code == 200:
            continue
        _check_error(api, response, where)


@pytest.mark.parametrize(("path", "api"), MODEL_ROUTES)
async def test_deep_nesting_is_a_clean_400_that_says_so(
    http: httpx.AsyncClient, path: str, api: str
) -> None:
    bodies = corpus(api)
    for name in ("deeply_nested_100k", "deeply_nested_in_field", "tool_schema_deep"):
        response = await http.post(path, content=bodies[name])
        assert response.status_code == 400, (name, response.text[:200])
        kind, message = parse_error_body(api, response.content)  # type: ignore[arg-type,misc]
        assert kind == "invalid_request_error"
        assert "nested too deeply" in message or "depth limit" in message, message


@pytest.mark.parametrize(("path", "api"), MODEL_ROUTES)
async def test_bodies_over_the_limit_are_413_declared_or_chunked(
    http: httpx.AsyncClient, path: str, api: str
) -> None:
    big = orjson.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "x" * MAX_BODY_BYTES}]}
    )
    declared = await http.post(path, content=big)
    assert declared.status_code == 413, declared.text[:200]
    _check_error(api, declared, f"{path} declared")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit is counted
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    chunked = await http.post(path, content=chunks())
    assert chunked.status_code == 413, chunked.text[:200]
    _check_error(api, chunked, f"{path} chunked")
    # A Content-Length that is not a number (httpx refuses to send one: raw socket).
    port = int(str(http.base_url).rsplit(":", 1)[1].strip("/"))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: not-a-number\r\nConnection: close\r\n\r\n{}".encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split()[1].startswith(b"4"), status_line


@pytest.mark.parametrize(("path", "api"), MODEL_ROUTES)
async def test_a_huge_history_under_the_limit_is_answered_not_crashed(
    http: httpx.AsyncClient, path: str, api: str
) -> None:
    messages: list[dict[str, Any]] = []
    for index in range(3000):
        messages.append({"role": "user", "content": f"question {index}"})
        messages.append({"role": "assistant", "content": f"answer {index}"})
    messages.append({"role": "user", "content": "and now?"})
    body: dict[str, Any] = {"model": MODEL, "messages": messages}
    if api == "anthropic":
        body["max_tokens"] = 16
    raw = orjson.dumps(body)
    assert len(raw) < MAX_BODY_BYTES
    response = await http.post(path, content=raw)
    if response.status_code != 200:  # e.g. "prompt is too long" from upstream
        _check_error(api, response, f"{path} huge history")


async def test_models_and_unknown_routes_answer_in_openai_shape(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/models")).status_code == 200
    for method, path in [
        ("POST", "/v1/models"),
        ("DELETE", "/v1/chat/completions"),
        ("GET", "/v1/chat/completions"),
        ("GET", "/v1/nothing-here"),
        ("GET", "/v1/models/../../etc/passwd"),
    ]:
        response = await http.request(method, path)
        _check_error("openai", response, f"{method} {path}")
    response = await http.request("PUT", "/v1/messages")
    _check_error("anthropic", response, "PUT /v1/messages")


def _admin_error(response: httpx.Response, where: str) -> None:
    assert 400 <= response.status_code < 500, (
        f"{where}: {response.status_code} {response.text[:300]}"
    )
    body = orjson.loads(response.content)
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    if message is None and body.get("errors"):  # Kiro-Go's batch import report, per item
        message = "; ".join(body["errors"])
    assert isinstance(message, str) and message, f"{where}: no error message in {body}"


async def test_admin_login_rejects_bad_bodies_cleanly(http: httpx.AsyncClient) -> None:
    json_type = {"content-type": "application/json"}
    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "malformed": (b'{"password": ', json_type),
        "not_object": (b'["pw"]', json_type),
        "wrong_type": (b'{"password": 123}', json_type),
        "missing": (b"{}", json_type),
        "too_long": (orjson.dumps({"password": "p" * 5000}), json_type),
        "invalid_utf8": (b'{"password": "\xff\xfe"}', json_type),
        "deep": (b"[" * 100_000 + b"]" * 100_000, json_type),
        "form_post": (b"password=x", {"content-type": "application/x-www-form-urlencoded"}),
        "empty": (b"", json_type),
    }
    for name, (raw, headers) in cases.items():
        response = await http.post("/admin/api/login", content=raw, headers=headers)
        _admin_error(response, f"login {name}")


async def test_admin_api_rejects_bad_bodies_cleanly(http: httpx.AsyncClient) -> None:
    login = await http.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"x-csrf-token": login.json()["csrfToken"], "content-type": "application/json"}
    deep = b"[" * 50_000 + b"]" * 50_000
    cases: list[tuple[str, str, bytes]] = [
        ("POST", "/admin/api/keys", b'{"name": 123}'),
        ("POST", "/admin/api/keys", b"{"),
        ("POST", "/admin/api/keys", deep),
        ("PUT", "/admin/api/settings", b'{"maxAttempts": "many"}'),
        ("PUT", "/admin/api/settings", b'"not an object"'),
        ("PUT", "/admin/api/settings", deep),
        ("PUT", "/admin/api/accounts/no-such-account", b'{"weight": "heavy"}'),
        ("PUT", "/admin/api/accounts/no-such-account", b'{"enabled": false}'),
        ("DELETE", "/admin/api/accounts/no-such-account", b""),
        ("DELETE", "/admin/api/keys/no-such-key", b""),
        ("POST", "/admin/api/auth/credentials", b'{"refreshToken": 5}'),
        ("POST", "/admin/api/auth/credentials", b"garbage"),
        ("POST", "/admin/api/auth/credentials", deep),
        ("POST", "/admin/api/auth/credentials/batch", b'{"accounts": "x"}'),
        ("POST", "/admin/api/auth/credentials/batch", b'[{"refreshToken": {"a": [1]}}]'),
        ("POST", "/admin/api/auth/local-cache", b"\xff\xfe not json"),
        ("POST", "/admin/api/auth/sso-token", b'{"token": []}'),
        ("POST", "/admin/api/auth/builderid/poll", b'{"sessionId": "nope"}'),
        ("POST", "/admin/api/auth/iam-sso/complete", b'{"sessionId": 1, "callbackUrl": 2}'),
        ("GET", "/admin/api/requests?limit=abc", b""),
        ("GET", "/admin/api/requests?limit=100000", b""),
        ("GET", "/admin/api/requests/not-a-number", b""),
        ("GET", "/admin/api/stats/series?count=-1", b""),
        ("GET", "/admin/api/accounts/no-such-account/models", b""),
    ]
    for method, path, raw in cases:
        response = await http.request(method, path, content=raw or None, headers=headers)
        _admin_error(response, f"{method} {path} {raw[:40]!r}")
