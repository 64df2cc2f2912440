"""/metrics after real traffic through the gateway (the app wired to the Kiro simulator)."""

from __future__ import annotations

import httpx
import orjson

from kiro_proxy.app import create_app
from kiro_proxy.settings import load_settings

MESSAGE = {
    "model": "claude-sonnet-4.5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


def _sample(text: str, prefix: str) -> float:
    """The value of the one sample line that starts with `prefix`."""
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    ]
    assert len(values) == 1, f"{prefix!r}: {values}"
    return values[0]


async def test_metrics_after_traffic(upstream, clean_env) -> None:
    settings = load_settings(config_path=upstream.config_path, **upstream.url_settings())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            first = await client.post("/v1/messages", json=MESSAGE)
            assert first.status_code == 200, first.text
            streamed = await client.post("/v1/messages", json={**MESSAGE, "stream": True})
            assert b"message_stop" in streamed.content
            chat = await client.post(
                "/v1/chat/completions",
                json={
                    "model": "claude-sonnet-4.5",
                    "messages": [{"role": "user", "content": "yo"}],
                },
            )
            assert chat.status_code == 200, chat.text
            bad = await client.post("/v1/messages", content=b"{not json")
            assert bad.status_code == 400
            scrape = await client.get("/metrics")
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    model = 'model="claude-sonnet-4.5"'
    assert (
        _sample(text, f'kiro_proxy_requests_total{{{model},route="/v1/messages",status="200"}}')
        == 2
    )
    assert (
        _sample(
            text, f'kiro_proxy_requests_total{{{model},route="/v1/chat/completions",status="200"}}'
        )
        == 1
    )
    assert (
        _sample(text, 'kiro_proxy_requests_total{model="none",route="/v1/messages",status="400"}')
        == 1
    )
    assert _sample(text, 'kiro_proxy_request_duration_seconds_count{route="/v1/messages"}') == 3
    assert _sample(text, f"kiro_proxy_time_to_first_token_seconds_count{{{model}}}") == 3
    assert _sample(text, f'kiro_proxy_upstream_requests_total{{{model},outcome="success"}}') == 3
    assert _sample(text, f'kiro_proxy_tokens_total{{direction="output",{model}}}') > 0
    assert _sample(text, f'kiro_proxy_tokens_total{{direction="input",{model}}}') > 0
    assert _sample(text, f"kiro_proxy_credits_total{{{model}}}") > 0
    assert _sample(text, 'kiro_proxy_accounts{state="usable"}') == 1
    # The account came with a refresh token only: the first request refreshed it.
    assert _sample(text, 'kiro_proxy_token_refreshes_total{method="social",outcome="success"}') == 1


async def test_upstream_errors_are_counted_by_kind(upstream, clean_env) -> None:
    from kiro_proxy.simulator.script import bad_request

    settings = load_settings(config_path=upstream.config_path, **upstream.url_settings())
    app = create_app(settings)
    upstream.simulator.state.enqueue(bad_request("Improperly formed request."))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            response = await client.post("/v1/messages", json=MESSAGE)
            assert response.status_code == 400, response.text
            assert orjson.loads(response.content)["type"] == "error"
            text = (await client.get("/metrics")).text
    errors = [
        line for line in text.splitlines() if line.startswith("kiro_proxy_upstream_errors_total{")
    ]
    assert errors and all(float(line.rsplit(" ", 1)[1]) >= 1 for line in errors), errors
