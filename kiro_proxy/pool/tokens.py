"""Access-token lifecycle: refresh before expiry, single-flight per account.

Kiro-Go refreshes only on a 30-minute tick and without a lock, so concurrent refreshes race on a
rotated refresh token (protocol doc §10 items 14–15). Here every caller that needs a fresh token
for an account awaits the same in-flight refresh, and a permanent refusal (`invalid_grant`)
disables the account with its reason.

Across worker processes the single flight is the database's: with a `TokenLocks` (the runtime
passes store/shared_state.py's), a refresh first locks the account's row and re-reads the stored
tokens; when another worker refreshed meanwhile, its token is adopted and the refresh token (which
Kiro may rotate: spending the old one again would get invalid_grant) is not used at all.

Tokens are refreshed REFRESH_MARGIN_SECONDS ahead of expiry, so a refresh that fails transiently
(5xx, no answer) usually leaves a token Kiro still accepts. While it has more than
REFRESH_GRACE_SECONDS left, the account keeps serving with it (one WARNING, no cooldown) and
automatic refreshes of that account pause for REFRESH_RETRY_PAUSE_SECONDS: an outage of the auth
endpoint then costs it one attempt per account per pause, not one per request. The pause is
stored under the row lock too, so the other workers wait it out instead of trying again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from kiro_proxy.kiro.client import UpstreamCredentials
from kiro_proxy.kiro.errors import KiroError, TokenRefreshError
from kiro_proxy.pool.account import Account
from kiro_proxy.pool.machine_ids import MachineIds
from kiro_proxy.pool.pool import AccountPool

log = logging.getLogger(__name__)

# Refresh this long before the stated expiry (Kiro-Go: 300 s; KRS treats < 5 min as expired).
REFRESH_MARGIN_SECONDS = 300.0
# A token with more than this left still serves when its early refresh fails transiently; closer
# to expiry (clocks differ, a request takes time) Kiro may refuse it, and the account cools down.
REFRESH_GRACE_SECONDS = 30.0
# After such a failure, no automatic refresh of the account is tried for this long (by any
# worker) while its token still serves; a token refused upstream or an admin's refresh still
# tries at once.
REFRESH_RETRY_PAUSE_SECONDS = 15.0
DEFAULT_EXPIRES_IN = 3600.0

StillNeeded = Callable[[Account], bool]


class TokenLease(Protocol):
    """The stored account read under its row lock; `save` writes tokens and enabled state.

    `refresh_paused_until` is the stored retry pause (a worker's early refresh failed, the token
    still served); `pause_refresh` stores a new one, or clears it with None."""

    stored: Account | None
    refresh_paused_until: float | None

    async def save(self, account: Account) -> None: ...

    async def pause_refresh(self, until: float | None) -> None: ...


class TokenLocks(Protocol):
    def lock_tokens(self, account_id: str) -> AbstractAsyncContextManager[TokenLease]: ...


def adopt_stored_tokens(account: Account, stored: Account) -> None:
    """Take the tokens (and enabled state) another worker stored."""
    account.access_token = stored.access_token
    account.refresh_token = stored.refresh_token
    account.expires_at = stored.expires_at
    account.profile_arn = stored.profile_arn or account.profile_arn
    account.last_refresh_at = stored.last_refresh_at
    account.enabled = stored.enabled
    account.disabled_reason = stored.disabled_reason


class RefreshFailed(Exception):
    """A refresh did not produce a token. `permanent` means the account was disabled;
    `token_usable` that the failure was transient and the current access token still serves
    (more than REFRESH_GRACE_SECONDS left, not refused upstream)."""

    def __init__(
        self, account: Account, message: str, *, permanent: bool, token_usable: bool = False
    ) -> None:
        super().__init__(message)
        self.account_id = account.id
        self.permanent = permanent
        self.token_usable = token_usable


class TokenManager:
    def __init__(
        self,
        client: object,
        pool: AccountPool,
        *,
        global_proxy_url: str | None = None,
        margin_seconds: float = REFRESH_MARGIN_SECONDS,
        grace_seconds: float = REFRESH_GRACE_SECONDS,
        retry_pause_seconds: float = REFRESH_RETRY_PAUSE_SECONDS,
        locks: TokenLocks | None = None,
    ) -> None:
        self._client = client
        self._pool = pool
        self._global_proxy_url = global_proxy_url
        self._margin = margin_seconds
        self._grace = grace_seconds
        self._retry_pause = retry_pause_seconds
        self._locks = locks
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # Account id → until when automatic refreshes wait (see REFRESH_RETRY_PAUSE_SECONDS).
        self._paused_until: dict[str, float] = {}
        self._machine_ids = MachineIds()

    def set_global_proxy(self, proxy_url: str | None) -> None:
        self._global_proxy_url = proxy_url or None

    def proxy_for(self, account: Account) -> str | None:
        """The account's own outbound proxy wins over the global one; "direct" (understood by
        the client) opts an account out of the global proxy."""
        return account.proxy_url or self._global_proxy_url

    def ensure_machine_id(self, account: Account) -> str:
        """The 64-hex machine id Kiro sees, fixed once and stored with the account
        (pool/machine_ids.py)."""
        return self._machine_ids.ensure(account)

    def credentials(self, account: Account) -> UpstreamCredentials:
        return UpstreamCredentials(
            access_token=account.access_token or "",
            machine_id=self._machine_ids.ensure(account),
            auth_method=account.auth_method,
            region=account.region or "us-east-1",
            profile_arn=account.profile_arn,
            proxy_url=self.proxy_for(account),
        )

    def needs_refresh(self, account: Account, *, margin: float | None = None) -> bool:
        if account.auth_method == "api_key":
            return False  # a ksk_ key is the bearer token itself; nothing to refresh
        if not account.access_token or account.expires_at is None:
            return True
        return account.expires_at - self._pool.clock() < (
            self._margin if margin is None else margin
        )

    def _token_usable(self, account: Account, now: float) -> bool:
        """The access token has more than the grace period left (by its stated expiry)."""
        return (
            bool(account.access_token)
            and account.expires_at is not None
            and account.expires_at - now > self._grace
        )

    def refresh_paused(self, account: Account) -> bool:
        """An automatic refresh waits: one failed transiently moments ago (here or in another
        worker) and the current token still serves."""
        until = self._paused_until.get(account.id)
        if until is None:
            return False
        now = self._pool.clock()
        if until <= now:
            del self._paused_until[account.id]
            return False
        return self._token_usable(account, now)

    async def ensure_fresh(self, account: Account) -> None:
        """Refresh a token that is expiring (or gone). A transient failure is raised only when
        the current token cannot serve any more; otherwise the request goes on with it."""
        if not self.needs_refresh(account) or self.refresh_paused(account):
            return
        try:
            await self.refresh(account, only_if=self.needs_refresh)
        except RefreshFailed as exc:
            if exc.permanent or not exc.token_usable:
                raise
            # Logged (once) by the refresh; the next attempt comes after the pause.

    async def refresh(
        self,
        account: Account,
        *,
        stale_access_token: str | None = None,
        only_if: StillNeeded | None = None,
    ) -> None:
        """Refresh now, joining a refresh already under way for this account.

        With `stale_access_token` (the token upstream just rejected), a refresh that another
        request (or worker) finished meanwhile counts: the token changed, so nothing more is
        done. `only_if` is checked again on the stored tokens once the row is locked: a worker
        that refreshed first makes the refresh unnecessary, and a retry pause another worker
        stored (its refresh just failed, the token still serves) defers it. Without either, it
        always refreshes.
        """
        task = self._inflight.get(account.id)
        if task is None:
            if stale_access_token is not None and account.access_token != stale_access_token:
                return
            still_needed = only_if
            if stale_access_token is not None:
                stale = stale_access_token

                def still_needed(a: Account) -> bool:
                    return a.access_token == stale or self.needs_refresh(a)

            automatic = only_if is not None and stale_access_token is None
            task = asyncio.create_task(
                self._refresh_coordinated(
                    account, still_needed, automatic=automatic, rejected=stale_access_token
                )
            )
            self._inflight[account.id] = task
            task.add_done_callback(lambda t, key=account.id: self._forget(key, t))
        # shield: one caller giving up (client disconnect) must not cancel everyone's refresh.
        await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here so that a refresh nobody awaited logs no warning

    async def _refresh_coordinated(
        self,
        account: Account,
        still_needed: StillNeeded | None,
        *,
        automatic: bool,
        rejected: str | None,
    ) -> None:
        """`automatic`: a refresh ahead of expiry (requests, the background job), which a stored
        retry pause defers; `rejected`: the access token upstream refused (it cannot serve)."""
        if account.auth_method == "api_key":
            return  # a ksk_ key is the bearer token itself; nothing to refresh
        if self._locks is None:  # one process, and the caller stores the account
            await self._refresh_once(account, rejected=rejected)
            return
        failure: RefreshFailed | None = None
        async with self._locks.lock_tokens(account.id) as lease:
            ours = account.access_token
            if lease.stored is not None:
                adopt_stored_tokens(account, lease.stored)
            # The same token as ours: nobody refreshed since we judged it stale; refresh.
            refreshed_elsewhere = account.access_token != ours
            if not account.enabled and still_needed is not None:
                # Disabled (maybe by another worker's refused refresh): no automatic retry;
                # an admin's explicit refresh (no condition) still tries.
                reason = account.disabled_reason or "disabled"
                raise RefreshFailed(
                    account, f"account {account.label} is disabled ({reason})", permanent=True
                )
            if refreshed_elsewhere and still_needed is not None and not still_needed(account):
                log.debug("adopted the token another worker refreshed for %s", account.label)
                return
            if automatic:
                paused = self._stored_pause(account, lease.refresh_paused_until)
                if paused is not None:
                    raise paused  # nothing written: the rollback is right
            try:
                await self._refresh_once(account, rejected=rejected)
            except RefreshFailed as exc:
                failure = exc
            if failure is None or failure.permanent:
                # New tokens, or the account disabled: stored before the lock goes.
                await lease.save(account)
                if lease.refresh_paused_until is not None:
                    await lease.pause_refresh(None)
            elif failure.token_usable:
                # The other workers wait the pause out too (read under this lock).
                await lease.pause_refresh(self._paused_until.get(account.id))
        if failure is not None:
            raise failure

    def _stored_pause(self, account: Account, until: float | None) -> RefreshFailed | None:
        """Another worker's refresh failed moments ago and stored a retry pause: while the
        token (just adopted from the row) still serves, keep it and do not try again yet."""
        now = self._pool.clock()
        if until is None or until <= now or not self._token_usable(account, now):
            return None
        self._paused_until[account.id] = max(until, self._paused_until.get(account.id, 0.0))
        message = (
            f"token refresh for {account.label} paused for {until - now:.0f} s after a failed "
            "attempt in another worker"
        )
        log.info("%s; its access token stays valid for %.0f s", message, self._left(account, now))
        return RefreshFailed(account, message, permanent=False, token_usable=True)

    @staticmethod
    def _left(account: Account, now: float) -> float:
        return (account.expires_at or now) - now

    def _transient_failure(
        self, account: Account, why: str, *, rejected: str | None
    ) -> RefreshFailed:
        """A refresh that may work later (a 5xx, no answer): logged once with its cause, and
        the account stays enabled. If its token still serves, the account goes on with it and
        automatic refreshes pause; otherwise the dispatcher cools it down."""
        message = f"token refresh failed for {account.label} ({why})"
        now = self._pool.clock()
        usable = account.access_token != rejected and self._token_usable(account, now)
        if not usable:
            log.warning("%s; transient, the account stays enabled and is retried later", message)
            return RefreshFailed(account, message, permanent=False)
        self._paused_until[account.id] = now + self._retry_pause
        log.warning(
            "%s; transient: its access token is still valid for %.0f s and keeps serving, "
            "the refresh is tried again in %.0f s at the earliest",
            message,
            self._left(account, now),
            self._retry_pause,
        )
        return RefreshFailed(account, message, permanent=False, token_usable=True)

    async def _refresh_once(self, account: Account, *, rejected: str | None = None) -> None:
        """Spend the refresh token; updates `account` in memory (the caller stores it). Never
        called for api_key accounts (_refresh_coordinated returns first)."""
        if not account.refresh_token:
            self._pool.disable(account, "no refresh token: re-import the account")
            raise RefreshFailed(
                account, f"account {account.label} has no refresh token", permanent=True
            )
        machine_id = self.ensure_machine_id(account)
        proxy = self.proxy_for(account)
        region = account.region or "us-east-1"
        try:
            if account.auth_method == "idc":
                grant = await self._client.refresh_oidc(  # type: ignore[attr-defined]
                    account.refresh_token,
                    account.client_id or "",
                    account.client_secret or "",
                    region=region,
                    proxy_url=proxy,
                )
            else:
                grant = await self._client.refresh_social(  # type: ignore[attr-defined]
                    account.refresh_token, machine_id=machine_id, region=region, proxy_url=proxy
                )
        except TokenRefreshError as exc:
            if exc.is_permanent:
                reason = f"refresh token rejected ({exc.error or exc.status}): re-login needed"
                self._pool.disable(account, reason)
                log.warning("account %s disabled: %s", account.label, reason)
                raise RefreshFailed(
                    account, f"account {account.label}: {reason}", permanent=True
                ) from exc
            why = f"HTTP {exc.status}" + (f" {exc.error}" if exc.error else "")
            raise self._transient_failure(account, why, rejected=rejected) from exc
        except asyncio.CancelledError:
            raise
        except KiroError as exc:  # no answer: connection refused or dropped, a timeout
            why = f"{type(exc).__name__}: {exc}"
            raise self._transient_failure(account, why, rejected=rejected) from exc
        except Exception as exc:
            raise self._transient_failure(account, type(exc).__name__, rejected=rejected) from exc

        now = self._pool.clock()
        account.access_token = grant.access_token
        if grant.refresh_token:  # OIDC may omit it: keep the old one (Kiro-Go, KRS)
            account.refresh_token = grant.refresh_token
        if grant.profile_arn:
            account.profile_arn = grant.profile_arn
        account.expires_at = now + float(grant.expires_in or DEFAULT_EXPIRES_IN)
        account.last_refresh_at = now
        self._paused_until.pop(account.id, None)
        log.info("refreshed token for account %s", account.label)

    async def refresh_expiring(self, *, horizon_seconds: float) -> int:
        """Background pass: refresh every enabled account expiring within the horizon (except
        those in a retry pause)."""
        count = 0
        for account in self._pool.all():
            if not account.enabled or not self.needs_refresh(account, margin=horizon_seconds):
                continue
            if self.refresh_paused(account):
                continue
            try:
                await self.refresh(
                    account, only_if=lambda a: self.needs_refresh(a, margin=horizon_seconds)
                )
                count += 1
            except RefreshFailed as exc:
                # A failed refresh has logged its WARNING already (and a disabling one why).
                log.info("background refresh: %s", exc)
        return count

    async def close(self) -> None:
        """Shutdown: cancel the refreshes still under way and wait for them to end, before the
        client and the database close under them. A cancelled refresh changes nothing (its row
        lock's transaction rolls back) and counts as no failure: the account is not touched."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
