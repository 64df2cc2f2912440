"""Fixtures for the login/import tests: the simulator (in-process, loopback, random port) with a
controllable clock, a KiroClient pointed at it, settings whose every upstream URL is the
simulator, and an account repository on a temporary SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from auth_fakes import FakeClock
from cryptography.fernet import Fernet

from kiro_proxy.auth.service import LoginService
from kiro_proxy.kiro.client import KiroClient
from kiro_proxy.settings import Settings, load_settings
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.state import SimState
from kiro_proxy.simulator.testing import client_for
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.crypto import SecretBox
from kiro_proxy.store.database import Database, open_database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(state=SimState(clock=clock))
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def kiro(sim: RunningSimulator) -> AsyncIterator[KiroClient]:
    async with client_for(sim.url) as client:
        yield client


def settings_for(sim_url: str, data_dir: Path) -> Settings:
    return load_settings(
        config_path=data_dir / "config.json",
        data_dir=data_dir,
        kiro_api_url=sim_url,
        kiro_codewhisperer_url=sim_url,
        kiro_auth_url=sim_url,
        kiro_oidc_url=sim_url,
        kiro_portal_url=sim_url,
    )


@pytest.fixture
def settings(sim: RunningSimulator, tmp_path: Path) -> Settings:
    return settings_for(sim.url, tmp_path)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'auth-test.db'}")
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def repo(database: Database) -> AccountRepository:
    return AccountRepository(database, SecretBox(Fernet.generate_key()))


@pytest.fixture
def service(
    settings: Settings, kiro: KiroClient, repo: AccountRepository, clock: FakeClock
) -> LoginService:
    return LoginService(settings, kiro, repo, clock=clock, sleep=clock.sleep)
