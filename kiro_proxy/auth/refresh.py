"""Refresh stored accounts now: new access token, then usage and subscription (the CLI's
`accounts refresh`, which works on the database without a running server).

The pool's TokenManager does the refresh, so a dead refresh token disables the account with
the same reason the server would give.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kiro_proxy.auth.onboarding import AccountStore, KiroAuthClient
from kiro_proxy.pool.account import LIMITS_FIELDS, TOKEN_FIELDS, Account
from kiro_proxy.pool.limits import apply_usage_limits
from kiro_proxy.pool.pool import AccountPool
from kiro_proxy.pool.tokens import RefreshFailed, TokenManager

_SAVED_FIELDS = frozenset(
    {*TOKEN_FIELDS, *LIMITS_FIELDS, "machine_id", "enabled", "disabled_reason"}
)


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    account: Account
    problem: str | None  # None: refreshed and usage read

    @property
    def ok(self) -> bool:
        return self.problem is None


async def refresh_accounts(
    client: KiroAuthClient,
    store: AccountStore,
    accounts: Iterable[Account],
    *,
    proxy_url: str | None = None,
    clock: Callable[[], float] = time.time,
) -> list[RefreshOutcome]:
    chosen = list(accounts)
    pool = AccountPool(clock=clock)
    pool.load(chosen)
    tokens = TokenManager(client, pool, global_proxy_url=proxy_url)
    outcomes: list[RefreshOutcome] = []
    for account in chosen:
        problem: str | None = None
        try:
            await tokens.refresh(account)
            data = await client.get_usage_limits(tokens.credentials(account))
            apply_usage_limits(account, data, now=clock())
        except RefreshFailed as exc:
            problem = str(exc)
        except Exception as exc:
            problem = f"usage check failed ({type(exc).__name__}); try again later"
        await store.save(account, _SAVED_FIELDS)
        outcomes.append(RefreshOutcome(account, problem))
    return outcomes
