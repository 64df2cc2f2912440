"""Read-only queries over the usage rows for the dashboard charts and the request log.

Buckets are computed in SQL with integer floor division on the unix time shifted by the
browser's UTC offset, so "per day" means the viewer's days and the same SQL runs on SQLite
and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import BigInteger, Select, case, cast, func, select

from kiro_proxy.store.database import Database
from kiro_proxy.store.models import UsageRecordRow

Bucket = Literal["hour", "day"]
GroupBy = Literal["model", "account", "none"]
BUCKET_SECONDS: dict[str, int] = {"hour": 3600, "day": 86400}
MAX_SERIES = 6  # the rest is summed into "other": more colours than that are unreadable
OTHER = "__other__"


@dataclass(slots=True, frozen=True)
class SeriesQuery:
    bucket: Bucket
    group_by: GroupBy
    count: int  # number of buckets, ending with the current one
    utc_offset_seconds: int  # viewer's offset east of UTC (e.g. +28800 for UTC+8)
    now: float


def bucket_starts(q: SeriesQuery) -> list[int]:
    """Unix times (UTC) at which each bucket starts, oldest first."""
    size = BUCKET_SECONDS[q.bucket]
    current = (int(q.now) + q.utc_offset_seconds) // size
    return [(current - i) * size - q.utc_offset_seconds for i in range(q.count - 1, -1, -1)]


async def usage_series(database: Database, q: SeriesQuery) -> dict[str, Any]:
    size = BUCKET_SECONDS[q.bucket]
    starts = bucket_starts(q)
    first = starts[0]
    index = {start: i for i, start in enumerate(starts)}
    row = UsageRecordRow
    shifted = cast(row.created_at, BigInteger) + q.utc_offset_seconds
    bucket_col = (shifted // size).label("bucket")
    key_col = (
        row.model if q.group_by == "model" else row.account_id if q.group_by == "account" else None
    )
    columns = [
        bucket_col,
        func.count().label("requests"),
        func.coalesce(func.sum(row.input_tokens + row.output_tokens), 0).label("tokens"),
        func.coalesce(func.sum(row.credits), 0.0).label("credits"),
    ]
    query: Select[Any]
    if key_col is not None:
        query = select(key_col.label("key"), *columns).group_by(key_col, bucket_col)
    else:
        query = select(*columns).group_by(bucket_col)
    query = query.where(row.created_at >= first)
    async with database.session() as session:
        result = (await session.execute(query)).mappings().all()

    per_key: dict[str, dict[str, list[float]]] = {}
    totals = {"requests": [0.0] * q.count, "tokens": [0.0] * q.count, "credits": [0.0] * q.count}
    for item in result:
        start = int(item["bucket"]) * size - q.utc_offset_seconds
        i = index.get(start)
        if i is None:
            continue
        key = str(item["key"]) if key_col is not None and item["key"] is not None else "none"
        series = per_key.setdefault(
            key,
            {"requests": [0.0] * q.count, "tokens": [0.0] * q.count, "credits": [0.0] * q.count},
        )
        for metric in ("requests", "tokens", "credits"):
            value = float(item[metric] or 0)
            series[metric][i] += value
            totals[metric][i] += value

    ranked = sorted(per_key, key=lambda k: -sum(per_key[k]["requests"]))
    keep, rest = ranked[:MAX_SERIES], ranked[MAX_SERIES:]
    series_out = [{"key": k, **per_key[k]} for k in keep]
    if rest:
        other = {m: [sum(per_key[k][m][i] for k in rest) for i in range(q.count)] for m in totals}
        series_out.append({"key": OTHER, **other})
    return {
        "bucket": q.bucket,
        "groupBy": q.group_by,
        "starts": starts,
        "series": series_out,
        "totals": totals,
    }


@dataclass(slots=True, frozen=True)
class LogFilter:
    account_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    status: str | None = None
    before_id: int | None = None
    limit: int = 50


def _row_dict(r: UsageRecordRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "createdAt": r.created_at,
        "requestId": r.request_id,
        "accountId": r.account_id,
        "apiKeyId": r.api_key_id,
        "route": r.route,
        "model": r.model,
        "stream": r.stream,
        "status": r.status,
        "inputTokens": r.input_tokens,
        "outputTokens": r.output_tokens,
        "credits": r.credits,
        "latencyMs": r.latency_ms,
        "firstTokenMs": r.first_token_ms,
        "errorKind": r.error_kind,
        "attempts": r.attempts,
    }


async def request_log(database: Database, f: LogFilter) -> list[dict[str, Any]]:
    row = UsageRecordRow
    query = select(row).order_by(row.id.desc()).limit(max(1, min(f.limit, 500)))
    if f.account_id:
        query = query.where(row.account_id == f.account_id)
    if f.api_key_id:
        query = query.where(row.api_key_id == f.api_key_id)
    if f.model:
        query = query.where(row.model == f.model)
    if f.status:
        query = query.where(row.status == f.status)
    if f.before_id is not None:
        query = query.where(row.id < f.before_id)
    async with database.session() as session:
        rows = (await session.scalars(query)).all()
    return [_row_dict(r) for r in rows]


async def request_by_id(database: Database, row_id: int) -> dict[str, Any] | None:
    async with database.session() as session:
        found = await session.get(UsageRecordRow, row_id)
    return _row_dict(found) if found is not None else None


async def distinct_models(database: Database, limit: int = 200) -> list[str]:
    query = select(UsageRecordRow.model).distinct().limit(limit)
    async with database.session() as session:
        return sorted(m for m in (await session.scalars(query)).all() if m)


async def usage_totals(database: Database, since: float = 0.0) -> dict[str, Any]:
    row = UsageRecordRow
    query = select(
        func.count(),
        func.coalesce(func.sum(case((row.status == "success", 1), else_=0)), 0),
        func.coalesce(func.sum(row.input_tokens + row.output_tokens), 0),
        func.coalesce(func.sum(row.credits), 0.0),
    ).where(row.created_at >= since)
    async with database.session() as session:
        count, ok, tokens, credits = (await session.execute(query)).one()
    return {
        "requests": int(count),
        "success": int(ok),
        "tokens": int(tokens),
        "credits": float(credits),
    }
