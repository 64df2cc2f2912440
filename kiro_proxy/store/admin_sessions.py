"""Admin panel sessions in the database, so that every worker process knows every login.

Only the sha256 of the session cookie is stored (`key`), never the cookie value; the CSRF token
is stored as is (the panel reads it back on load, and alone it opens nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select

from kiro_proxy.store.database import Database
from kiro_proxy.store.models import AdminSessionRow
from kiro_proxy.store.shared_state import write_transaction


@dataclass(slots=True)
class AdminSession:
    key: str  # sha256 of the cookie value: the raw token is never kept server-side
    csrf_token: str
    created_at: float
    expires_at: float
    address: str


_COLUMNS = (
    AdminSessionRow.key,
    AdminSessionRow.csrf_token,
    AdminSessionRow.created_at,
    AdminSessionRow.expires_at,
    AdminSessionRow.address,
)


class AdminSessionRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, session: AdminSession, *, now: float, max_sessions: int) -> None:
        """Store a new session; drops expired ones, then the oldest beyond `max_sessions`."""
        async with write_transaction(self._db) as connection:
            await connection.execute(
                delete(AdminSessionRow).where(AdminSessionRow.expires_at <= now)
            )
            await connection.execute(
                insert(AdminSessionRow).values(
                    key=session.key,
                    csrf_token=session.csrf_token,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                    address=session.address,
                )
            )
            newest = (
                select(AdminSessionRow.key)
                .order_by(AdminSessionRow.created_at.desc(), AdminSessionRow.key)
                .limit(max_sessions)
            )
            await connection.execute(
                delete(AdminSessionRow).where(AdminSessionRow.key.not_in(newest))
            )

    async def get(self, key: str) -> AdminSession | None:
        async with self._db.engine.connect() as connection:
            row = (
                await connection.execute(select(*_COLUMNS).where(AdminSessionRow.key == key))
            ).first()
        if row is None:
            return None
        return AdminSession(
            key=row.key,
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            expires_at=row.expires_at,
            address=row.address,
        )

    async def delete(self, key: str) -> None:
        async with write_transaction(self._db) as connection:
            await connection.execute(delete(AdminSessionRow).where(AdminSessionRow.key == key))

    async def delete_all(self) -> None:
        async with write_transaction(self._db) as connection:
            await connection.execute(delete(AdminSessionRow))

    async def count_live(self, now: float) -> int:
        """Sessions not yet expired (expired rows are dropped first)."""
        async with write_transaction(self._db) as connection:
            await connection.execute(
                delete(AdminSessionRow).where(AdminSessionRow.expires_at <= now)
            )
            count = await connection.scalar(select(func.count()).select_from(AdminSessionRow))
        return int(count or 0)
