"""Background jobs on a running runtime: token refresh ahead of expiry, state flush, limits, models."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from kiro_proxy.pool.account import Account
from kiro_proxy.pool.jobs import JobIntervals
from kiro_proxy.pool.runtime import create_runtime
from kiro_proxy.settings import Settings
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.testing import client_for

FAST = JobIntervals(
    state_flush=0.05,
    token_refresh=0.05,
    limits_first=0.05,
    limits=3600,
    models_first=0.05,
    models=3600,
)


async def wait_for(predicate: Any, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_jobs_refresh_tokens_poll_limits_models_and_flush(
    tmp_path: Path, database_url: str, data_dir: Path
) -> None:
    sim = await start_simulator()
    client = client_for(sim.url)
    await client.start()
    settings = Settings(
        config_path=tmp_path / "config.json",
        data_dir=data_dir,
        database_url=database_url,
        kiro_api_url=sim.url,
        kiro_codewhisperer_url=sim.url,
        kiro_auth_url=sim.url,
        kiro_oidc_url=sim.url,
    )
    try:
        runtime = await create_runtime(settings, client, intervals=FAST)
        try:
            sim.state.models = [m for m in sim.state.models if m["modelId"] != "glm-5"]
            sim_account = sim.state.add_account("jobs@example.com")
            first_token = sim_account.access_token
            account = await runtime.add_account(
                Account(
                    id="",
                    refresh_token=sim_account.refresh_token,
                    access_token=sim_account.access_token,
                    expires_at=time.time() + 120,  # inside the 10-minute horizon
                )
            )
            await wait_for(lambda: sim.state.refresh_calls == 1)
            await wait_for(lambda: account.limits_checked_at is not None)
            assert account.email == "jobs@example.com"  # learnt from getUsageLimits
            await wait_for(lambda: "glm-5" not in runtime.models())
            runtime.pool.cool_down(account, 30)
            runtime.pool.record_request(
                account, success=False, input_tokens=3, output_tokens=4, credits=0.5
            )
            await asyncio.sleep(0.2)
            stored = await runtime.accounts.get(account.id)
            assert stored is not None
            # Counters are written as increments, health marks as they are.
            assert (stored.request_count, stored.error_count, stored.output_tokens) == (1, 1, 4)
            assert stored.cooldown_until == account.cooldown_until > time.time()
            assert stored.access_token == account.access_token != sim_account.refresh_token
            assert stored.access_token != first_token  # the refreshed token is the stored one
            assert stored.expires_at is not None and stored.expires_at > time.time() + 3000
        finally:
            await runtime.close()
    finally:
        await client.close()
        await sim.close()
