"""Run-time settings: read and change (persisted to config.json through ConfigFile.update, then
announced to the other worker processes: admin/settings_sync.py)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.admin.common import ServiceUnavailable, json_response, services_of
from kiro_proxy.admin.session import admin_auth, require_admin
from kiro_proxy.admin.settings_sync import SettingsSync
from kiro_proxy.config_file import ConfigFile
from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.settings import ConfigError, Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin/api", dependencies=[Depends(require_admin)])

# What the Settings page may change (camelCase on the wire, Kiro-Go's names).
PANEL_SETTINGS = (
    "require_api_key",
    "thinking_suffix",
    "openai_thinking_format",
    "claude_thinking_format",
    "preferred_endpoint",
    "pool_strategy",
    "model_aliases",
    "proxy_url",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_BY_CAMEL = {_camel(n): n for n in PANEL_SETTINGS}


def config_file_of(request: Request) -> ConfigFile:
    """The app's ConfigFile, whose subscribers push changes into the pool (app.py sets it up, or
    start_admin for an app without one)."""
    config = getattr(request.app.state, "config_file", None)
    if not isinstance(config, ConfigFile):
        raise ServiceUnavailable("the gateway is still starting: try again in a moment")
    return config


def settings_sync_of(request: Request) -> SettingsSync:
    sync = getattr(request.app.state, "settings_sync", None)
    if sync is None:
        raise ServiceUnavailable("the gateway is still starting: try again in a moment")
    return sync  # type: ignore[no-any-return]


def settings_json(settings: Settings) -> dict[str, Any]:
    data = {_camel(n): getattr(settings, n) for n in PANEL_SETTINGS}
    data["apiKeyConfigured"] = bool(settings.api_key)  # the legacy single key: never shown
    return data


@router.get("/settings")
async def get_settings(request: Request) -> Response:
    services = services_of(request)
    body = settings_json(services.settings)
    body["passwordFromEnv"] = admin_auth(request).password_from_env
    body["models"] = services.known_models()
    return json_response(body)


@router.put("/settings")
async def put_settings(request: Request, body: dict[str, Any]) -> Response:
    services = services_of(request)
    unknown = sorted(k for k in body if k not in _BY_CAMEL)
    if unknown:
        raise InvalidRequestError(f"not a setting the panel can change: {', '.join(unknown)}")
    changes = {_BY_CAMEL[k]: v for k, v in body.items()}
    if "proxy_url" in changes and isinstance(changes["proxy_url"], str):
        changes["proxy_url"] = changes["proxy_url"].strip() or None
        if changes["proxy_url"] and not changes["proxy_url"].startswith(
            ("http://", "https://", "socks5://", "socks5h://")
        ):
            raise InvalidRequestError(
                "the proxy URL must start with http://, https://, socks5:// or socks5h://",
                param="proxyUrl",
            )
    if "model_aliases" in changes:
        aliases = changes["model_aliases"]
        if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip()
            for k, v in aliases.items()
        ):
            raise InvalidRequestError(
                'model aliases must map names to model ids, e.g. {"gpt-4o": "claude-sonnet-4.5"}',
                param="modelAliases",
            )
    if "thinking_suffix" in changes and not str(changes["thinking_suffix"] or "").strip():
        raise InvalidRequestError("the thinking suffix must not be empty", param="thinkingSuffix")
    try:
        update = config_file_of(request).update(services.settings, changes)
    except ConfigError as exc:
        raise InvalidRequestError(str(exc)) from exc
    if update.changed:
        log.info("admin changed settings: %s", ", ".join(sorted(update.changed)))
        await settings_sync_of(request).announce(update.changed)
    return json_response(
        {
            "success": True,
            "changed": sorted(_camel(n) for n in update.changed),
            "overriddenByEnv": [_camel(n) for n in update.overridden_by_env],
            "settings": settings_json(services.settings),
        }
    )
