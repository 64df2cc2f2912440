"""Accounts: list, update (enable/disable, rename, weight, outbound proxy), delete, refresh
token and usage, list the account's models."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.admin.accounts_view import account_json
from kiro_proxy.admin.common import json_response, not_found, runtime_of
from kiro_proxy.admin.session import require_admin
from kiro_proxy.errors import InvalidRequestError, UpstreamError
from kiro_proxy.pool.tokens import RefreshFailed

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin/api", dependencies=[Depends(require_admin)])

_PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://")


def valid_proxy_url(value: str | None) -> str | None:
    """None clears; "direct" opts an account out of the global proxy; else an http/socks5 URL."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value != "direct" and not value.startswith(_PROXY_SCHEMES):
        raise ValueError("a proxy URL must start with http://, https://, socks5:// or socks5h://")
    return value


class AccountUpdate(BaseModel):
    enabled: bool | None = None
    nickname: str | None = Field(default=None, max_length=200)
    weight: int | None = Field(default=None, ge=0, le=1000)
    proxyUrl: str | None = Field(default=None, max_length=2000)
    clearProxy: bool = False

    @field_validator("proxyUrl")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return valid_proxy_url(value)


@router.get("/accounts")
async def list_accounts(request: Request) -> Response:
    runtime = runtime_of(request)
    now = time.time()
    items = [account_json(runtime.account_view(a), a, now) for a in runtime.pool.all()]
    return json_response({"accounts": items})


def _account_or_404(request: Request, account_id: str) -> Any:
    account = runtime_of(request).pool.get(account_id)
    if account is None:
        raise not_found("account", account_id)
    return account


@router.put("/accounts/{account_id}")
async def update_account(request: Request, account_id: str, body: AccountUpdate) -> Response:
    runtime = runtime_of(request)
    _account_or_404(request, account_id)
    changes: dict[str, Any] = {}
    if body.enabled is not None:
        changes["enabled"] = body.enabled
        if not body.enabled:
            changes["disabled_reason"] = "disabled by the admin"
    if body.nickname is not None:
        changes["nickname"] = body.nickname.strip() or None
    if body.weight is not None:
        changes["weight"] = body.weight
    if body.clearProxy:
        changes["proxy_url"] = None
    elif body.proxyUrl is not None:
        changes["proxy_url"] = body.proxyUrl
    if not changes:
        raise InvalidRequestError("nothing to change: send enabled, nickname, weight or proxyUrl")
    account = await runtime.update_account(account_id, **changes)
    log.info("admin changed account %s: %s", account.label, ", ".join(sorted(changes)))
    return json_response(
        {
            "success": True,
            "account": account_json(runtime.account_view(account), account, time.time()),
        }
    )


@router.delete("/accounts/{account_id}")
async def delete_account(request: Request, account_id: str) -> Response:
    account = _account_or_404(request, account_id)
    await runtime_of(request).delete_account(account_id)
    log.info("admin deleted account %s", account.label)
    return json_response({"success": True})


@router.post("/accounts/{account_id}/refresh")
async def refresh_account(request: Request, account_id: str) -> Response:
    """Refresh the access token now, then fetch usage limits (subscription, quota, reset)."""
    runtime = runtime_of(request)
    account = _account_or_404(request, account_id)
    try:
        await runtime.tokens.refresh(account)
        account = await runtime.refresh_account_limits(account_id)
    except RefreshFailed as exc:
        raise UpstreamError(str(exc)) from exc
    except Exception as exc:
        log.warning("admin refresh of %s failed: %s", account.label, type(exc).__name__)
        raise UpstreamError(
            f"could not read usage limits for {account.label} ({type(exc).__name__}): try again later"
        ) from exc
    return json_response(
        {
            "success": True,
            "account": account_json(runtime.account_view(account), account, time.time()),
        }
    )


@router.get("/accounts/{account_id}/models")
async def account_models(request: Request, account_id: str) -> Response:
    runtime = runtime_of(request)
    account = _account_or_404(request, account_id)
    try:
        await runtime.tokens.ensure_fresh(account)
        models = await runtime.client.list_models(runtime.tokens.credentials(account))
    except RefreshFailed as exc:
        raise UpstreamError(str(exc)) from exc
    except Exception as exc:
        raise UpstreamError(
            f"could not list models for {account.label} ({type(exc).__name__}): try again later"
        ) from exc
    return json_response(
        {
            "success": True,
            "models": [
                {
                    "id": m.get("modelId"),
                    "name": m.get("modelName") or m.get("modelId"),
                    "description": m.get("description"),
                    "rateMultiplier": m.get("rateMultiplier"),
                }
                for m in models
                if isinstance(m, dict)
            ],
        }
    )
