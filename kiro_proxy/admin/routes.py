"""The admin panel: static files at /admin and the admin API under /admin/api.

`install_admin(app, settings)` runs when the app is created, before serving: it also sets up the
admin password (and prints a generated one once). `start_admin(app, runtime)` runs at start-up
once the database is open: sessions and the login throttle live there (shared by every worker
process), and settings changed through another worker are taken in about once a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from kiro_proxy.admin import (
    accounts_routes,
    dashboard_routes,
    keys_routes,
    requests_routes,
    session_routes,
    settings_routes,
)
from kiro_proxy.admin.session import AdminAuth, ConfigFilePasswordStore
from kiro_proxy.admin.settings_sync import SettingsSync
from kiro_proxy.config_file import ConfigFile, runtime_listener
from kiro_proxy.settings import Settings

if TYPE_CHECKING:
    from kiro_proxy.pool.runtime import PoolRuntime

STATIC_DIR = Path(__file__).with_name("static")

# No inline script or style is used, so the policy can forbid them: an injected string can
# never run. frame-ancestors stops click-jacking of the panel.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class _PanelHeaders:
    """Adds the security headers to every /admin static response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for name, value in SECURITY_HEADERS.items():
                    headers.append((name.encode(), value.encode()))
                headers.append((b"cache-control", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _index(_: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "index.html", headers={**SECURITY_HEADERS, "cache-control": "no-cache"}
    )


def install_admin(app: FastAPI, settings: Settings, *, auth: AdminAuth | None = None) -> None:
    if auth is None:
        shared = getattr(app.state, "config_file", None)
        config = shared if isinstance(shared, ConfigFile) else ConfigFile(settings.config_path)
        config.ensure(admin_password=settings.admin_password)
        auth = AdminAuth(ConfigFilePasswordStore(config), env_password=settings.admin_password)
    app.state.admin_auth = auth
    for module in (
        session_routes,
        dashboard_routes,
        accounts_routes,
        keys_routes,
        settings_routes,
        requests_routes,
    ):
        app.include_router(module.router)
    try:  # the login/import routes come from another module (kiro_proxy/admin/auth_routes.py)
        from kiro_proxy.admin import auth_routes
    except ImportError:  # pragma: no cover - only while that module does not exist yet
        pass
    else:
        app.include_router(auth_routes.router)
    app.add_api_route("/admin", lambda: RedirectResponse("/admin/", 308), include_in_schema=False)
    app.add_api_route("/admin/", _index, include_in_schema=False)
    app.mount(
        "/admin/static", _PanelHeaders(StaticFiles(directory=STATIC_DIR)), name="admin-static"
    )


async def start_admin(app: FastAPI, runtime: PoolRuntime) -> SettingsSync:
    """Start-up, once the pool runtime (and its database) is up."""
    auth: AdminAuth = app.state.admin_auth
    auth.attach(runtime.database)
    config = getattr(app.state, "config_file", None)
    if not isinstance(config, ConfigFile):  # an app without the shared file (admin tests)
        config = app.state.config_file = ConfigFile(runtime.settings.config_path)
        config.subscribe(runtime_listener(runtime))
    sync = SettingsSync(runtime.shared, config, runtime.settings)
    await sync.start()
    app.state.settings_sync = sync
    runtime.jobs.every("settings-sync", runtime.intervals.state_flush, sync.check)
    return sync
