"""Usage rows: batched inserts (one transaction per batch) and per-key counter updates."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import chain
from typing import Any

from sqlalchemy import case, func, insert, select, update

from kiro_proxy.pool.usage import UsageRow
from kiro_proxy.store.database import Database
from kiro_proxy.store.models import ApiKeyRow, UsageRecordRow

_USAGE_TABLE = UsageRecordRow.__table__
_COLUMNS = tuple(UsageRow.__dataclass_fields__)  # as_row's order: the table's column names
# SQLite statements carry 128, 64, …, 1 rows (15 columns: far below SQLite's 32,766 bound
# parameters per statement). A batch of any size is a few statements of those sizes, so there
# are only eight SQL texts and sqlite3's statement cache always hits: a statement sized to each
# batch was parsed afresh (thousands of placeholders) nearly every time.
_CHUNK_SIZES = (128, 64, 32, 16, 8, 4, 2, 1)
_as_row = UsageRow.as_row


@functools.cache
def _sqlite_insert(rows: int) -> str:
    one = "(" + ",".join("?" * len(_COLUMNS)) + ")"
    return f"INSERT INTO {_USAGE_TABLE.name} ({','.join(_COLUMNS)}) VALUES " + ",".join(
        [one] * rows
    )


def _chunks(count: int) -> list[tuple[int, int]]:
    """(start, size) pieces of `count` rows, each size one of _CHUNK_SIZES."""
    pieces: list[tuple[int, int]] = []
    start = 0
    for size in _CHUNK_SIZES:
        while count - start >= size:
            pieces.append((start, size))
            start += size
    return pieces


class UsageRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def insert_batch(self, rows: Sequence[UsageRow]) -> None:
        if not rows:
            return
        per_key: dict[str, list[float]] = {}
        for row in rows:
            if row.api_key_id:
                totals = per_key.setdefault(row.api_key_id, [0, 0, 0, 0.0, 0.0])
                totals[0] += 1
                totals[1] += max(0, row.input_tokens)
                totals[2] += max(0, row.output_tokens)
                totals[3] += max(0.0, row.credits)
                totals[4] = max(totals[4], row.created_at)
        # Core statements on a plain connection: an ORM bulk insert (a Session, per-row mapper
        # work) cost ~10x as much CPU per row as Core.
        async with self._db.write_lock, self._db.engine.begin() as connection:
            if self._db.dialect == "sqlite":
                # Multi-row VALUES statements, the pieces of one size in one executemany (one
                # hop to the driver's thread): a single-row statement would make sqlite3 release
                # and retake the GIL around every row, each a handoff against the busy loop.
                by_size: dict[int, list[tuple[object, ...]]] = {}
                for start, size in _chunks(len(rows)):
                    by_size.setdefault(size, []).append(
                        tuple(chain.from_iterable(map(_as_row, rows[start : start + size])))
                    )
                for size, pieces in by_size.items():
                    await connection.exec_driver_sql(
                        _sqlite_insert(size), pieces if len(pieces) > 1 else pieces[0]
                    )
            else:  # asyncpg pipelines an executemany of one prepared statement
                await connection.execute(insert(_USAGE_TABLE), [row.as_dict() for row in rows])
            for key_id, (count, inp, out, credits, last) in per_key.items():
                await connection.execute(
                    update(ApiKeyRow)
                    .where(ApiKeyRow.id == key_id)
                    .values(
                        request_count=ApiKeyRow.request_count + int(count),
                        input_tokens=ApiKeyRow.input_tokens + int(inp),
                        output_tokens=ApiKeyRow.output_tokens + int(out),
                        total_credits=ApiKeyRow.total_credits + credits,
                        # The latest use wins, whichever worker's batch lands last.
                        last_used_at=case(
                            (ApiKeyRow.last_used_at.is_(None), last),
                            (ApiKeyRow.last_used_at < last, last),
                            else_=ApiKeyRow.last_used_at,
                        ),
                    )
                )

    async def count(self) -> int:
        async with self._db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(UsageRecordRow)) or 0)

    async def recent(
        self, limit: int = 100, *, account_id: str | None = None
    ) -> list[dict[str, Any]]:
        query = select(UsageRecordRow).order_by(UsageRecordRow.id.desc()).limit(limit)
        if account_id is not None:
            query = query.where(UsageRecordRow.account_id == account_id)
        async with self._db.session() as session:
            rows = (await session.scalars(query)).all()
        return [
            {c.name: getattr(r, c.name) for c in UsageRecordRow.__table__.columns} for r in rows
        ]

    async def summary_since(self, since: float) -> dict[str, Any]:
        """Totals since a moment (for the admin panel's charts)."""
        query = select(
            func.count(),
            func.coalesce(func.sum(UsageRecordRow.input_tokens), 0),
            func.coalesce(func.sum(UsageRecordRow.output_tokens), 0),
            func.coalesce(func.sum(UsageRecordRow.credits), 0.0),
        ).where(UsageRecordRow.created_at >= since)
        async with self._db.session() as session:
            count, inp, out, credits = (await session.execute(query)).one()
        return {
            "requests": int(count),
            "inputTokens": int(inp),
            "outputTokens": int(out),
            "credits": float(credits),
        }
