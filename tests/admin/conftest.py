"""Fixtures for the admin API tests (helpers live in admin_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from admin_helpers import PASSWORD, AdminEnv, Clock, admin_test_app

from kiro_proxy.admin.passwords import hash_password
from kiro_proxy.admin.routes import start_admin
from kiro_proxy.admin.session import AdminAuth, MemoryPasswordStore
from kiro_proxy.api.services import Services
from kiro_proxy.pool.jobs import JobIntervals
from kiro_proxy.pool.runtime import create_runtime
from kiro_proxy.settings import Settings
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.testing import client_for

ORIGIN = "http://testserver"


@pytest.fixture
async def admin_env(tmp_path: Path) -> AsyncIterator[AdminEnv]:
    sim = await start_simulator()
    settings = Settings(
        config_path=tmp_path / "config.json",
        kiro_api_url=sim.url,
        kiro_codewhisperer_url=sim.url,
        kiro_auth_url=sim.url,
        kiro_oidc_url=sim.url,
        kiro_portal_url=sim.url,
    )
    client = client_for(sim.url)
    await client.start()
    # Background jobs far in the future: tests drive refreshes themselves.
    far = 10_000.0
    intervals = JobIntervals(
        state_flush=far,
        token_refresh=far,
        limits=far,
        limits_first=far,
        models=far,
        models_first=far,
    )
    runtime = await create_runtime(settings, client, intervals=intervals)
    clock = Clock()
    # A stored (cheap) hash of a known password, as after a first run: tests log in many times.
    auth = AdminAuth(
        MemoryPasswordStore(hash_password(PASSWORD, n=2**10)),
        env_password=None,
        clock=clock,
        announce=lambda _message: None,
    )
    app = admin_test_app(settings, auth)
    await start_admin(app, runtime)  # sessions and login throttle in the runtime's database
    app.state.services = Services(settings=settings, client=client, runtime=runtime)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        yield AdminEnv(app, runtime, sim, settings, auth, clock, http)
    await runtime.close()
    await client.close()
    await sim.close()


@pytest.fixture
async def logged_in(admin_env: AdminEnv) -> AdminEnv:
    response = await admin_env.login()
    assert response.status_code == 200, response.text
    return admin_env
