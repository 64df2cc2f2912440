"""Account rows ↔ pool `Account` objects, with secrets encrypted on the way in."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import fields as dataclass_fields
from typing import Any

from sqlalchemy import delete, select, update

from kiro_proxy.pool.account import Account
from kiro_proxy.store.crypto import SecretBox
from kiro_proxy.store.database import Database
from kiro_proxy.store.models import AccountRow

# Account attribute → encrypted column.
SECRET_COLUMNS = {
    "client_secret": "client_secret_enc",
    "refresh_token": "refresh_token_enc",
    "access_token": "access_token_enc",
    "proxy_url": "proxy_url_enc",  # may carry proxy credentials (user:pass@host)
}
_NOT_STORED = {"in_flight"}
_PLAIN_FIELDS = tuple(
    f.name
    for f in dataclass_fields(Account)
    if f.name not in SECRET_COLUMNS and f.name not in _NOT_STORED
)


class AccountRepository:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box

    def _columns(self, account: Account, names: Iterable[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in names:
            value = getattr(account, name)
            if name in SECRET_COLUMNS:
                values[SECRET_COLUMNS[name]] = self._box.encrypt(value)
            elif name not in _NOT_STORED:
                values[name] = value
        return values

    def to_account(self, row: AccountRow) -> Account:
        values = {name: getattr(row, name) for name in _PLAIN_FIELDS}
        for name, column in SECRET_COLUMNS.items():
            values[name] = self._box.decrypt(getattr(row, column))
        return Account(**values)

    async def list_all(self) -> list[Account]:
        async with self._db.session() as session:
            rows = (await session.scalars(select(AccountRow).order_by(AccountRow.created_at))).all()
            return [self.to_account(row) for row in rows]

    async def get(self, account_id: str) -> Account | None:
        async with self._db.session() as session:
            row = await session.get(AccountRow, account_id)
            return self.to_account(row) if row is not None else None

    async def sources(self) -> set[str]:
        async with self._db.session() as session:
            found = await session.scalars(
                select(AccountRow.source).where(AccountRow.source.is_not(None))
            )
            return {s for s in found.all() if s}

    async def insert(self, account: Account, *, source: str | None = None) -> None:
        if not account.created_at:
            account.created_at = time.time()
        values = self._columns(account, _PLAIN_FIELDS + tuple(SECRET_COLUMNS))
        values.update(source=source, updated_at=time.time())
        async with self._db.write_lock, self._db.session() as session, session.begin():
            session.add(AccountRow(**values))

    async def save(self, account: Account, names: Iterable[str]) -> None:
        """Write the named attributes of one account."""
        await self.save_many([account], names)

    async def save_many(self, accounts: Sequence[Account], names: Iterable[str]) -> None:
        if not accounts:
            return
        names = tuple(names)
        now = time.time()
        async with self._db.write_lock, self._db.session() as session, session.begin():
            for account in accounts:
                values = self._columns(account, names)
                values["updated_at"] = now
                await session.execute(
                    update(AccountRow).where(AccountRow.id == account.id).values(**values)
                )

    async def delete(self, account_id: str) -> bool:
        async with self._db.write_lock, self._db.session() as session, session.begin():
            result = await session.execute(delete(AccountRow).where(AccountRow.id == account_id))
            return bool(result.rowcount)
