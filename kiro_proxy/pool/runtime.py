"""The pool runtime: database, pool, token manager, dispatcher, usage writer and background
jobs, built once at start-up by `create_runtime` and closed with `close` (which flushes)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import asdict, replace
from typing import Any

from kiro_proxy import __version__
from kiro_proxy.pool.account import LIMITS_FIELDS, Account
from kiro_proxy.pool.dispatcher import Dispatcher
from kiro_proxy.pool.jobs import BackgroundJobs, JobIntervals
from kiro_proxy.pool.limits import apply_usage_limits
from kiro_proxy.pool.models_cache import ModelCatalog
from kiro_proxy.pool.pool import AccountPool
from kiro_proxy.pool.state_sync import SharedStateSync, totals_to_json
from kiro_proxy.pool.tokens import RefreshFailed, TokenManager
from kiro_proxy.pool.usage import UsageRecorder
from kiro_proxy.settings import Settings
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.api_keys import ApiKeyRepository, hash_api_key
from kiro_proxy.store.crypto import SecretBox
from kiro_proxy.store.database import Database, open_database
from kiro_proxy.store.import_kiro_go import import_kiro_go_config
from kiro_proxy.store.settings_kv import SettingsRepository
from kiro_proxy.store.shared_state import SharedStateRepository
from kiro_proxy.store.usage import UsageRepository

log = logging.getLogger(__name__)

_API_KEY_CACHE_SECONDS = 30.0
# Wrong keys are cached too (no database query per guess), so the cache must be bounded: a
# client sending random keys would otherwise grow it forever.
_API_KEY_CACHE_MAX = 1024
# Fields an admin may change on an account.
EDITABLE_FIELDS = frozenset(
    {
        "email", "nickname", "auth_method", "provider", "region", "start_url", "client_id",
        "client_secret", "refresh_token", "access_token", "expires_at", "profile_arn",
        "machine_id", "enabled", "disabled_reason", "weight", "proxy_url",
        "cooldown_until", "quota_exhausted_until", "consecutive_failures",
    }
)  # fmt: skip


class PoolRuntime:
    def __init__(
        self,
        settings: Settings,
        client: Any,
        database: Database,
        box: SecretBox,
        *,
        intervals: JobIntervals | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.database = database
        self.accounts = AccountRepository(database, box)
        self.usage = UsageRepository(database)
        self.api_keys = ApiKeyRepository(database)
        self.kv = SettingsRepository(database)
        self.shared = SharedStateRepository(database, self.accounts)
        self.pool = AccountPool(settings.pool_strategy)
        self.catalog = ModelCatalog()
        self.tokens = TokenManager(
            client,
            self.pool,
            global_proxy_url=settings.proxy_url,
            locks=self.shared,  # one refresh per account across worker processes
        )
        self.recorder = UsageRecorder(self.usage.insert_batch)
        self.sync = SharedStateSync(self.pool, self.recorder, self.accounts, self.shared)
        self.dispatcher = Dispatcher(
            client,
            self.pool,
            self.tokens,
            self.recorder,
            max_attempts=settings.max_attempts,
            preferred_endpoint=settings.preferred_endpoint,
            on_quota_exhausted=self._limits_after_quota,
        )
        self.intervals = intervals or JobIntervals()
        self.jobs = BackgroundJobs()
        self.started_at = time.time()
        self._key_cache: dict[str, tuple[str | None, float]] = {}
        self._closed = False

    # --- start-up ---------------------------------------------------------------------------

    async def start(self) -> None:
        report = await import_kiro_go_config(self.settings.config_path, self.accounts, self.kv)
        if report.added:
            log.info("config.json: imported %s", ", ".join(report.added))
        if report.added:
            await self.sync.accounts_changed()
        await self.sync.load()
        self.recorder.start()
        iv = self.intervals
        # Flush this worker's changes and read the other workers' (health, counters, tokens).
        self.jobs.every("state-sync", iv.state_flush, self.sync.sync)
        self.jobs.every(
            "token-refresh",
            iv.token_refresh,
            lambda: self.tokens.refresh_expiring(horizon_seconds=iv.token_horizon),
            first=0.0,
        )
        self.jobs.every("usage-limits", iv.limits, self.refresh_all_limits, first=iv.limits_first)
        self.jobs.every("models", iv.models, self.refresh_models, first=iv.models_first)

    # --- what the API layer reads -----------------------------------------------------------

    def models(self) -> list[str]:
        return self.catalog.ids()

    def available_accounts(self) -> int:
        return len(self.pool.usable())

    def stats(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "accounts": len(self.pool),
            "available": self.available_accounts(),
            **totals_to_json(self.recorder.totals),
            "uptime": int(time.time() - self.started_at),
        }

    async def ping_database(self) -> None:
        await self.database.ping()

    async def verify_api_key(self, key: str) -> str | None:
        """The id of an active stored API key, else None (results cached briefly)."""
        digest = hash_api_key(key)
        cached = self._key_cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        key_id = await self.api_keys.find_active(key)
        if len(self._key_cache) >= _API_KEY_CACHE_MAX:
            self._key_cache.clear()
        self._key_cache[digest] = (key_id, time.monotonic() + _API_KEY_CACHE_SECONDS)
        return key_id

    async def create_api_key(self, name: str) -> tuple[str, str]:
        return await self.api_keys.create(name)

    async def revoke_api_key(self, key_id: str) -> bool:
        self._key_cache.clear()  # revocation takes effect at once
        return await self.api_keys.revoke(key_id)

    # --- admin changes (database first, then the in-memory pool) ----------------------------

    async def add_account(self, account: Account) -> Account:
        if not account.id:
            account.id = uuid.uuid4().hex
        self.tokens.ensure_machine_id(account)
        await self.accounts.insert(account)
        self.pool.upsert(account)
        await self.sync.accounts_changed()
        return account

    async def update_account(self, account_id: str, **changes: Any) -> Account:
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot change account field(s): {', '.join(sorted(unknown))}")
        account = self.pool.get(account_id)
        if account is None:
            raise KeyError(account_id)
        for name, value in changes.items():
            setattr(account, name, value)
        self.pool.note_local_change(account.id)  # a sync reading meanwhile must not undo it
        if changes.get("enabled") is True:
            account.disabled_reason = None
            account.consecutive_failures = 0
        await self.accounts.save(
            account, set(changes) | {"disabled_reason", "consecutive_failures"}
        )
        # Again once stored: a sync that read the row before this write must not apply it.
        self.pool.note_local_change(account.id)
        await self.sync.accounts_changed()
        return account

    async def delete_account(self, account_id: str) -> bool:
        self.pool.remove(account_id)
        deleted = await self.accounts.delete(account_id)
        await self.sync.accounts_changed()
        return deleted

    def set_strategy(self, name: str) -> None:
        self.pool.set_strategy(name)

    def account_view(self, account: Account) -> dict[str, Any]:
        """Account data for the admin API: no secrets, only whether they are present."""
        data = asdict(replace(account))
        for secret in ("client_secret", "refresh_token", "access_token"):
            data[f"has_{secret}"] = bool(data.pop(secret))
        data["has_proxy"] = bool(data.pop("proxy_url"))
        data["usable"] = account.unusable_reason(self.pool.clock()) is None
        return data

    # --- background work --------------------------------------------------------------------

    async def flush_state(self) -> None:
        """Persist health changes, counter and totals increments (store/shared_state.py)."""
        await self.sync.flush()

    async def refresh_account_limits(self, account_id: str) -> Account:
        """getUsageLimits for one account, now (admin "refresh" button, and after a 402)."""
        account = self.pool.get(account_id)
        if account is None:
            raise KeyError(account_id)
        await self.tokens.ensure_fresh(account)
        data = await self.client.get_usage_limits(self.tokens.credentials(account))
        apply_usage_limits(account, data, now=self.pool.clock())
        await self.accounts.save(account, LIMITS_FIELDS)
        return account

    async def _limits_after_quota(self, account: Account) -> None:
        try:
            await self.refresh_account_limits(account.id)
        except Exception as exc:
            log.info("getUsageLimits after quota exhaustion failed for %s: %s", account.label, exc)

    async def refresh_all_limits(self) -> None:
        for account in self.pool.all():
            if not account.enabled:
                continue
            try:
                await self.refresh_account_limits(account.id)
            except (RefreshFailed, KeyError) as exc:
                log.info("usage limits skipped for %s: %s", account.label, exc)
            except Exception as exc:
                log.warning("usage limits failed for %s: %s", account.label, type(exc).__name__)

    async def refresh_models(self) -> list[str]:
        account = self.pool.select()
        if account is None:
            return self.catalog.ids()
        await self.tokens.ensure_fresh(account)
        models = await self.client.list_models(self.tokens.credentials(account))
        self.catalog.update(models)
        return self.catalog.ids()

    # --- shutdown ---------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.jobs.stop()
        await self.dispatcher.close()
        # Refreshes still running (a job's or a cancelled request's: they are shielded) end
        # here, while the client and the database they use are still open.
        await self.tokens.close()
        await self.recorder.close()
        try:
            await self.flush_state()
        finally:
            await self.database.close()


async def create_runtime(
    settings: Settings, client: Any, *, intervals: JobIntervals | None = None
) -> PoolRuntime:
    """Open the database, run migrations, import config.json, load the pool, start jobs."""
    database = await open_database(settings.resolved_database_url)
    try:
        box = await asyncio.to_thread(SecretBox.for_data_dir, settings.resolved_data_dir)
        runtime = PoolRuntime(settings, client, database, box, intervals=intervals)
        await runtime.start()
    except BaseException:
        await database.close()
        raise
    return runtime
