"""The SQLite file holds encrypted secrets and the request log: it is created owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

from kiro_proxy.store.database import open_database
from kiro_proxy.store.settings_kv import SettingsRepository


async def test_sqlite_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "kiro-proxy.db"
    database = await open_database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.ping()
        files = [p for p in path.parent.iterdir() if p.name.startswith("kiro-proxy.db")]
        assert path in files
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await database.close()


async def test_existing_database_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "kiro-proxy.db"
    first = await open_database(f"sqlite+aiosqlite:///{path}")
    await SettingsRepository(first).set("marker", {"kept": True})
    await first.close()
    size = path.stat().st_size
    assert size > 0  # migrated schema
    second = await open_database(f"sqlite+aiosqlite:///{path}")
    try:
        # Opened again (migrations run again): the data written before is still there.
        assert await SettingsRepository(second).get("marker") == {"kept": True}
    finally:
        await second.close()
    assert path.stat().st_size >= size
