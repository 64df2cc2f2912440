"""Client API keys: stored as SHA-256 hashes (keys are 256-bit random, so a fast hash is safe),
shown in full only once at creation."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Any

from sqlalchemy import select, update

from kiro_proxy.store.database import Database
from kiro_proxy.store.models import ApiKeyRow

KEY_PREFIX = "sk-kp-"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, name: str) -> tuple[str, str]:
        """Returns (id, the plaintext key): the key is not recoverable later."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = uuid.uuid4().hex
        row = ApiKeyRow(
            id=key_id,
            name=name,
            key_hash=hash_api_key(key),
            prefix=key[: len(KEY_PREFIX) + 4],
            created_at=time.time(),
            request_count=0,
            input_tokens=0,
            output_tokens=0,
            total_credits=0.0,
        )
        async with self._db.write_lock, self._db.session() as session, session.begin():
            session.add(row)
        return key_id, key

    async def find_active(self, key: str) -> str | None:
        """The id of a non-revoked key matching `key`, else None."""
        digest = hash_api_key(key)
        async with self._db.session() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
        if row is None or row.revoked_at is not None:
            return None
        return row.id

    async def revoke(self, key_id: str) -> bool:
        async with self._db.write_lock, self._db.session() as session, session.begin():
            result = await session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            return bool(result.rowcount)

    async def list_all(self) -> list[dict[str, Any]]:
        async with self._db.session() as session:
            rows = (await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))).all()
        return [
            {
                c.name: getattr(r, c.name)
                for c in ApiKeyRow.__table__.columns
                if c.name != "key_hash"
            }
            for r in rows
        ]
