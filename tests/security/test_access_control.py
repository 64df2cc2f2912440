"""Who may do what: every admin API route needs a session, API keys are stored hashed and
compared in constant time, CORS opens the model API (without credentials) and never the admin
API, image URLs never reach private or loopback addresses unless allowed."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi.routing import APIRoute

from kiro_proxy.api import auth as api_auth
from tests.e2e.stack import LiveStack
from tests.security.conftest import ADMIN_PASSWORD

# Reachable without a session on purpose: the login itself and the "am I logged in?" probe.
PUBLIC_ADMIN_API = {("POST", "/admin/api/login"), ("GET", "/admin/api/session")}
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def http(sstack: LiveStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sstack.url, timeout=30) as client:
        yield client


async def _login(http: httpx.AsyncClient) -> str:
    response = await http.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["csrfToken"])


def _all_api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _all_api_routes(inner.routes)


def _admin_api_routes(stack: LiveStack) -> list[tuple[str, str]]:
    routes = []
    for route in _all_api_routes(stack.app.routes):
        if route.path.startswith("/admin/api"):
            for method in sorted(route.methods):
                path = re.sub(r"\{[^}]+\}", "some-id", route.path)
                routes.append((method, path))
    return routes


async def test_every_admin_api_route_refuses_a_request_without_a_session(
    sstack: LiveStack, http: httpx.AsyncClient
) -> None:
    routes = _admin_api_routes(sstack)
    assert len(routes) >= 25, routes  # the enumeration found the admin API
    for method, path in routes:
        if (method, path) in PUBLIC_ADMIN_API:
            continue
        for cookies in ({}, {"kiro_admin_session": "forged-session-value"}):
            http.cookies.clear()
            response = await http.request(method, path, json={}, cookies=cookies)
            assert response.status_code == 401, (method, path, response.status_code, response.text)


async def test_admin_changes_need_the_csrf_header_and_the_same_origin(
    http: httpx.AsyncClient,
) -> None:
    csrf = await _login(http)
    no_csrf = await http.post("/admin/api/keys", json={"name": "x"})
    assert no_csrf.status_code == 403
    cross = await http.post(
        "/admin/api/keys",
        json={"name": "x"},
        headers={"x-csrf-token": csrf, "origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    same = await http.post("/admin/api/keys", json={"name": "x"}, headers={"x-csrf-token": csrf})
    assert same.status_code == 200, same.text


def _database_bytes(data_dir: Path) -> bytes:
    files = [p for p in data_dir.glob("kiro-proxy.db*") if p.is_file()]
    return b"".join(p.read_bytes() for p in files)


async def test_api_keys_are_stored_hashed_and_compared_in_constant_time(
    sstack: LiveStack, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = await _login(http)
    created = await http.post(
        "/admin/api/keys", json={"name": "hashed"}, headers={"x-csrf-token": csrf}
    )
    key = created.json().get("key") or created.json().get("apiKey")
    assert isinstance(key, str) and key.startswith("sk-"), created.json()
    ok = await http.get("/v1/models", headers={"x-api-key": key})
    assert ok.status_code == 200

    # The database holds the SHA-256 of the key, never the key (WAL included).
    stored = _database_bytes(sstack.data_dir)
    assert key.encode() not in stored
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    listed = await http.get("/admin/api/keys")
    assert key not in listed.text

    # The configured single key is compared with hmac.compare_digest (constant time).
    calls: list[tuple[bytes, bytes]] = []
    real = api_auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_auth.hmac, "compare_digest", spy)
    sstack.settings.api_key = "config-key-Const-7781"  # type: ignore[union-attr]
    try:
        good = await http.get("/v1/models", headers={"x-api-key": "config-key-Const-7781"})
        assert good.status_code == 200
        assert calls, "the configured key was not compared with hmac.compare_digest"
    finally:
        sstack.settings.api_key = None  # type: ignore[union-attr]


async def test_wrong_api_keys_do_not_grow_memory_without_bound(
    sstack: LiveStack, http: httpx.AsyncClient
) -> None:
    """Every distinct wrong key used to get its own cache entry forever: a client sending
    random keys grew the gateway's memory without limit."""
    for index in range(3000):
        await http.get("/v1/models", headers={"x-api-key": f"sk-kp-guess-{index:06d}"})
    assert len(sstack.runtime._key_cache) <= 1024


async def test_cors_opens_the_model_api_without_credentials(http: httpx.AsyncClient) -> None:
    origin = "https://browser-client.example"
    preflight = await http.options(
        "/v1/messages",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers
    simple = await http.get("/v1/models", headers={"origin": origin})
    assert simple.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in simple.headers


async def test_cors_never_opens_the_admin_api(http: httpx.AsyncClient) -> None:
    csrf = await _login(http)
    origin = "https://evil.example"
    preflight = await http.options(
        "/admin/api/keys",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-csrf-token, content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-credentials" not in preflight.headers
    read = await http.get("/admin/api/keys", headers={"origin": origin, "x-csrf-token": csrf})
    assert "access-control-allow-origin" not in read.headers
    # The session cookie itself is HttpOnly and SameSite=Strict.
    login = await http.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.fixture
async def image_server() -> AsyncIterator[str]:
    hits: list[str] = []

    async def png(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=PNG_1PX, content_type="image/png")

    app = web.Application()
    app.router.add_get("/pixel.png", png)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_image_urls_to_private_addresses_are_refused_unless_allowed(
    sstack: LiveStack, http: httpx.AsyncClient, image_server: str
) -> None:
    def body(url: str) -> dict[str, object]:
        return {
            "model": "claude-sonnet-4.5",
            "max_tokens": 16,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "url", "url": url}},
                        {"type": "text", "text": "what is this?"},
                    ],
                }
            ],
        }

    port = image_server.rsplit(":", 1)[1]
    for url in (
        f"http://{image_server}/pixel.png",
        f"http://localhost:{port}/pixel.png",
        f"http://[::ffff:127.0.0.1]:{port}/pixel.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/x.png",
    ):
        refused = await http.post("/v1/messages", json=body(url))
        assert refused.status_code == 400, (url, refused.text)
        assert "not public" in refused.json()["error"]["message"], refused.text
    sstack.settings.allow_private_image_urls = True  # type: ignore[union-attr]
    try:
        allowed = await http.post("/v1/messages", json=body(f"http://{image_server}/pixel.png"))
        assert allowed.status_code == 200, allowed.text
        sent = sstack.generate_requests()[-1].body
        assert "images" in str(sent)
    finally:
        sstack.settings.allow_private_image_urls = False  # type: ignore[union-attr]
