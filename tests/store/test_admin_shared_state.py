"""Admin state every worker process shares through the database, on SQLite and PostgreSQL:
sessions (only the token's hash stored, 72 h lifetime, cap, logout), the login throttle (the
same rules, counted across workers) and settings changed through another worker.

Two AdminAuth objects on one database stand for two worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from kiro_proxy.admin import session as session_module
from kiro_proxy.admin.passwords import hash_password
from kiro_proxy.admin.session import (
    MAX_SESSIONS,
    SESSION_CACHE_SECONDS,
    SESSION_LIFETIME_SECONDS,
    AdminAuth,
    ConfigFilePasswordStore,
    LoginThrottled,
    WrongPassword,
)
from kiro_proxy.admin.settings_sync import SettingsSync
from kiro_proxy.admin.throttle import (
    FREE_FAILURES,
    MAX_DELAY_SECONDS,
    MAX_TRACKED_ADDRESSES,
    LoginThrottle,
)
from kiro_proxy.config_file import ConfigFile
from kiro_proxy.settings import ConfigError, Settings
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.admin_sessions import AdminSession, AdminSessionRepository
from kiro_proxy.store.crypto import SecretBox
from kiro_proxy.store.database import Database, open_database
from kiro_proxy.store.login_failures import LoginFailureRepository
from kiro_proxy.store.shared_state import SharedStateRepository

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def config(tmp_path: Path) -> ConfigFile:
    config = ConfigFile(tmp_path / "config.json")
    config.ensure()
    data = config.read()
    data["password"] = hash_password(PASSWORD, n=2**10)
    config.write(data)
    return config


class Worker:
    """One worker process's admin state: its own AdminAuth (and session cache) on the database."""

    def __init__(
        self, database: Database, config: ConfigFile, clock: Clock, monotonic: Clock
    ) -> None:
        self.auth = AdminAuth(
            ConfigFilePasswordStore(config),
            clock=clock,
            monotonic=monotonic,
            announce=lambda _message: None,
        )
        self.auth.attach(database)


@pytest.fixture
def clocks() -> tuple[Clock, Clock]:
    return Clock(), Clock(100.0)


@pytest.fixture
def workers(
    database: Database, config: ConfigFile, clocks: tuple[Clock, Clock]
) -> tuple[Worker, Worker]:
    clock, monotonic = clocks
    return Worker(database, config, clock, monotonic), Worker(database, config, clock, monotonic)


# --- sessions ------------------------------------------------------------------------------


async def test_a_login_in_one_worker_holds_in_the_other_and_only_a_hash_is_stored(
    workers: tuple[Worker, Worker], database: Database
) -> None:
    first, second = workers
    session, token = await first.auth.login(PASSWORD, "10.0.0.1")
    seen = await second.auth.session_for(token)
    assert seen is not None and seen.csrf_token == session.csrf_token
    assert seen.expires_at == session.created_at + SESSION_LIFETIME_SECONDS
    async with database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM admin_sessions"))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert len(rows) == 1 and token not in stored and session.key in stored
    assert await second.auth.session_for("not-a-session-token") is None
    assert await second.auth.session_for(None) is None


async def test_logout_in_one_worker_is_honoured_by_the_other_after_its_cache_second(
    workers: tuple[Worker, Worker], clocks: tuple[Clock, Clock]
) -> None:
    first, second = workers
    _, monotonic = clocks
    session, token = await first.auth.login(PASSWORD, "10.0.0.1")
    assert await second.auth.session_for(token) is not None  # now cached in the second
    await first.auth.logout(session)
    assert await first.auth.session_for(token) is None
    monotonic.now += SESSION_CACHE_SECONDS
    assert await second.auth.session_for(token) is None


async def test_sessions_expire_after_72_hours_for_every_worker(
    workers: tuple[Worker, Worker], clocks: tuple[Clock, Clock]
) -> None:
    first, second = workers
    clock, _ = clocks
    _, token = await first.auth.login(PASSWORD, "10.0.0.1")
    clock.now += SESSION_LIFETIME_SECONDS - 1
    assert await second.auth.session_for(token) is not None
    clock.now += 1
    assert await second.auth.session_for(token) is None  # even though it was cached
    assert await first.auth.session_for(token) is None
    assert await first.auth.session_count() == 0


async def test_session_store_purges_expired_rows_and_caps_the_count(database: Database) -> None:
    repo = AdminSessionRepository(database)

    def session(key: str, created: float) -> AdminSession:
        return AdminSession(key, "csrf-" + key, created, created + 100.0, "10.0.0.1")

    await repo.add(session("old", 0.0), now=0.0, max_sessions=3)
    for index in range(4):
        await repo.add(session(f"s{index}", 50.0 + index), now=50.0 + index, max_sessions=3)
    # The cap keeps the newest three; "old" went first.
    assert [await repo.get(k) is not None for k in ("old", "s0", "s1", "s2", "s3")] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert await repo.count_live(now=60.0) == 3
    # Past their lifetime rows are dropped at the next login or count.
    await repo.add(session("late", 152.5), now=152.5, max_sessions=3)
    assert await repo.count_live(now=152.5) == 2  # s3 (expires 153) and late
    await repo.delete_all()
    assert await repo.count_live(now=152.5) == 0
    assert MAX_SESSIONS == 1000


async def test_logins_beyond_max_sessions_end_the_oldest_for_every_worker(
    workers: tuple[Worker, Worker], clocks: tuple[Clock, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AdminAuth applies MAX_SESSIONS (the repository test above gives its cap explicitly)."""
    monkeypatch.setattr(session_module, "MAX_SESSIONS", 2)
    first, second = workers
    clock, _ = clocks
    tokens = []
    for index in range(3):
        clock.now += 1
        _, token = await first.auth.login(PASSWORD, f"10.0.0.{index}")
        tokens.append(token)
    assert [await second.auth.session_for(token) is not None for token in tokens] == [
        False,
        True,
        True,
    ]
    assert await first.auth.session_count() == 2


async def test_a_password_change_in_one_worker_ends_sessions_and_the_old_password_everywhere(
    workers: tuple[Worker, Worker], clocks: tuple[Clock, Clock]
) -> None:
    first, second = workers
    _, monotonic = clocks
    session, _ = await first.auth.login(PASSWORD, "10.0.0.1")
    _, other_token = await second.auth.login(PASSWORD, "10.0.0.2")
    assert await second.auth.session_for(other_token) is not None
    _, new_token = await first.auth.change_password(session, PASSWORD, "brand-new-pass-123")
    monotonic.now += SESSION_CACHE_SECONDS
    assert await second.auth.session_for(other_token) is None
    assert await second.auth.session_for(new_token) is not None
    with pytest.raises(WrongPassword):
        await second.auth.login(PASSWORD, "10.0.0.3")
    await second.auth.login("brand-new-pass-123", "10.0.0.3")


# --- login throttle ------------------------------------------------------------------------


async def test_waits_double_then_cap(database: Database) -> None:
    throttle = LoginThrottle(database, clock=Clock())
    waits = [await throttle.failure("a") for _ in range(FREE_FAILURES + 12)]
    assert waits[:FREE_FAILURES] == [0] * FREE_FAILURES
    growing = waits[FREE_FAILURES:]
    assert growing[:4] == [2, 4, 8, 16]
    assert max(growing) == MAX_DELAY_SECONDS
    assert await throttle.retry_after("a") == MAX_DELAY_SECONDS
    # Other addresses are not affected.
    assert await throttle.retry_after("b") == 0


async def test_a_day_without_failures_forgets_and_success_resets(database: Database) -> None:
    clock = Clock()
    throttle = LoginThrottle(database, clock=clock)
    for _ in range(FREE_FAILURES + 2):
        await throttle.failure("a")
    assert await throttle.retry_after("a") > 0
    clock.now += 25 * 3600
    assert await throttle.retry_after("a") == 0 and await throttle.failures("a") == 0
    # The next failure starts the count again (one free typo, not a long wait).
    assert await throttle.failure("a") == 0 and await throttle.failures("a") == 1
    await throttle.success("a")
    assert await throttle.failures("a") == 0


async def test_tracked_addresses_are_bounded_least_recent_first(database: Database) -> None:
    clock = Clock()
    throttle = LoginThrottle(database, clock=clock, max_addresses=5)
    for index in range(8):
        clock.now += 1
        await throttle.failure(f"10.0.0.{index}")
    kept = [await throttle.failures(f"10.0.0.{index}") for index in range(8)]
    assert kept == [0, 0, 0, 1, 1, 1, 1, 1]
    # With equal times the address just counted is never the one dropped.
    for index in range(8, 12):
        await throttle.failure(f"10.0.0.{index}")
        assert await throttle.failures(f"10.0.0.{index}") == 1
    assert MAX_TRACKED_ADDRESSES == 10_000
    repo = LoginFailureRepository(database)
    assert await repo.get("10.0.0.11") is not None


async def test_wrong_passwords_count_across_workers(workers: tuple[Worker, Worker]) -> None:
    first, second = workers
    for index in range(FREE_FAILURES):
        worker = workers[index % 2]
        with pytest.raises(WrongPassword) as wrong:
            await worker.auth.login(f"guess-{index}", "10.9.9.9")
        assert wrong.value.retry_after == 0
    with pytest.raises(WrongPassword) as wrong:
        await second.auth.login("guess-x", "10.9.9.9")
    assert wrong.value.retry_after == 2
    with pytest.raises(LoginThrottled):  # even the right password, in the other worker
        await first.auth.login(PASSWORD, "10.9.9.9")
    # Another address is not held up.
    await first.auth.login(PASSWORD, "10.9.9.10")


async def test_concurrent_failures_from_two_workers_all_count(
    workers: tuple[Worker, Worker],
) -> None:
    throttles = [worker.auth.throttle for worker in workers]
    await asyncio.gather(*(throttles[i % 2].failure("10.7.7.7") for i in range(10)))
    assert await throttles[0].failures("10.7.7.7") == 10


# --- settings ------------------------------------------------------------------------------


async def test_a_settings_change_in_one_worker_reaches_the_other(
    database: Database, config: ConfigFile, tmp_path: Path
) -> None:
    box = SecretBox.for_data_dir(tmp_path)
    shared = SharedStateRepository(database, AccountRepository(database, box))
    answering = Settings(config_path=config.path)
    other = Settings(config_path=config.path)
    other_config = ConfigFile(config.path)  # each worker has its own ConfigFile object
    pushed: list[frozenset[str]] = []
    other_config.subscribe(lambda _settings, names: pushed.append(names))
    here, there = (
        SettingsSync(shared, config, answering),
        SettingsSync(shared, other_config, other),
    )
    await here.start()
    await there.start()
    assert await there.check() == frozenset()

    update = config.update(answering, {"pool_strategy": "least-used", "thinking_suffix": "-t"})
    await here.announce(update.changed)
    assert other.pool_strategy != "least-used"
    assert await there.check() == {"pool_strategy", "thinking_suffix"}
    assert (other.pool_strategy, other.thinking_suffix) == ("least-used", "-t")
    assert pushed == [frozenset({"pool_strategy", "thinking_suffix"})]
    # The answering worker re-reads its own change and finds nothing new; nothing repeats.
    assert await here.check() == frozenset()
    assert await there.check() == frozenset()

    # Only the announced names are re-read: a value an environment variable fixed at this start
    # (here: set on the live object only) stays until the panel changes that very setting.
    other.thinking_suffix = "-from-env"
    update = config.update(answering, {"model_aliases": {"gpt-4o": "claude-sonnet-4.5"}})
    await here.announce(update.changed)
    assert await there.check() == {"model_aliases"}
    assert other.model_aliases == {"gpt-4o": "claude-sonnet-4.5"}
    assert other.thinking_suffix == "-from-env"
    stored = orjson.loads(config.path.read_bytes())
    assert stored["modelAliases"] == {"gpt-4o": "claude-sonnet-4.5"}


async def test_a_bad_value_in_the_file_is_reported_once_and_changes_nothing(
    database: Database, config: ConfigFile, tmp_path: Path
) -> None:
    shared = SharedStateRepository(
        database, AccountRepository(database, SecretBox.for_data_dir(tmp_path))
    )
    other = Settings(config_path=config.path)
    sync = SettingsSync(shared, ConfigFile(config.path), other)
    announcer = SettingsSync(shared, config, Settings(config_path=config.path))
    await sync.start()
    data = config.read()
    data["poolStrategy"] = "no-such-strategy"  # a hand edit gone wrong
    config.write(data)
    await announcer.announce(["pool_strategy"])
    with pytest.raises(ConfigError, match="pool_strategy"):
        await sync.check()
    assert other.pool_strategy == "round-robin"
    assert await sync.check() == frozenset()  # not raised again every second
