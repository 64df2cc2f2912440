"""Pool state shared by several worker processes through the database.

Each worker keeps its own in-memory pool, so the database is where they meet:
- counters are written as increments (`x = x + :delta`): absolute values from one worker would
  overwrite what the others counted (last writer wins);
- health marks (cooldown, quota park, disabled) are written when they change and read back by
  every worker every second or so;
- a token refresh runs under a lock on the account's row, so that two workers never spend the
  same rotating refresh token (the second would get invalid_grant and disable the account); a
  retry pause after a failed early refresh (pool/tokens.py) is kept beside it in settings_kv,
  read and written under the same lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from kiro_proxy.pool.account import TOKEN_FIELDS, Account
from kiro_proxy.pool.pool import SHARED_HEALTH, CounterDelta
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.database import Database
from kiro_proxy.store.models import AccountRow, SettingRow

# Health marks a worker writes when they change and every worker reads back.
SHARED_HEALTH_FIELDS = SHARED_HEALTH
COUNTER_FIELDS = (
    "request_count",
    "success_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "total_credits",
)
# Written together when a refresh ends (or is adopted): the rotated refresh token must never be
# lost, and a permanent refusal disables the account for every worker.
LOCKED_TOKEN_FIELDS = (*TOKEN_FIELDS, "machine_id", "enabled", "disabled_reason")
# SQLite's BEGIN IMMEDIATE waits busy_timeout (5 s) per try; a refresh in another worker may
# hold the lock a little longer than that on a slow network, so keep trying for this long.
_LOCK_WAIT_SECONDS = 60.0

_SHARED_COLUMNS = (
    AccountRow.id,
    *(getattr(AccountRow, name) for name in SHARED_HEALTH_FIELDS),
    *(getattr(AccountRow, name) for name in COUNTER_FIELDS),
    AccountRow.last_used_at,
    AccountRow.last_refresh_at,
)


@dataclass(slots=True, frozen=True)
class SharedAccountState:
    """One account's row as every worker should see it (no secrets)."""

    id: str
    values: dict[str, Any]  # SHARED_HEALTH_FIELDS + COUNTER_FIELDS + last_used_at
    last_refresh_at: float | None


def refresh_pause_key(account_id: str) -> str:
    """settings_kv key of an account's token-refresh retry pause (a unix time, JSON)."""
    return f"tokens.refresh_paused_until:{account_id}"


class TokenLease:
    """The stored account and its refresh retry pause, read under the row lock, and a way to
    write them back in the same transaction (so that the lock is released only once the new
    tokens are stored)."""

    def __init__(
        self,
        connection: AsyncConnection,
        repo: AccountRepository,
        stored: Account | None,
        refresh_paused_until: float | None,
    ) -> None:
        self._connection = connection
        self._repo = repo
        self.stored = stored
        self.refresh_paused_until = refresh_paused_until

    async def save(self, account: Account) -> None:
        values = self._repo._columns(account, LOCKED_TOKEN_FIELDS)
        values["updated_at"] = time.time()
        await self._connection.execute(
            update(AccountRow).where(AccountRow.id == account.id).values(**values)
        )

    async def pause_refresh(self, until: float | None) -> None:
        """Store the account's retry pause (None: clear it). Nothing for an account not stored."""
        if self.stored is None:
            return
        key = refresh_pause_key(self.stored.id)
        await self._connection.execute(delete(SettingRow).where(SettingRow.key == key))
        if until is not None:
            await self._connection.execute(
                SettingRow.__table__.insert().values(
                    key=key, value=orjson.dumps(until).decode(), updated_at=time.time()
                )
            )
        self.refresh_paused_until = until


class SharedStateRepository:
    def __init__(self, database: Database, accounts: AccountRepository) -> None:
        self._db = database
        self._accounts = accounts

    # --- counters and health ---------------------------------------------------------------

    async def add_counters(self, deltas: Mapping[str, CounterDelta]) -> None:
        """Add each account's counted requests/tokens/credits to its row."""
        if not deltas:
            return
        now = time.time()
        async with self._db.write_lock, self._db.session() as session, session.begin():
            for account_id, delta in deltas.items():
                last = delta.last_used_at
                await session.execute(
                    update(AccountRow)
                    .where(AccountRow.id == account_id)
                    .values(
                        request_count=AccountRow.request_count + delta.requests,
                        success_count=AccountRow.success_count + delta.successes,
                        error_count=AccountRow.error_count + delta.errors,
                        input_tokens=AccountRow.input_tokens + delta.input_tokens,
                        output_tokens=AccountRow.output_tokens + delta.output_tokens,
                        total_credits=AccountRow.total_credits + delta.credits,
                        # The latest use wins, whichever worker writes last.
                        last_used_at=case(
                            (AccountRow.last_used_at.is_(None), last),
                            (AccountRow.last_used_at < last, last),
                            else_=AccountRow.last_used_at,
                        ),
                        updated_at=now,
                    )
                )

    async def save_health(self, accounts: Iterable[Account]) -> None:
        await self._accounts.save_many(list(accounts), SHARED_HEALTH_FIELDS)

    async def read_all(self) -> list[SharedAccountState]:
        async with self._db.session() as session:
            rows = (await session.execute(select(*_SHARED_COLUMNS))).all()
        names = (*SHARED_HEALTH_FIELDS, *COUNTER_FIELDS, "last_used_at")
        return [
            SharedAccountState(
                id=row.id,
                values={name: getattr(row, name) for name in names},
                last_refresh_at=row.last_refresh_at,
            )
            for row in rows
        ]

    # --- global totals (settings_kv JSON, updated under the write lock) --------------------

    async def add_totals(self, key: str, deltas: Mapping[str, float]) -> dict[str, Any]:
        """Add `deltas` to the JSON object stored at `key`; returns the stored object after."""
        async with write_transaction(self._db) as connection:
            stored = await self._read_kv(connection, key, lock=True)
            exists = stored is not None
            totals: dict[str, Any] = dict(stored or {})
            for name, delta in deltas.items():
                if delta:
                    totals[name] = (totals.get(name) or 0) + delta
            encoded = orjson.dumps(totals).decode()
            if exists:
                await connection.execute(
                    update(SettingRow)
                    .where(SettingRow.key == key)
                    .values(value=encoded, updated_at=time.time())
                )
            else:
                await connection.execute(
                    SettingRow.__table__.insert().values(
                        key=key, value=encoded, updated_at=time.time()
                    )
                )
            return totals

    async def read_totals(self, key: str) -> dict[str, Any]:
        async with self._db.engine.connect() as connection:
            return dict(await self._read_kv(connection, key, lock=False) or {})

    @staticmethod
    async def _read_kv(connection: AsyncConnection, key: str, *, lock: bool) -> Any:
        query = select(SettingRow.value).where(SettingRow.key == key)
        if lock:
            query = query.with_for_update()
        value = await connection.scalar(query)
        return orjson.loads(value) if value is not None else None

    # --- token refresh lock ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock_tokens(self, account_id: str) -> AsyncIterator[TokenLease]:
        """Hold the account's row locked (PostgreSQL: SELECT … FOR UPDATE; SQLite: a
        BEGIN IMMEDIATE write transaction) and yield its stored tokens and retry pause. Leaving
        the block normally commits what the lease saved; an exception rolls it back."""
        async with write_transaction(self._db) as connection:
            row = (
                await connection.execute(
                    select(AccountRow).where(AccountRow.id == account_id).with_for_update()
                )
            ).first()
            stored = self._accounts.to_account(row) if row is not None else None  # type: ignore[arg-type]
            paused = None
            if stored is not None:  # the row lock guards the pause too: no FOR UPDATE here
                value = await self._read_kv(connection, refresh_pause_key(account_id), lock=False)
                paused = float(value) if isinstance(value, int | float) else None
            yield TokenLease(connection, self._accounts, stored, paused)


@contextlib.asynccontextmanager
async def write_transaction(database: Database) -> AsyncIterator[AsyncConnection]:
    """A transaction that may write, begun so that it holds the lock it needs: SQLite takes the
    database write lock at BEGIN IMMEDIATE (a deferred transaction that reads first could fail
    to upgrade later); PostgreSQL locks rows with the caller's FOR UPDATE. Commits when the
    block ends normally, rolls back on an exception."""
    sqlite = database.dialect == "sqlite"
    async with contextlib.AsyncExitStack() as stack:
        if sqlite:
            await stack.enter_async_context(database.write_lock)
        connection = await stack.enter_async_context(database.engine.connect())
        if sqlite:
            await _begin_immediate(connection)
        try:
            yield connection
        except BaseException:
            await connection.rollback()
            raise
        await connection.commit()


async def _begin_immediate(connection: AsyncConnection) -> None:
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        try:
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            await connection.rollback()
            await asyncio.sleep(0.05)
