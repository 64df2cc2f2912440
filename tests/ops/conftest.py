"""Shared fixtures for the ops tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ops_harness import SimulatedUpstream, write_config

from kiro_proxy.observability.redaction import known_secrets
from kiro_proxy.simulator.app import start_simulator


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """setup_logging changes the root logger process-wide; undo it after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler.get_name() == "kiro-proxy":
            root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = False
    known_secrets.clear()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting leaks in from the developer's or CI's environment."""
    from kiro_proxy.settings import Settings

    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.fixture
async def upstream(tmp_path: Path) -> AsyncIterator[SimulatedUpstream]:
    """The Kiro simulator with one social account, and a config.json that imports it."""
    simulator = await start_simulator("127.0.0.1", 0)
    account = simulator.state.add_account("ops@example.com")
    config_path = tmp_path / "data" / "config.json"
    write_config(config_path, account)
    try:
        yield SimulatedUpstream(simulator, account, config_path)
    finally:
        await simulator.close()
