"""Settings: read, change (applied live and persisted to config.json), validation."""

from __future__ import annotations

import orjson
from admin_helpers import AdminEnv


async def test_read_settings(logged_in: AdminEnv) -> None:
    body = (await logged_in.http.get("/admin/api/settings")).json()
    assert body["requireApiKey"] is False
    assert body["thinkingSuffix"] == "-thinking"
    assert body["poolStrategy"] == "round-robin"
    assert body["passwordFromEnv"] is False
    assert "apiKey" not in body


async def test_change_applies_live_and_persists(logged_in: AdminEnv) -> None:
    changes = {
        "requireApiKey": True,
        "thinkingSuffix": "-think",
        "openaiThinkingFormat": "think",
        "claudeThinkingFormat": "native",
        "preferredEndpoint": "amazonq",
        "poolStrategy": "least-used",
        "modelAliases": {"gpt-4o": "claude-sonnet-4.5"},
        "proxyUrl": "http://127.0.0.1:3128",
    }
    response = await logged_in.call("PUT", "/admin/api/settings", changes)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["changed"]) == sorted(changes)
    s = logged_in.settings
    assert s.require_api_key and s.thinking_suffix == "-think"
    assert s.openai_thinking_format == "think" and s.claude_thinking_format == "native"
    assert s.model_aliases == {"gpt-4o": "claude-sonnet-4.5"}
    runtime = logged_in.runtime
    assert runtime.pool.strategy_name == "least-used"
    assert runtime.dispatcher.preferred_endpoint == "amazonq"
    account = await logged_in.add_sim_account("p@example.com")
    assert runtime.tokens.proxy_for(account) == "http://127.0.0.1:3128"
    saved = orjson.loads(logged_in.settings.config_path.read_bytes())
    assert saved["thinkingSuffix"] == "-think" and saved["poolStrategy"] == "least-used"
    assert saved["modelAliases"] == {"gpt-4o": "claude-sonnet-4.5"}
    # Clearing the proxy.
    cleared = await logged_in.call("PUT", "/admin/api/settings", {"proxyUrl": ""})
    assert cleared.json()["settings"]["proxyUrl"] is None
    assert runtime.tokens.proxy_for(account) is None


async def test_invalid_settings_change_nothing(logged_in: AdminEnv) -> None:
    for bad in (
        {"poolStrategy": "random"},
        {"openaiThinkingFormat": "xml"},
        {"proxyUrl": "ftp://host"},
        {"modelAliases": {"a": 3}},
        {"thinkingSuffix": " "},
        {"port": 1},
        {"adminPassword": "x"},
    ):
        response = await logged_in.call("PUT", "/admin/api/settings", bad)
        assert response.status_code == 400, (bad, response.text)
    assert logged_in.settings.pool_strategy == "round-robin"
    assert not logged_in.settings.config_path.exists() or "poolStrategy" not in orjson.loads(
        logged_in.settings.config_path.read_bytes()
    )
