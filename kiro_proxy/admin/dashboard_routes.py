"""Dashboard figures: totals, account states, and usage time series for the charts."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy import __version__
from kiro_proxy.admin.accounts_view import account_state
from kiro_proxy.admin.common import json_response, runtime_of, services_of
from kiro_proxy.admin.session import AdminSession, require_admin
from kiro_proxy.admin.usage_queries import OTHER, SeriesQuery, usage_series, usage_totals

router = APIRouter(prefix="/admin/api", dependencies=[Depends(require_admin)])
Admin = Annotated[AdminSession, Depends(require_admin)]


@router.get("/overview")
async def overview(request: Request) -> Response:
    services = services_of(request)
    runtime = services.runtime
    now = time.time()
    states: dict[str, int] = {}
    for account in runtime.pool.all():
        state = account_state(account, now)["state"]
        states[state] = states.get(state, 0) + 1
    stats = runtime.stats()
    last_day = await usage_totals(runtime.database, since=now - 86400)
    logged = await usage_totals(runtime.database)
    return json_response(
        {
            "version": __version__,
            "uptime": services.uptime(),
            "accounts": {"total": stats["accounts"], "available": stats["available"], **states},
            "totals": {
                "requests": stats["totalRequests"],
                "success": stats["successRequests"],
                "failed": stats["failedRequests"],
                "tokens": stats["totalTokens"],
                "credits": stats["totalCredits"],
            },
            "logged": logged,
            "lastDay": last_day,
            "pendingUsageRows": runtime.recorder.pending,
        }
    )


@router.get("/stats/series")
async def series(
    request: Request,
    bucket: Literal["hour", "day"] = "hour",
    by: Literal["model", "account", "none"] = "model",
    count: Annotated[int, Query(ge=1, le=400)] = 24,
    utc_offset_minutes: Annotated[int, Query(alias="utcOffset", ge=-14 * 60, le=14 * 60)] = 0,
) -> Response:
    runtime = runtime_of(request)
    data = await usage_series(
        runtime.database,
        SeriesQuery(
            bucket=bucket,
            group_by=by,
            count=count,
            utc_offset_seconds=utc_offset_minutes * 60,
            now=time.time(),
        ),
    )
    if by == "account":
        # Label account series with the account's email/nickname (the panel masks emails itself).
        for item in data["series"]:
            account = runtime.pool.get(item["key"])
            item["label"] = (
                account.email or account.nickname or item["key"][:8] if account else item["key"]
            )
            item["isEmail"] = bool(account and account.email)
    for item in data["series"]:
        item.setdefault("label", item["key"])
        if item["key"] == OTHER:
            item["label"] = "other"
    return json_response(data)
