"""create_runtime end to end: Kiro-Go import, requests, restart persistence (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from kiro_proxy.kiro.events import TextEvent
from kiro_proxy.pool.dispatcher import RequestContext
from kiro_proxy.pool.jobs import JobIntervals
from kiro_proxy.pool.runtime import PoolRuntime, create_runtime
from kiro_proxy.settings import Settings
from kiro_proxy.simulator import script
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.testing import client_for, simple_request

# Long intervals: the tests drive refreshes and flushes themselves.
QUIET = JobIntervals(state_flush=3600, token_refresh=3600, limits_first=3600, models_first=3600)


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    simulator = await start_simulator()
    client = client_for(simulator.url)
    await client.start()
    try:
        yield SimpleNamespace(url=simulator.url, state=simulator.state, client=client)
    finally:
        await client.close()
        await simulator.close()


def write_kiro_go_config(path: Path, sim: Any, names: list[str]) -> None:
    accounts = []
    for index, name in enumerate(names):
        acct = sim.state.add_account(
            f"{name}@example.com", auth_method="idc" if index % 2 else "social"
        )
        accounts.append(
            {
                "id": f"kg-{name}",
                "email": acct.email,
                "nickname": name,
                "accessToken": acct.access_token,
                "refreshToken": acct.refresh_token,
                "clientId": acct.client_id or "",
                "clientSecret": acct.client_secret or "",
                "authMethod": acct.auth_method,
                "region": "us-east-1",
                "expiresAt": int(acct.access_expires_at),
                "machineId": "2f9c1c7e-54a4-4c3a-9d0e-2a0b8b7f6d11",
                "enabled": True,
                "subscriptionType": "PRO",
                "usageCurrent": 12.5,
                "usageLimit": 1000,
                "nextResetDate": "2026-12-01",
                "requestCount": 9,
                "errorCount": 1,
                "totalTokens": 1234,
                "totalCredits": 1.5,
                "lastUsed": "2026-11-20T10:00:00Z",
            }
        )
    config = {
        "password": "changeme",
        "port": 8080,
        "preferredEndpoint": "auto",
        "accounts": accounts,
        "totalRequests": 100,
        "successRequests": 90,
        "failedRequests": 10,
        "totalTokens": 5000,
        "totalCredits": 7.25,
    }
    path.write_bytes(orjson.dumps(config))


def settings_for(tmp_path: Path, database_url: str, sim: Any) -> Settings:
    return Settings(
        config_path=tmp_path / "config.json",
        data_dir=tmp_path / "data",
        database_url=database_url,
        kiro_api_url=sim.url,
        kiro_codewhisperer_url=sim.url,
        kiro_auth_url=sim.url,
        kiro_oidc_url=sim.url,
    )


async def ask(runtime: PoolRuntime, api_key_id: str | None = None) -> str:
    context = RequestContext(
        route="/v1/messages", model="claude-sonnet-4.5", stream=False, api_key_id=api_key_id
    )
    reply = await runtime.dispatcher.open_reply(simple_request(), context=context)
    text_out = "".join([e.text async for e in reply if isinstance(e, TextEvent)])
    reply.finish(status="success", input_tokens=20, output_tokens=10, credits=0.02)
    return reply.account_id if text_out else ""


async def raw_rows(runtime: PoolRuntime, table: str) -> list[dict[str, Any]]:
    async with runtime.database.engine.connect() as conn:
        result = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
        return [dict(row) for row in result.mappings().all()]


async def test_import_is_idempotent_and_secrets_are_encrypted(
    tmp_path: Path, database_url: str, sim: Any, data_dir: Path
) -> None:
    write_kiro_go_config(tmp_path / "config.json", sim, ["a", "b"])
    settings = settings_for(tmp_path, database_url, sim)
    runtime = await create_runtime(settings, sim.client, intervals=QUIET)
    try:
        first_accounts = await raw_rows(runtime, "accounts")
        first_kv = await raw_rows(runtime, "settings_kv")
        assert len(first_accounts) == 2
        raw = orjson.dumps(first_accounts, default=str).decode()
        for acct in sim.state.accounts.values():
            assert acct.refresh_token not in raw and acct.access_token not in raw
            if acct.client_secret:
                assert acct.client_secret not in raw
        stats = runtime.stats()
        assert (stats["totalRequests"], stats["totalTokens"], stats["accounts"]) == (100, 5000, 2)
        imported = {a.nickname: a for a in runtime.pool.all()}
        assert imported["a"].auth_method == "social" and imported["b"].auth_method == "idc"
        assert imported["a"].machine_id == "2f9c1c7e-54a4-4c3a-9d0e-2a0b8b7f6d11"
        assert imported["a"].reset_at == 1796083200.0  # 2026-12-01 UTC
        assert (imported["a"].request_count, imported["a"].total_tokens) == (9, 1234)
    finally:
        await runtime.close()

    runtime = await create_runtime(settings, sim.client, intervals=QUIET)
    try:
        assert await raw_rows(runtime, "accounts") == first_accounts
        assert await raw_rows(runtime, "settings_kv") == first_kv
        # A deleted imported account is not brought back by the next start.
        await runtime.delete_account(runtime.pool.all()[0].id)
    finally:
        await runtime.close()
    runtime = await create_runtime(settings, sim.client, intervals=QUIET)
    try:
        assert len(runtime.pool) == 1
    finally:
        await runtime.close()


async def test_restart_keeps_accounts_tokens_cooldowns_and_usage(
    tmp_path: Path, database_url: str, sim: Any, data_dir: Path
) -> None:
    sim.state.rotate_refresh_tokens = True
    write_kiro_go_config(tmp_path / "config.json", sim, ["a", "b", "c"])
    settings = settings_for(tmp_path, database_url, sim)
    runtime = await create_runtime(settings, sim.client, intervals=QUIET)
    try:
        key_id, key = await runtime.create_api_key("tests")
        assert await runtime.verify_api_key(key) == key_id
        for _ in range(6):
            assert await ask(runtime, api_key_id=key_id)
        by_name = {a.nickname: a for a in runtime.pool.all()}
        # "a": the token is force-refreshed (rotating the refresh token upstream).
        sim_a = sim.state.accounts["a@example.com"]
        sim.state.expire_access_token(sim_a)
        by_name["a"].expires_at = time.time() - 1
        await runtime.tokens.ensure_fresh(by_name["a"])
        rotated_refresh = by_name["a"].refresh_token
        assert rotated_refresh == sim_a.refresh_token
        # "b": throttled now → cooling down; "c": quota exhausted.
        sim.state.enqueue(
            script.throttled(retry_after=600),
            script.throttled(retry_after=600),
            account="b@example.com",
        )
        sim.state.enqueue(script.quota_exhausted(), account="c@example.com")
        while by_name["b"].cooldown_until == 0 or by_name["c"].quota_exhausted_until == 0:
            await ask(runtime)
        b_until = by_name["b"].cooldown_until
        c_until = by_name["c"].quota_exhausted_until
        totals_before = runtime.stats()
    finally:
        await runtime.close()

    runtime = await create_runtime(settings, sim.client, intervals=QUIET)
    try:
        by_name = {a.nickname: a for a in runtime.pool.all()}
        assert set(by_name) == {"a", "b", "c"}
        assert by_name["a"].refresh_token == rotated_refresh
        assert by_name["a"].access_token == sim_a.access_token
        assert by_name["b"].cooldown_until == pytest.approx(b_until)
        assert by_name["c"].quota_exhausted_until == pytest.approx(c_until)
        assert runtime.available_accounts() == 1
        stats = runtime.stats()
        for name in ("totalRequests", "successRequests", "failedRequests", "totalTokens"):
            assert stats[name] == totals_before[name], name
        assert await runtime.usage.count() == totals_before["totalRequests"] - 100
        keys = {k["id"]: k for k in await runtime.api_keys.list_all()}
        assert keys[key_id]["request_count"] == 6
        assert await runtime.verify_api_key(key) == key_id
        # The restored token works without a refresh.
        calls = sim.state.refresh_calls
        assert await ask(runtime) == by_name["a"].id
        assert sim.state.refresh_calls == calls
    finally:
        await runtime.close()


async def test_usage_limits_and_models_refresh(
    tmp_path: Path, database_url: str, sim: Any, data_dir: Path
) -> None:
    write_kiro_go_config(tmp_path / "config.json", sim, ["a"])
    settings = settings_for(tmp_path, database_url, sim)
    runtime = await create_runtime(settings, sim.client, intervals=QUIET)
    try:
        account = runtime.pool.all()[0]
        await runtime.refresh_account_limits(account.id)
        assert account.limits_checked_at is not None
        assert account.subscription_type in {"FREE", "PRO", "PRO_PLUS", "POWER"}
        assert account.usage_limit is not None and account.reset_at is not None
        ids = await runtime.refresh_models()
        assert "claude-sonnet-4.5" in ids and ids == runtime.models()
        assert len(ids) == len(sim.state.models)
    finally:
        await runtime.close()
    runtime = await create_runtime(settings, sim.client, intervals=QUIET)
    try:
        assert runtime.pool.all()[0].limits_checked_at is not None
    finally:
        await runtime.close()
