"""Keeping one worker's in-memory pool in step with the database the other workers write too.

`flush` writes this worker's changes: health marks (absolute, they are facts like "cooling down
until T"), counters and global totals (increments, so that no worker's counts overwrite
another's). `sync` flushes, then reads back every account's health and counters, adopts tokens
another worker refreshed, and reloads the accounts when an admin changed them in any worker.
With a single process this costs two small queries a second.
"""

from __future__ import annotations

import logging
from typing import Any

from kiro_proxy.pool.pool import AccountPool
from kiro_proxy.pool.tokens import adopt_stored_tokens
from kiro_proxy.pool.usage import UsageRecorder, UsageTotals
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.shared_state import SharedStateRepository

log = logging.getLogger(__name__)

TOTALS_KEY = "stats.totals"  # as store/import_kiro_go.py, which adds Kiro-Go's counters to it
# Bumped by every admin change to the accounts (add, edit, delete, import), so that every worker
# reloads them instead of only the one that answered the admin.
ACCOUNTS_VERSION_KEY = "accounts.version"


def totals_to_json(totals: UsageTotals, *, rounded: bool = True) -> dict[str, Any]:
    return {
        "totalRequests": totals.total_requests,
        "successRequests": totals.success_requests,
        "failedRequests": totals.failed_requests,
        "totalTokens": totals.total_tokens,
        "totalCredits": round(totals.total_credits, 6) if rounded else totals.total_credits,
    }


def totals_from_json(data: dict[str, Any]) -> UsageTotals:
    return UsageTotals(
        total_requests=int(data.get("totalRequests") or 0),
        success_requests=int(data.get("successRequests") or 0),
        failed_requests=int(data.get("failedRequests") or 0),
        total_tokens=int(data.get("totalTokens") or 0),
        total_credits=float(data.get("totalCredits") or 0.0),
    )


class SharedStateSync:
    def __init__(
        self,
        pool: AccountPool,
        recorder: UsageRecorder,
        accounts: AccountRepository,
        shared: SharedStateRepository,
    ) -> None:
        self._pool = pool
        self._recorder = recorder
        self._accounts = accounts
        self._shared = shared
        self._accounts_version: int | None = None

    async def load(self) -> None:
        """Start-up: the accounts and totals as stored."""
        self._accounts_version = await self._read_version()
        self._pool.load(await self._accounts.list_all())
        self._recorder.adopt_stored_totals(
            totals_from_json(await self._shared.read_totals(TOTALS_KEY))
        )

    async def flush(self) -> None:
        """Write this worker's health changes, counter increments and totals increments.

        What a write takes is put back when the write fails or is cancelled (shutdown cancels
        the periodic sync mid-write), so the next flush, the final one included, carries it."""
        dirty = self._pool.take_dirty()
        if dirty:
            try:
                await self._shared.save_health(dirty)
            except BaseException:
                for account in dirty:
                    self._pool.mark_dirty(account)
                raise
        deltas = self._pool.take_deltas()
        if deltas:
            try:
                await self._shared.add_counters(deltas)
            except BaseException:
                self._pool.restore_deltas(deltas)
                raise
        taken = self._recorder.take_unflushed()
        if taken:
            try:
                stored = await self._shared.add_totals(
                    TOTALS_KEY, totals_to_json(taken, rounded=False)
                )
            except BaseException:
                self._recorder.restore_unflushed(taken)
                raise
            self._recorder.adopt_stored_totals(totals_from_json(stored))

    async def sync(self) -> None:
        """Flush, then take in what the other workers wrote."""
        await self.flush()
        mark = self._pool.change_mark()
        version = await self._read_version()
        if version != self._accounts_version:
            accounts = await self._accounts.list_all()
            # A local change while we read (an admin edit here) would be undone: next time.
            if self._pool.change_mark() == mark:
                self._accounts_version = version
                self._pool.load(accounts)
        else:
            states = await self._shared.read_all()
            self._add_or_drop_accounts({s.id for s in states})
            for account_id in self._pool.apply_shared(states, read_since=mark):
                await self._adopt_tokens(account_id)
        self._recorder.adopt_stored_totals(
            totals_from_json(await self._shared.read_totals(TOTALS_KEY))
        )

    async def accounts_changed(self) -> None:
        """After an admin change here: tell the other workers to reload."""
        before = self._accounts_version
        stored = await self._shared.add_totals(ACCOUNTS_VERSION_KEY, {"version": 1})
        after = int(stored.get("version") or 0)
        # Another worker's bump in between: keep the old number so the next sync reloads.
        self._accounts_version = after if before is not None and after == before + 1 else before

    async def _read_version(self) -> int:
        return int((await self._shared.read_totals(ACCOUNTS_VERSION_KEY)).get("version") or 0)

    def _add_or_drop_accounts(self, stored_ids: set[str]) -> None:
        for account in self._pool.all():
            if account.id not in stored_ids:
                self._pool.remove(account.id)
        # Accounts stored but not here are loaded on the next version bump; a stored account
        # without a bump only comes from a direct database edit.

    async def _adopt_tokens(self, account_id: str) -> None:
        account = self._pool.get(account_id)
        stored = await self._accounts.get(account_id)
        if account is not None and stored is not None:
            adopt_stored_tokens(account, stored)
            log.debug("adopted tokens another worker refreshed for %s", account.label)
