"""Wrong admin passwords per client address, in the database: the login throttle then holds
across every worker process (N workers must not give a guesser N times the tries).

The rules (how long to wait after how many failures) live in admin/throttle.py; this module
only counts, under a lock, so that failures from several workers at once all count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from kiro_proxy.store.database import Database
from kiro_proxy.store.models import LoginFailureRow
from kiro_proxy.store.shared_state import write_transaction


@dataclass(slots=True, frozen=True)
class LoginFailures:
    failures: int
    blocked_until: float
    last_failure: float


class LoginFailureRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, address: str) -> LoginFailures | None:
        async with self._db.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(
                        LoginFailureRow.failures,
                        LoginFailureRow.blocked_until,
                        LoginFailureRow.last_failure,
                    ).where(LoginFailureRow.address == address)
                )
            ).first()
        if row is None:
            return None
        return LoginFailures(row.failures, row.blocked_until, row.last_failure)

    async def add_failure(
        self,
        address: str,
        *,
        now: float,
        forget_before: float,
        blocked_until: Callable[[int], float],
        max_addresses: int,
    ) -> LoginFailures:
        """Count one more failure for `address` (a record last touched before `forget_before`
        starts again from zero), set its block to `blocked_until(failures)`, drop records older
        than `forget_before` and the least recent beyond `max_addresses`."""
        async with write_transaction(self._db) as connection:
            await self._insert_if_missing(connection, address)
            row = (
                await connection.execute(
                    select(LoginFailureRow.failures, LoginFailureRow.last_failure)
                    .where(LoginFailureRow.address == address)
                    .with_for_update()
                )
            ).one()
            failures = (row.failures if row.last_failure >= forget_before else 0) + 1
            record = LoginFailures(failures, blocked_until(failures), now)
            await connection.execute(
                update(LoginFailureRow)
                .where(LoginFailureRow.address == address)
                .values(
                    failures=record.failures,
                    blocked_until=record.blocked_until,
                    last_failure=record.last_failure,
                )
            )
            await connection.execute(
                delete(LoginFailureRow).where(LoginFailureRow.last_failure < forget_before)
            )
            others = LoginFailureRow.address != address
            kept = (
                select(LoginFailureRow.address)
                .where(others)
                .order_by(LoginFailureRow.last_failure.desc(), LoginFailureRow.address)
                .limit(max(0, max_addresses - 1))
            )
            await connection.execute(
                delete(LoginFailureRow).where(others, LoginFailureRow.address.not_in(kept))
            )
        return record

    async def forget(self, address: str) -> None:
        async with write_transaction(self._db) as connection:
            await connection.execute(
                delete(LoginFailureRow).where(LoginFailureRow.address == address)
            )

    async def _insert_if_missing(self, connection: AsyncConnection, address: str) -> None:
        # PostgreSQL: FOR UPDATE locks nothing while the row does not exist, so two workers'
        # first failures would both insert; ON CONFLICT DO NOTHING makes the second a no-op.
        dialect = postgresql if self._db.dialect == "postgresql" else sqlite
        await connection.execute(
            dialect.insert(LoginFailureRow)
            .values(address=address, failures=0, blocked_until=0.0, last_failure=0.0)
            .on_conflict_do_nothing(index_elements=[LoginFailureRow.address])
        )
