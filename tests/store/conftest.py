"""Database fixtures: every store test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL: a uniquely named database is created on the local server for the test session and
dropped afterwards; each test starts from an empty schema. An unreachable server FAILS the
PostgreSQL tests (CI starts the server), it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

ADMIN_URL = os.environ.get(
    "KIRO_PROXY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    name = f"kiro_proxy_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_URL} ({type(exc).__name__}: {exc}); start it "
            "(`pg_ctlcluster <version> main start`) or set KIRO_PROXY_TEST_POSTGRES_URL",
            pytrace=False,
        )
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _reset_schema(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'kiro-proxy.db'}"
    url = request.getfixturevalue("postgres_database")
    asyncio.run(_reset_schema(url))
    return url


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KIRO_PROXY_SECRET_KEY", raising=False)
    folder = tmp_path / "data"
    folder.mkdir()
    return folder
