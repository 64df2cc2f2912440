"""The request log: recent usage rows with filters, and one row's details."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.admin.common import json_response, not_found, runtime_of
from kiro_proxy.admin.session import require_admin
from kiro_proxy.admin.usage_queries import LogFilter, distinct_models, request_by_id, request_log

router = APIRouter(prefix="/admin/api", dependencies=[Depends(require_admin)])


def _labels(request: Request) -> dict[str, str]:
    return {a.id: a.email or a.nickname or a.id[:8] for a in runtime_of(request).pool.all()}


@router.get("/requests")
async def list_requests(
    request: Request,
    account: str | None = None,
    key: str | None = None,
    model: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    runtime = runtime_of(request)
    await runtime.recorder.flush()  # the admin looking at the log wants the last request in it
    rows = await request_log(
        runtime.database,
        LogFilter(
            account_id=account or None,
            api_key_id=key or None,
            model=model or None,
            status=status or None,
            before_id=before,
            limit=limit,
        ),
    )
    labels = _labels(request)
    keys = {k["id"]: k["name"] for k in await runtime.api_keys.list_all()}
    for row in rows:
        row["accountLabel"] = labels.get(row["accountId"] or "", row["accountId"])
        row["apiKeyName"] = keys.get(row["apiKeyId"] or "", row["apiKeyId"])
    return json_response(
        {
            "requests": rows,
            "models": await distinct_models(runtime.database),
            "nextBefore": rows[-1]["id"] if len(rows) == limit else None,
        }
    )


@router.get("/requests/{row_id}")
async def request_details(request: Request, row_id: int) -> Response:
    runtime = runtime_of(request)
    row = await request_by_id(runtime.database, row_id)
    if row is None:
        raise not_found("request", str(row_id))
    row["accountLabel"] = _labels(request).get(row["accountId"] or "", row["accountId"])
    keys = {k["id"]: k["name"] for k in await runtime.api_keys.list_all()}
    row["apiKeyName"] = keys.get(row["apiKeyId"] or "", row["apiKeyId"])
    return json_response(row)
