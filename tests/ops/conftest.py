"""Shared fixtures for the ops tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from kiro_proxy.observability.redaction import known_secrets


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
