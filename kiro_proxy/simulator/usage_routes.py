"""GET /getUsageLimits and GET /ListAvailableModels (protocol doc §7.1, §7.2)."""

from __future__ import annotations

import base64
import calendar
import datetime as dt
from typing import Any

from aiohttp import web

from kiro_proxy.simulator.generate import bearer, json_response
from kiro_proxy.simulator.script import INVALID_TOKEN_BODY, SUSPENDED_BODY
from kiro_proxy.simulator.state import SIM_STATE_KEY, RecordedRequest, SimAccount, SimState

_TITLES = {"FREE": "KIRO FREE", "PRO": "KIRO PRO", "PRO_PLUS": "KIRO PRO+", "POWER": "KIRO POWER"}


def _authorized(request: web.Request) -> tuple[SimState, SimAccount | None, web.Response | None]:
    state = request.app[SIM_STATE_KEY]
    account = state.account_for_access_token(bearer(request))
    record = state.record(
        RecordedRequest(
            path=request.path,
            account=account.email if account else None,
            body=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
        )
    )
    if account is None:
        record.status = 403
        return state, None, json_response(403, INVALID_TOKEN_BODY)
    if account.suspended:
        record.status = 403
        return state, None, json_response(403, SUSPENDED_BODY)
    record.status = 200
    return state, account, None


def _next_reset(now: float) -> float:
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


def usage_limits_body(state: SimState, account: SimAccount) -> dict[str, Any]:
    now = state.clock()
    reset = _next_reset(now)
    kind = account.subscription.upper()
    title = _TITLES.get(kind, f"KIRO {kind}")
    limit = account.usage_limit if account.usage_limit != float("inf") else 1e9
    breakdown = {
        "resourceType": "AGENTIC_REQUEST",
        "displayName": "Credits",
        "currentUsage": int(account.current_usage),
        "currentUsageWithPrecision": round(account.current_usage, 2),
        "usageLimit": int(limit),
        "usageLimitWithPrecision": float(limit),
        "currency": "USD",
        "unit": "INVOCATIONS",
        "overageRate": 0.04,
        "overageCap": 10000,
        "currentOverages": 0,
        "nextDateReset": reset,
        "freeTrialInfo": {
            "currentUsage": 0,
            "currentUsageWithPrecision": 0.0,
            "usageLimit": 500,
            "usageLimitWithPrecision": 500.0,
            "freeTrialStatus": "EXPIRED" if kind != "FREE" else "ACTIVE",
            "freeTrialExpiry": now + 14 * 86400,
        },
        "bonuses": [],
    }
    return {
        "usageBreakdownList": [breakdown],
        "nextDateReset": reset,
        "daysUntilReset": max(0, int((reset - now) // 86400)),
        "subscriptionInfo": {
            "subscriptionTitle": title,
            "subscriptionName": title,
            "subscriptionType": kind,
            "type": kind,
            "status": "ACTIVE",
            "upgradeCapability": "UPGRADE_CAPABLE" if kind == "FREE" else "UPGRADE_INCAPABLE",
            "overageCapability": "OVERAGE_CAPABLE",
        },
        "userInfo": {"email": account.email, "userId": account.user_id},
        "overageConfiguration": {"overageStatus": "DISABLED"},
    }


async def get_usage_limits(request: web.Request) -> web.Response:
    state, account, failure = _authorized(request)
    if failure is not None or account is None:
        return failure or json_response(403, INVALID_TOKEN_BODY)
    return json_response(200, usage_limits_body(state, account))


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        return int(text.removeprefix("offset:")) if text.startswith("offset:") else None
    except ValueError:
        return None


async def list_available_models(request: web.Request) -> web.Response:
    state, account, failure = _authorized(request)
    if failure is not None or account is None:
        return failure or json_response(403, INVALID_TOKEN_BODY)
    try:
        requested = int(request.query.get("maxResults", "50"))
    except ValueError:
        requested = 50
    # The server pages by its own size even when asked for more (exercises pagination).
    size = max(1, min(requested, state.models_page_size))
    token = request.query.get("nextToken")
    offset = 0
    if token:
        decoded = _decode_token(token)
        if decoded is None:
            return json_response(400, {"message": "Invalid nextToken.", "reason": None})
        offset = decoded
    page = state.models[offset : offset + size]
    body: dict[str, Any] = {"models": page, "defaultModel": {"modelId": "auto"}}
    if offset + size < len(state.models):
        body["nextToken"] = _encode_token(offset + size)
    return json_response(200, body)


def add_usage_routes(app: web.Application) -> None:
    app.router.add_get("/getUsageLimits", get_usage_limits)
    app.router.add_get("/ListAvailableModels", list_available_models)
