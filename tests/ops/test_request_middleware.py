"""The pure-ASGI request middleware: request ids, one log line per request, request metrics."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from kiro_proxy.observability import Observability


def _app() -> tuple[FastAPI, Observability]:
    app = FastAPI()
    observability = Observability()

    @app.get("/items/{item_id}")
    async def item(item_id: str, request: Request) -> Response:
        info = request.state.request_info
        info.model = "claude-test"  # what the usage observer fills in for model routes
        info.stream = False
        return PlainTextResponse(request.state.request_id)

    @app.get("/boom")
    async def boom() -> Response:
        raise RuntimeError("exploded")

    observability.install(app)
    return app, observability


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_request_id_is_assigned_exposed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = _app()
    caplog.set_level(logging.INFO, logger="kiro_proxy.access")
    async with _client(app) as client:
        response = await client.get("/items/7")
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32 and response.text == request_id
    (record,) = [r for r in caplog.records if r.name == "kiro_proxy.access"]
    assert record.request_id == request_id
    assert (record.method, record.path, record.status) == ("GET", "/items/7", 200)
    assert record.model == "claude-test" and record.stream is False
    assert record.latency_ms >= 0


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [("trace-abc.123:x", True), ("bad id\nINFO forged", False), ("x" * 200, False)],
)
async def test_caller_request_id_kept_only_when_plain(incoming: str, kept: bool) -> None:
    app, _ = _app()
    async with _client(app) as client:
        response = await client.get("/items/1", headers={"x-request-id": incoming})
    assert (response.headers["x-request-id"] == incoming) is kept


async def test_metrics_count_by_route_template_model_and_status() -> None:
    app, observability = _app()
    async with _client(app) as client:
        for n in range(3):
            await client.get(f"/items/{n}")
        await client.get("/nowhere")
        assert (await client.get("/boom")).status_code == 500
        body = (await client.get("/metrics")).text
    assert (
        'kiro_proxy_requests_total{model="claude-test",route="/items/{item_id}",status="200"} 3.0'
        in body
    )
    assert 'kiro_proxy_requests_total{model="none",route="unmatched",status="404"} 1.0' in body
    assert 'kiro_proxy_requests_total{model="none",route="/boom",status="500"} 1.0' in body
    assert 'kiro_proxy_request_duration_seconds_count{route="/items/{item_id}"} 3.0' in body
    assert "kiro_proxy_requests_in_flight 1.0" in body  # the /metrics request itself
    assert len(observability.tracker) == 0


async def test_unhandled_error_is_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = _app()
    caplog.set_level(logging.INFO, logger="kiro_proxy.access")
    async with _client(app) as client:
        await client.get("/boom")
    (record,) = [r for r in caplog.records if r.name == "kiro_proxy.access"]
    assert record.status == 500
