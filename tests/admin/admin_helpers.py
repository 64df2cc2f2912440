"""Helpers for the admin tests: an admin-only app on a real pool runtime (SQLite in a temp dir) wired to the in-process
Kiro simulator, and an httpx client that logs in and sends the CSRF header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from kiro_proxy.admin.routes import install_admin
from kiro_proxy.admin.session import AdminAuth
from kiro_proxy.app import _install_error_handlers
from kiro_proxy.pool.account import Account
from kiro_proxy.pool.runtime import PoolRuntime
from kiro_proxy.settings import Settings
from kiro_proxy.simulator.app import RunningSimulator

PASSWORD = "correct horse battery"
ORIGIN = "http://testserver"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class AdminEnv:
    app: FastAPI
    runtime: PoolRuntime
    sim: RunningSimulator
    settings: Settings
    auth: AdminAuth
    clock: Clock
    http: httpx.AsyncClient
    csrf: str = ""

    async def login(self, password: str = PASSWORD) -> httpx.Response:
        response = await self.http.post("/admin/api/login", json={"password": password})
        if response.status_code == 200:
            self.csrf = response.json()["csrfToken"]
        return response

    def headers(self) -> dict[str, str]:
        return {"x-csrf-token": self.csrf}

    async def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return await self.http.request(method, path, json=json, headers=self.headers())

    async def add_sim_account(self, email: str, **kwargs: Any) -> Account:
        sim_account = self.sim.state.add_account(email, **kwargs)
        account = Account(
            id="",
            email=email,
            auth_method=sim_account.auth_method,
            refresh_token=sim_account.refresh_token,
            access_token=sim_account.access_token,
            expires_at=sim_account.access_expires_at,
            client_id=sim_account.client_id,
            client_secret=sim_account.client_secret,
            profile_arn=sim_account.profile_arn,
        )
        return await self.runtime.add_account(account)


def admin_test_app(settings: Settings, auth: AdminAuth) -> FastAPI:
    app = FastAPI()
    _install_error_handlers(app)  # the gateway's own error rendering
    install_admin(app, settings, auth=auth)
    return app
