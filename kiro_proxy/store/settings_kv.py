"""The settings key-value table: JSON values by key (run-time settings, small runtime state)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import select

from kiro_proxy.store.database import Database
from kiro_proxy.store.models import SettingRow


class SettingsRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, key: str, default: Any = None) -> Any:
        async with self._db.session() as session:
            row = await session.get(SettingRow, key)
        return orjson.loads(row.value) if row is not None else default

    async def all(self) -> dict[str, Any]:
        async with self._db.session() as session:
            rows = (await session.scalars(select(SettingRow))).all()
        return {row.key: orjson.loads(row.value) for row in rows}

    async def set(self, key: str, value: Any) -> None:
        await self.set_many({key: value})

    async def set_many(self, values: dict[str, Any]) -> None:
        now = time.time()
        async with self._db.write_lock, self._db.session() as session, session.begin():
            for key, value in values.items():
                encoded = orjson.dumps(value).decode()
                row = await session.get(SettingRow, key)
                if row is None:
                    session.add(SettingRow(key=key, value=encoded, updated_at=now))
                elif row.value != encoded:
                    row.value = encoded
                    row.updated_at = now
