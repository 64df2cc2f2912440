"""Migrations, encryption at rest and the repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from kiro_proxy.pool.account import HEALTH_FIELDS, Account
from kiro_proxy.pool.usage import UsageRow
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.api_keys import ApiKeyRepository
from kiro_proxy.store.crypto import ENV_KEY, SecretBox, SecretKeyError, load_or_create_key
from kiro_proxy.store.database import Database, async_database_url, open_database
from kiro_proxy.store.settings_kv import SettingsRepository
from kiro_proxy.store.usage import _CHUNK_SIZES, UsageRepository, _chunks

SECRET_REFRESH = "aorAAAAAG-secret-refresh-token-value"
SECRET_ACCESS = "aoaAAAAAG-secret-access-token-value"


def make_account(**fields: object) -> Account:
    values: dict[str, object] = {
        "id": "acct-1",
        "email": "a@example.com",
        "auth_method": "idc",
        "client_id": "client-id",
        "client_secret": "client-secret-value",
        "refresh_token": SECRET_REFRESH,
        "access_token": SECRET_ACCESS,
        "expires_at": 1_900_000_000.0,
        "proxy_url": "socks5://user:proxy-password@127.0.0.1:1080",
        "created_at": 1.0,
    }
    values.update(fields)
    return Account(**values)  # type: ignore[arg-type]


async def test_migrations_are_idempotent_and_wal_on_sqlite(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        await db.migrate()  # second run: nothing to do
        async with db.engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            assert version == "0002"
            if db.dialect == "sqlite":
                mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
                assert mode == "wal"
    finally:
        await db.close()


async def test_secrets_are_encrypted_at_rest(database_url: str, data_dir: Path) -> None:
    db = await open_database(database_url)
    try:
        repo = AccountRepository(db, SecretBox.for_data_dir(data_dir))
        await repo.insert(make_account())
        async with db.engine.connect() as conn:
            row = (await conn.execute(text("SELECT * FROM accounts"))).mappings().one()
        raw = " ".join(str(v) for v in row.values())
        for secret in (SECRET_REFRESH, SECRET_ACCESS, "client-secret-value", "proxy-password"):
            assert secret not in raw
        assert row["refresh_token_enc"].startswith("enc1:")
        loaded = await repo.get("acct-1")
        assert loaded is not None
        assert (loaded.refresh_token, loaded.access_token) == (SECRET_REFRESH, SECRET_ACCESS)
        assert loaded.proxy_url == "socks5://user:proxy-password@127.0.0.1:1080"
        assert loaded.client_secret == "client-secret-value"
    finally:
        await db.close()


async def test_account_round_trip_and_partial_saves(database_url: str, data_dir: Path) -> None:
    db = await open_database(database_url)
    try:
        repo = AccountRepository(db, SecretBox.for_data_dir(data_dir))
        account = make_account()
        await repo.insert(account)
        account.cooldown_until = 123.5
        account.request_count = 7
        account.input_tokens = 2**40  # BigInteger
        account.email = "not-saved@example.com"  # not a health field
        await repo.save_many([account], HEALTH_FIELDS)
        loaded = await repo.get(account.id)
        assert loaded is not None
        assert (loaded.cooldown_until, loaded.request_count, loaded.input_tokens) == (
            123.5,
            7,
            2**40,
        )
        assert loaded.email == "a@example.com"
        assert [a.id for a in await repo.list_all()] == ["acct-1"]
        assert await repo.delete("acct-1") and await repo.list_all() == []
    finally:
        await db.close()


async def test_usage_batches_and_api_key_counters(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        keys = ApiKeyRepository(db)
        key_id, key = await keys.create("ci")
        assert key.startswith("sk-kp-") and await keys.find_active(key) == key_id
        assert await keys.find_active(key + "x") is None
        usage = UsageRepository(db)
        rows = [
            UsageRow(
                created_at=1000.0 + i,
                request_id=f"r{i}",
                account_id="acct-1",
                api_key_id=key_id if i % 2 else None,
                route="/v1/messages",
                model="claude-sonnet-4.5",
                stream=True,
                status="success",
                input_tokens=10,
                output_tokens=5,
                credits=0.5,
                latency_ms=100,
                first_token_ms=20,
                error_kind=None,
            )
            for i in range(10)
        ]
        await usage.insert_batch(rows)
        assert await usage.count() == 10
        assert (await usage.summary_since(1005.0))["requests"] == 5
        assert await usage.summary_since(1005.0) == {
            "requests": 5,
            "inputTokens": 50,
            "outputTokens": 25,
            "credits": pytest.approx(2.5),
        }
        listed = {k["id"]: k for k in await keys.list_all()}
        assert listed[key_id]["request_count"] == 5 and listed[key_id]["input_tokens"] == 50
        # Every counter of the key, from its rows only (the odd ones), and the latest use.
        assert (listed[key_id]["output_tokens"], listed[key_id]["last_used_at"]) == (25, 1009.0)
        assert listed[key_id]["total_credits"] == pytest.approx(2.5)
        assert "key_hash" not in listed[key_id]
        # A batch from another worker that lands later but holds older rows never moves the
        # key's last use backwards.
        older = dataclasses.replace(rows[1], request_id="late", created_at=900.0)
        await usage.insert_batch([older])
        listed = {k["id"]: k for k in await keys.list_all()}
        assert listed[key_id]["last_used_at"] == 1009.0
        assert listed[key_id]["request_count"] == 6
        assert await keys.revoke(key_id) and await keys.find_active(key) is None
    finally:
        await db.close()


async def test_usage_rows_read_back_field_for_field(database_url: str) -> None:
    """The batch insert stores every field as given: nulls, booleans, floats (a real
    time.time() value keeps every digit), text with quotes, backslashes and non-ASCII, and
    rows of one batch with different null fields."""
    db = await open_database(database_url)
    try:
        usage = UsageRepository(db)
        rows = [
            UsageRow(
                created_at=1764045339.1234567 + i,
                request_id=f"req-{i}",
                account_id=None if i == 1 else f"acct-{i}",
                api_key_id=None,
                route="/v1/chat/completions" if i % 2 else "/v1/messages",
                model=["claude-haiku-4.5", 'mod"el\\ \u00e9\u6a21\u578b', "[0]"][i],
                stream=bool(i % 2),
                status=["success", "error", "cancelled"][i],
                input_tokens=100 + i,
                output_tokens=i,
                credits=0.125 * i,
                latency_ms=900 + i,
                first_token_ms=None if i == 2 else 40 + i,
                error_kind="throttled" if i == 1 else None,
                attempts=1 + i,
            )
            for i in range(3)
        ]
        await usage.insert_batch(rows)
        await usage.insert_batch([])  # nothing to write is not an error
        stored = sorted(await usage.recent(10), key=lambda r: r["id"])
        assert [{k: v for k, v in r.items() if k != "id"} for r in stored] == [
            row.as_dict() for row in rows
        ]
        assert len({r["id"] for r in stored}) == 3
    finally:
        await db.close()


async def test_a_large_usage_batch_is_stored_whole(database_url: str) -> None:
    """A batch of hundreds of rows lands whole, each row once."""
    db = await open_database(database_url)
    try:
        usage = UsageRepository(db)
        base = UsageRow(
            created_at=3000.0,
            request_id="big",
            account_id="acct",
            api_key_id=None,
            route="/v1/messages",
            model="m",
            stream=False,
            status="success",
            input_tokens=1,
            output_tokens=2,
            credits=0.0,
            latency_ms=3,
            first_token_ms=None,
            error_kind=None,
        )
        rows = [dataclasses.replace(base, request_id=f"big-{i}") for i in range(451)]
        await usage.insert_batch(rows)
        assert await usage.count() == 451
        stored = await usage.recent(1000)
        assert sorted(r["request_id"] for r in stored) == sorted(r.request_id for r in rows)
    finally:
        await db.close()


async def test_settings_kv(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        kv = SettingsRepository(db)
        assert await kv.get("missing", 5) == 5
        await kv.set_many({"a": {"x": [1, 2]}, "b": "text"})
        await kv.set("a", 3)
        assert await kv.all() == {"a": 3, "b": "text"}
    finally:
        await db.close()


def test_key_file_is_created_once_with_mode_0600(data_dir: Path) -> None:
    first = load_or_create_key(data_dir)
    mode = stat.S_IMODE(os.stat(data_dir / "secret.key").st_mode)
    assert mode == 0o600
    assert load_or_create_key(data_dir) == first


def test_key_from_environment_and_wrong_key_error(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEY, "a passphrase, not a fernet key")
    box = SecretBox(load_or_create_key(data_dir))
    assert not (data_dir / "secret.key").exists()
    stored = box.encrypt("secret")
    assert box.decrypt(stored) == "secret"
    monkeypatch.setenv(ENV_KEY, "another passphrase")
    with pytest.raises(SecretKeyError) as info:
        SecretBox(load_or_create_key(data_dir)).decrypt(stored)
    assert "secret" not in str(info.value).replace("secret.key", "").replace("secrets", "")


def test_database_url_normalisation() -> None:
    assert async_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert async_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert async_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert Database("sqlite+aiosqlite:///:memory:").dialect == "sqlite"


@given(st.integers(min_value=0, max_value=5000))
def test_usage_batches_split_into_a_few_fixed_statement_sizes(count: int) -> None:
    """Every row once, in order, in pieces of the few sizes whose SQL sqlite3 keeps cached."""
    pieces = _chunks(count)
    covered = 0
    for start, size in pieces:
        assert start == covered
        covered += size
    assert covered == count
    assert {size for _, size in pieces} <= set(_CHUNK_SIZES)
    assert len(pieces) <= count // _CHUNK_SIZES[0] + len(_CHUNK_SIZES)
