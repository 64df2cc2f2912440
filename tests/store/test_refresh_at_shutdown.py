"""Shutdown with a token refresh in flight (SQLite and PostgreSQL): the runtime cancels it and
waits for it before the client and the database close, and nothing is marked failed."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_runtime_restart import QUIET, settings_for, write_kiro_go_config

from kiro_proxy.pool.runtime import create_runtime
from kiro_proxy.simulator import script
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.testing import client_for
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.crypto import SecretBox
from kiro_proxy.store.database import open_database

# The simulator holds the refresh far longer than the test runs: only shutdown ends it.
HELD_REFRESH = script.HttpFault(503, delay=3600)


def refresh_tasks() -> list[asyncio.Task[Any]]:
    """The token manager's refresh tasks alive in this loop."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "TokenManager._refresh_coordinated"
    ]


async def wait_for(predicate: Any, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("auth_method", ["social", "idc"])
async def test_close_cancels_a_refresh_in_flight_and_marks_nothing_failed(
    tmp_path: Path,
    database_url: str,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    auth_method: str,
) -> None:
    """The background job starts a refresh the simulator holds; the job is stopped at
    shutdown, but the refresh (shielded, so that no waiter can cancel it) would outlive it and
    fail against the closed client. runtime.close() ends it first: no warning, no error, no
    pending task, and the stored account is as healthy as before."""
    sim = await start_simulator()
    client = client_for(sim.url)
    await client.start()
    settings = settings_for(tmp_path, database_url, sim)
    write_kiro_go_config(settings.config_path, sim, ["a", "b"])
    name = "a" if auth_method == "social" else "b"  # the config alternates the methods
    sim_account = sim.state.accounts[f"{name}@example.com"]
    sim.state.enqueue_refresh_fault(HELD_REFRESH, account=sim_account)
    try:
        intervals = replace(QUIET, token_refresh=0.05)
        runtime = await create_runtime(settings, client, intervals=intervals)
        account = next(a for a in runtime.pool.all() if a.nickname == name)
        before = (account.access_token, account.refresh_token)
        account.expires_at = time.time() + 120  # inside the job's horizon: it refreshes
        await runtime.accounts.save(account, ("expires_at",))
        await wait_for(lambda: sim.state.refresh_calls + sim.state.oidc_refresh_calls == 1)
        (held,) = refresh_tasks()
        assert not held.done()

        caplog.clear()
        caplog.set_level(logging.INFO)
        await runtime.close()
        assert held.done() and held.cancelled()
        await client.close()
        await asyncio.sleep(0.1)  # a refresh left running would fail against the closed client
        gc.collect()  # a pending task destroyed here would be reported
        assert refresh_tasks() == []
        problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert problems == []
        assert sim.state.refresh_calls + sim.state.oidc_refresh_calls == 1
        assert account.enabled and account.consecutive_failures == 0
    finally:
        await client.close()
        await sim.close()

    database = await open_database(settings.resolved_database_url)
    try:
        accounts = AccountRepository(database, SecretBox.for_data_dir(settings.resolved_data_dir))
        stored = await accounts.get(account.id)
    finally:
        await database.close()
    assert stored is not None
    assert (stored.enabled, stored.disabled_reason) == (True, None)
    assert (stored.cooldown_until, stored.consecutive_failures) == (0.0, 0)
    assert (stored.access_token, stored.refresh_token) == before
