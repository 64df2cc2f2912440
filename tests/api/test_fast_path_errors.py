"""The fast path's exception handling equals the middleware stack's, for every class of error.

The app here is a `Gateway` with kiro-proxy's real exception handlers and observability, and
model-style routes whose endpoints fail on purpose. Each request is made twice: through the
app (served by `ModelFastPath`) and through FastAPI's own `__call__` (the full stack), and
the two answers, access-log lines and metrics must agree.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kiro_proxy.api.body import read_body
from kiro_proxy.api.cors import ModelApiCORS
from kiro_proxy.api.fast_path import ModelFastPath
from kiro_proxy.api.streaming import SSEResponse
from kiro_proxy.app import Gateway, _install_error_handlers, _PlainRoute
from kiro_proxy.errors import RateLimitError
from kiro_proxy.observability import Observability

BODY_LIMIT = 64


async def _ok(request: Request) -> Response:
    request.state.request_info.model = "claude-test"
    return Response(b'{"ok":true}', media_type="application/json")


async def _varies(request: Request) -> Response:
    response = Response(b"{}", media_type="application/json", headers={"vary": "Accept-Encoding"})
    response.raw_headers.append((b"vary", b"Cookie"))
    return response


async def _proxy_error(request: Request) -> Response:
    raise RateLimitError("slow down", retry_after=7)


async def _validation(request: Request) -> Response:
    raise RequestValidationError([{"loc": ["body"], "msg": "bad", "type": "value_error"}])


async def _http_error(request: Request) -> Response:
    raise HTTPException(status_code=418, detail="teapot")


async def _unexpected(request: Request) -> Response:
    raise RuntimeError("exploded")


async def _too_large(request: Request) -> Response:
    await read_body(request, BODY_LIMIT)
    return Response(b"{}", media_type="application/json")


async def _fails_after_start(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        raise HTTPException(status_code=409, detail="too late")

    return _EagerSSE(body())


class _EagerSSE(SSEResponse):
    """An SSE response whose body raises after the first event (bypasses the relay's own
    error events): the handled error arrives after the response started."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        async for chunk in self._body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


ENDPOINTS = {
    "/v1/ok": _ok,
    "/v1/varies": _varies,
    "/v1/messages/proxy-error": _proxy_error,
    "/v1/chat/validation": _validation,
    "/v1/messages/http-error": _http_error,
    "/v1/messages/unexpected": _unexpected,
    "/v1/chat/too-large": _too_large,
    "/v1/messages/after-start": _fails_after_start,
}


def _app() -> tuple[Gateway, Observability]:
    app = Gateway()
    app.add_middleware(  # as create_app does
        ModelApiCORS,
        allow_origins=["*"],
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["x-request-id"],
    )
    observability = Observability()
    observability.install(app)
    routes = [_PlainRoute(path, endpoint, methods=["POST"]) for path, endpoint in ENDPOINTS.items()]
    app.router.routes[0:0] = routes
    _install_error_handlers(app)
    app.fast_path = ModelFastPath(app, routes, observability.observer)
    return app, observability


class _Counting:
    """Counts the requests that reach the middleware stack."""

    def __init__(self, app: Gateway) -> None:
        self.calls = 0
        self._app = app

    def install(self) -> None:
        stack = self._app.build_middleware_stack()

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            self.calls += 1
            await stack(scope, receive, send)

        self._app.middleware_stack = counted


def _client(asgi: ASGIApp, *, raise_errors: bool = False) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=raise_errors)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


def _full_stack(app: Gateway) -> ASGIApp:
    return functools.partial(FastAPI.__call__, app)


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "kiro_proxy.access"]


_LOG_FIELDS = ("method", "path", "status", "model", "account", "stream")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _LOG_FIELDS} | {
        "error_kind": getattr(record, "error_kind", None)
    }


def _comparable_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """Every header in order (duplicates kept), the request id's value masked."""
    return [
        (name, "<id>" if name == "x-request-id" else value)
        for name, value in response.headers.multi_items()
    ]


@pytest.mark.parametrize("path", sorted(set(ENDPOINTS) - {"/v1/messages/unexpected"}))
async def test_fast_path_answers_like_the_full_stack(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, observability = _app()
    caplog.set_level(logging.INFO, logger="kiro_proxy.access")
    counting = _Counting(app)
    counting.install()
    payload = b'{"x": "' + b"y" * 100 + b'"}'
    async with _client(app) as fast, _client(_full_stack(app)) as full:
        answers = [await client.post(path, content=payload) for client in (fast, full)]
    assert counting.calls == 1  # the full-stack request only
    fast_answer, full_answer = answers
    assert fast_answer.status_code == full_answer.status_code
    assert fast_answer.content == full_answer.content
    assert _comparable_headers(fast_answer) == _comparable_headers(full_answer)
    for answer in answers:
        assert len(answer.headers["x-request-id"]) == 32
    fast_log, full_log = _access_records(caplog)
    assert _fields(fast_log) == _fields(full_log)
    assert fast_log.request_id == fast_answer.headers["x-request-id"]
    assert full_log.request_id == full_answer.headers["x-request-id"]
    status = str(fast_answer.status_code)
    model = "claude-test" if path == "/v1/ok" else "none"
    metrics = observability.metrics.render().decode()
    counted = f'kiro_proxy_requests_total{{model="{model}",route="{path}",status="{status}"}} 2.0'
    assert counted in metrics
    assert len(observability.tracker) == 0


async def test_each_error_class_gets_its_client_shaped_answer() -> None:
    app, _ = _app()
    async with _client(app) as client:
        rate_limited = await client.post("/v1/messages/proxy-error", content=b"{}")
        validation = await client.post("/v1/chat/validation", content=b"{}")
        teapot = await client.post("/v1/messages/http-error", content=b"{}")
        too_large = await client.post("/v1/chat/too-large", content=b"x" * (BODY_LIMIT + 1))
        after_start = await client.post("/v1/messages/after-start", content=b"{}")
    assert rate_limited.status_code == 429
    assert rate_limited.headers["retry-after"] == "7"
    assert rate_limited.json()["error"]["type"] == "rate_limit_error"
    assert validation.status_code == 400
    assert validation.json()["error"]["type"] == "invalid_request_error"  # OpenAI's shape
    assert teapot.status_code == 418 and teapot.json()["error"]["message"] == "teapot"
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "request_too_large"
    # Started responses cannot change status: the stream just ends where the error struck.
    assert after_start.status_code == 200 and after_start.content == b"data: one\n\n"


@pytest.mark.parametrize("serve", ["fast", "full"])
async def test_unexpected_error_is_a_logged_500_and_reaches_the_server(
    serve: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, observability = _app()
    caplog.set_level(logging.INFO)
    asgi: ASGIApp = app if serve == "fast" else _full_stack(app)
    async with _client(asgi) as client:
        answer = await client.post("/v1/messages/unexpected", content=b"{}")
    assert answer.status_code == 500
    assert answer.json()["error"]["type"] == "api_error"
    assert "exploded" not in answer.text
    # ServerErrorMiddleware sends this answer outside the request middleware: no request id.
    assert "x-request-id" not in answer.headers
    (access,) = _access_records(caplog)
    assert access.status == 500
    assert any(
        r.name == "kiro_proxy" and "unhandled error on POST /v1/messages/unexpected" in r.message
        for r in caplog.records
    )
    assert len(observability.tracker) == 0
    # And the server hears of it (uvicorn logs "Exception in ASGI application").
    async with _client(asgi, raise_errors=True) as client:
        with pytest.raises(RuntimeError, match="exploded"):
            await client.post("/v1/messages/unexpected", content=b"{}")


async def test_only_plain_posts_take_the_fast_path() -> None:
    app, _ = _app()
    counting = _Counting(app)
    counting.install()
    async with _client(app) as client:
        assert (await client.post("/v1/ok", content=b"{}")).status_code == 200
        assert counting.calls == 0
        browser = await client.post(
            "/v1/ok", content=b"{}", headers={"origin": "https://a.example"}
        )
        assert browser.headers["access-control-allow-origin"] == "*"
        assert counting.calls == 1
        preflight = await client.options(
            "/v1/ok",
            headers={"origin": "https://a.example", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 200
        assert counting.calls == 2
        wrong_method = await client.get("/v1/ok")
        assert wrong_method.status_code == 405
        assert counting.calls == 3
        unknown = await client.post("/v1/nowhere", content=b"{}")
        assert unknown.status_code == 404
        assert counting.calls == 4


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [("trace-abc.123:x", True), ("bad id\nINFO forged", False), ("x" * 200, False)],
)
async def test_caller_request_id_kept_only_when_plain(incoming: str, kept: bool) -> None:
    app, _ = _app()
    async with _client(app) as client:
        answer = await client.post("/v1/ok", content=b"{}", headers={"x-request-id": incoming})
    assert (answer.headers["x-request-id"] == incoming) is kept
    assert len(answer.headers.get_list("x-request-id")) == 1


async def test_two_requests_in_flight_with_one_caller_id_both_finish_cleanly() -> None:
    app, observability = _app()
    headers = {"x-request-id": "same-id"}
    arrived = asyncio.Semaphore(0)
    gate = asyncio.Event()

    async def waits(request: Request) -> Response:
        arrived.release()
        await gate.wait()
        return Response(b"{}", media_type="application/json")

    route = _PlainRoute("/v1/wait", waits, methods=["POST"])
    app.fast_path = ModelFastPath(app, [route], observability.observer)
    async with _client(app) as client:
        first = asyncio.create_task(client.post("/v1/wait", content=b"{}", headers=headers))
        second = asyncio.create_task(client.post("/v1/wait", content=b"{}", headers=headers))
        await arrived.acquire()
        await arrived.acquire()
        assert len(observability.tracker) == 1  # one id, one entry
        gate.set()
        answers = await asyncio.gather(first, second)
    assert [a.status_code for a in answers] == [200, 200]
    assert len(observability.tracker) == 0
