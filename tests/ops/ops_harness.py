"""Helpers for the ops tests: the gateway wired to the in-process Kiro simulator."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import orjson

from kiro_proxy.settings import Settings
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.state import SimAccount

UPSTREAM_URL_SETTINGS = (
    "kiro_api_url",
    "kiro_codewhisperer_url",
    "kiro_auth_url",
    "kiro_oidc_url",
    "kiro_portal_url",
)


@dataclass
class SimulatedUpstream:
    simulator: RunningSimulator
    account: SimAccount
    config_path: Path

    @property
    def url(self) -> str:
        return self.simulator.url

    def url_settings(self) -> dict[str, str]:
        return dict.fromkeys(UPSTREAM_URL_SETTINGS, self.url)

    def url_env(self) -> dict[str, str]:
        return {name.upper(): self.url for name in UPSTREAM_URL_SETTINGS}

    def secrets(self) -> list[str]:
        """Every upstream secret the gateway has had: refresh token and each access token."""
        return [self.account.refresh_token, *self.account.access_tokens]


def write_config(path: Path, account: SimAccount, **settings: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        **settings,
        "accounts": [
            {
                "id": "ops-test-account",
                "email": account.email,
                "authMethod": "social",
                "refreshToken": account.refresh_token,
            }
        ],
    }
    path.write_bytes(orjson.dumps(body))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment minus any setting, plus `extra`."""
    names = {n.upper() for n in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(extra)
    return env
