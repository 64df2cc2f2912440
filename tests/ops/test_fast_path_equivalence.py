"""The real gateway's model routes answer the same through the fast path (api/fast_path.py) as
through the full middleware stack: every model path, with and without an Origin header,
streaming and not, errors, access-log lines and metrics; a client that leaves mid-stream
cancels the upstream request on the fast path too.

Each request is sent twice against one app and one simulator: to the app (the fast path serves
it unless it carries an Origin) and to FastAPI's own `__call__` (always the full stack).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from ops_harness import SimulatedUpstream
from starlette.types import ASGIApp, Message
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from kiro_proxy.app import Gateway, create_app
from kiro_proxy.graceful import GracefulServer
from kiro_proxy.settings import load_settings
from kiro_proxy.simulator.script import Reply, Stall, Text

ANTHROPIC = {
    "model": "claude-sonnet-4.5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
OPENAI = {"model": "claude-sonnet-4.5", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "claude-sonnet-4.5", "input": "hi"}
ORIGIN = {"origin": "https://browser-client.example"}
# Values that differ between any two requests: message/completion/response/item ids and
# timestamps.
_VARYING = re.compile(rb"(msg_|chatcmpl-|resp_)[0-9a-f]{24,32}|\"created(_at)?\":\d+")


@pytest.fixture
async def gateway(
    upstream: SimulatedUpstream, clean_env: pytest.MonkeyPatch
) -> AsyncIterator[Gateway]:
    settings = load_settings(
        config_path=upstream.config_path, max_body_bytes=4096, **upstream.url_settings()
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def _client(asgi: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)


def _full_stack(app: Gateway) -> ASGIApp:
    return functools.partial(FastAPI.__call__, app)


def _body_for(path: str, *, stream: bool = False) -> dict[str, Any]:
    if path.endswith("/responses"):
        body = dict(RESPONSES)
    else:
        body = dict(ANTHROPIC if "messages" in path else OPENAI)
    if "count_tokens" not in path:
        body["stream"] = stream
    return body


def _masked(content: bytes) -> bytes:
    return _VARYING.sub(b"<varies>", content)


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [
        (name, "<id>" if name == "x-request-id" else value)
        for name, value in response.headers.multi_items()
    ]


def _access(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    fields = ("method", "path", "status", "model", "account", "stream")
    return [
        {name: getattr(r, name) for name in fields} | {"error_kind": getattr(r, "error_kind", None)}
        for r in caplog.records
        if r.name == "kiro_proxy.access"
    ]


def _requests_counted(app: Gateway, path: str, status: int) -> float:
    metrics = app.state.observability.metrics
    total = 0.0
    for family in metrics.requests.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_total") and labels["route"] == path:
                total += sample.value if labels["status"] == str(status) else 0
    return total


async def _both(
    app: Gateway, method: str, path: str, **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    async with _client(app) as fast, _client(_full_stack(app)) as full:
        return (
            await fast.request(method, path, **kwargs),
            await full.request(method, path, **kwargs),
        )


def _assert_same(fast: httpx.Response, full: httpx.Response) -> None:
    assert fast.status_code == full.status_code, (fast.text, full.text)
    assert _headers(fast) == _headers(full)
    assert _masked(fast.content) == _masked(full.content)
    assert len(fast.headers["x-request-id"]) == 32
    assert fast.headers["x-request-id"] != full.headers["x-request-id"]


@pytest.mark.parametrize("origin", [False, True], ids=["no-origin", "origin"])
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
async def test_every_model_path_answers_as_the_full_stack(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, stream: bool, origin: bool
) -> None:
    caplog.set_level(logging.INFO, logger="kiro_proxy.access")
    assert gateway.fast_path is not None
    paths = sorted(gateway.fast_path.paths)
    assert {"/v1/messages", "/cc/v1/messages", "/v1/chat/completions", "/chat/completions"} <= set(
        paths
    )
    headers = ORIGIN if origin else {}
    for path in paths:
        if stream and "count_tokens" in path:
            continue
        fast, full = await _both(
            gateway, "POST", path, json=_body_for(path, stream=stream), headers=headers
        )
        _assert_same(fast, full)
        assert fast.status_code == 200
        if stream:
            assert fast.headers["content-type"].startswith("text/event-stream")
            # Each API's last event: Anthropic's, OpenAI chat's, the Responses API's.
            ends = (b"message_stop", b"[DONE]", b"event: response.completed")
            assert any(end in fast.content for end in ends)
        assert ("access-control-allow-origin" in fast.headers) is origin
        assert fast.headers["vary"] == "Origin" if not origin else True
        fast_log, full_log = _access(caplog)[-2:]
        assert fast_log == full_log
        assert fast_log["path"] == path and fast_log["status"] == 200
        assert _requests_counted(gateway, path, 200) >= 2
    assert len(gateway.state.observability.tracker) == 0


async def test_metrics_label_fast_requests_by_route(gateway: Gateway) -> None:
    async with _client(gateway) as client:
        for _ in range(3):
            answer = await client.post("/v1/messages", json=ANTHROPIC)
            assert answer.status_code == 200
        metrics = (await client.get("/metrics")).text
    assert (
        'kiro_proxy_requests_total{model="claude-sonnet-4.5",route="/v1/messages",status="200"} 3.0'
        in metrics
    )
    assert 'kiro_proxy_request_duration_seconds_count{route="/v1/messages"} 3.0' in metrics


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1000):
        yield body[start : start + 1000]


@pytest.mark.parametrize(
    "case", ["bad-json", "empty", "not-an-object", "declared-too-large", "streamed-too-large"]
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
async def test_errors_answer_as_the_full_stack(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, path: str, case: str
) -> None:
    caplog.set_level(logging.INFO, logger="kiro_proxy.access")
    large = orjson.dumps({**_body_for(path), "pad": "x" * 5000})
    kwargs: dict[str, Any] = {
        "bad-json": {"content": b"{not json"},
        "empty": {"content": b""},
        "not-an-object": {"content": b"[]"},
        "declared-too-large": {"content": large},
    }.get(case, {})
    if case == "streamed-too-large":  # chunked, no Content-Length: a generator per request
        async with _client(gateway) as fast_client, _client(_full_stack(gateway)) as full_client:
            fast = await fast_client.post(path, content=_chunked(large))
            full = await full_client.post(path, content=_chunked(large))
        assert "content-length" not in fast.request.headers
    else:
        fast, full = await _both(gateway, "POST", path, **kwargs)
    _assert_same(fast, full)
    assert fast.status_code == (413 if "too-large" in case else 400)
    error = fast.json()["error"]
    too_large = "too-large" in case
    anthropic = path == "/v1/messages"
    expected_type = "request_too_large" if too_large and anthropic else "invalid_request_error"
    assert error["type"] == expected_type
    if too_large:
        assert "MAX_BODY_BYTES" in error["message"]
    fast_log, full_log = [entry for entry in _access(caplog) if entry["path"] == path][:2]
    assert fast_log == full_log


async def test_missing_and_wrong_api_keys_answer_as_the_full_stack(
    upstream: SimulatedUpstream, clean_env: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        config_path=upstream.config_path,
        require_api_key=True,
        api_key="client-Key-4411",
        **upstream.url_settings(),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        for headers in ({}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}):
            fast, full = await _both(app, "POST", "/v1/messages", json=ANTHROPIC, headers=headers)
            _assert_same(fast, full)
            assert fast.status_code == 401
        for headers in (
            {"x-api-key": "client-Key-4411"},
            {"authorization": "Bearer client-Key-4411"},
        ):
            fast, full = await _both(app, "POST", "/v1/messages", json=ANTHROPIC, headers=headers)
            assert fast.status_code == full.status_code == 200


async def test_disconnect_mid_stream_on_the_fast_path_cancels_and_is_logged(
    gateway: Gateway, upstream: SimulatedUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kiro_proxy.access")
    upstream.simulator.state.enqueue(Reply([Text("first words "), Stall()]))
    body = orjson.dumps({**ANTHROPIC, "stream": True})
    first_words = asyncio.Event()
    sent: list[Message] = []
    requested = False
    # Shutdown finds the tracker through the `.app` chain (uvicorn wraps the app in middleware).
    server = GracefulServer(uvicorn.Config(ProxyHeadersMiddleware(gateway)), grace_seconds=1)
    in_flight: list[int] = []

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await first_words.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if b"first words" in message.get("body", b""):
            in_flight.append(server._in_flight())
            first_words.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/messages",
        "raw_path": b"/v1/messages",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"gateway")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    started = time.monotonic()
    await asyncio.wait_for(gateway(scope, receive, send), timeout=5)
    assert time.monotonic() - started < 2  # not the idle timeout: the disconnect ended it
    assert sent[0]["status"] == 200
    assert in_flight == [1]  # the open stream is what a graceful stop would wait for
    assert server._in_flight() == 0
    request_id = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert not any(m.get("more_body") is False for m in sent)  # the stream was cut, not ended
    (record,) = [r for r in caplog.records if r.name == "kiro_proxy.access"]
    assert record.request_id == request_id and record.status == 200
    assert len(gateway.state.observability.tracker) == 0
    runtime = gateway.state.services.runtime
    deadline = time.monotonic() + 5  # the batching usage writer stores rows within ~0.5 s
    rows: list[dict[str, Any]] = []
    while not rows and time.monotonic() < deadline:
        await runtime.recorder.flush()
        rows = [r for r in await runtime.usage.recent(50) if r["request_id"] == request_id]
        await asyncio.sleep(0.05)
    assert [r["status"] for r in rows] == ["cancelled"]
