"""The model routes are served by plain Starlette routes matched first (no FastAPI request
handler on the hot path), yet keep everything the FastAPI routes gave: the OpenAPI document,
errors in each API's own shape, 405 for a wrong method, request ids and route labels."""

from __future__ import annotations

import httpx
from fastapi.routing import APIRoute

from kiro_proxy.app import _PlainRoute, create_app
from kiro_proxy.settings import load_settings

MESSAGE = {
    "model": "claude-sonnet-4.5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
MODEL_PATHS = {
    "/v1/messages",
    "/cc/v1/messages",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/messages/count_tokens",
}


async def test_model_paths_are_plain_routes_first_and_still_documented(upstream, clean_env) -> None:
    app = create_app(load_settings(config_path=upstream.config_path, **upstream.url_settings()))
    leading: list[str] = []
    for route in app.router.routes:
        if not isinstance(route, _PlainRoute):
            break
        leading.append(route.path)
    assert MODEL_PATHS <= set(leading)
    assert not any(isinstance(r, _PlainRoute) for r in app.router.routes[len(leading) :])
    assert all(not isinstance(r, APIRoute) for r in app.router.routes[: len(leading)])
    documented = app.openapi()["paths"]
    assert "/v1/messages" in documented and "/v1/chat/completions" in documented


async def test_fast_routes_answer_and_fail_in_each_apis_shape(upstream, clean_env) -> None:
    app = create_app(load_settings(config_path=upstream.config_path, **upstream.url_settings()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            ok = await client.post("/v1/messages", json=MESSAGE)
            assert ok.status_code == 200, ok.text
            assert ok.json()["type"] == "message"
            assert len(ok.headers["x-request-id"]) == 32

            bad = await client.post("/v1/messages", content=b"{not json")
            assert bad.status_code == 400
            assert bad.json()["type"] == "error"
            assert bad.json()["error"]["type"] == "invalid_request_error"

            bad_chat = await client.post("/v1/chat/completions", content=b"[]")
            assert bad_chat.status_code == 400
            assert "message" in bad_chat.json()["error"]
            assert "type" not in bad_chat.json()  # OpenAI's shape, not Anthropic's

            wrong_method = await client.get("/v1/messages")
            assert wrong_method.status_code == 405
            assert wrong_method.json()["type"] == "error"
