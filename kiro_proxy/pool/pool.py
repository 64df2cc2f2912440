"""The in-memory account pool: which accounts exist, which may serve now, and their health.

All health changes go through the methods here so that selection always sees them at once;
each change marks the account dirty and the runtime's state flusher persists it in batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from kiro_proxy.pool.account import Account
from kiro_proxy.pool.strategies import SelectionStrategy, make_strategy

Clock = Callable[[], float]


class AccountPool:
    def __init__(self, strategy: str = "round-robin", *, clock: Clock = time.time) -> None:
        self._accounts: dict[str, Account] = {}
        self._order: list[str] = []
        self._strategy: SelectionStrategy = make_strategy(strategy)
        self._dirty: set[str] = set()
        self.clock = clock

    # --- membership -------------------------------------------------------------------------

    def load(self, accounts: Iterable[Account]) -> None:
        """Replace the pool's contents (start-up, or a full reload after admin changes)."""
        previous = self._accounts
        self._accounts = {}
        for account in sorted(accounts, key=lambda a: (a.created_at, a.id)):
            old = previous.get(account.id)
            if old is not None:
                account.in_flight = old.in_flight
            self._accounts[account.id] = account
        self._order = list(self._accounts)

    def upsert(self, account: Account) -> None:
        old = self._accounts.get(account.id)
        if old is not None:
            account.in_flight = old.in_flight
        else:
            self._order.append(account.id)
        self._accounts[account.id] = account

    def remove(self, account_id: str) -> None:
        if self._accounts.pop(account_id, None) is not None:
            self._order.remove(account_id)
        self._dirty.discard(account_id)

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def all(self) -> list[Account]:
        return [self._accounts[i] for i in self._order]

    def __len__(self) -> int:
        return len(self._accounts)

    @property
    def strategy_name(self) -> str:
        return self._strategy.name

    def set_strategy(self, name: str) -> None:
        if name != self._strategy.name:
            self._strategy = make_strategy(name)

    # --- selection --------------------------------------------------------------------------

    def usable(self, *, exclude: Iterable[str] = ()) -> list[Account]:
        now = self.clock()
        skip = set(exclude)
        return [
            a
            for a in (self._accounts[i] for i in self._order)
            if a.id not in skip and a.unusable_reason(now) is None
        ]

    def select(self, *, exclude: Iterable[str] = ()) -> Account | None:
        candidates = self.usable(exclude=exclude)
        if not candidates:
            return None
        return self._strategy.choose(candidates, self._order)

    def seconds_until_available(self) -> float | None:
        """Seconds until the first enabled account leaves its cooldown or quota park."""
        now = self.clock()
        waiting = [a.available_at() for a in self._accounts.values() if a.enabled]
        later = [t - now for t in waiting if t > now]
        return min(later) if later else None

    def explain_unavailable(self) -> str:
        """A human sentence on why no account can serve, e.g. "all 3 accounts are cooling down;
        next available in 42 s"."""
        now = self.clock()
        total = len(self._accounts)
        if total == 0:
            return "no Kiro accounts are configured; add one in the admin panel or config.json"
        reasons: dict[str, int] = {}
        for account in self._accounts.values():
            reason = account.unusable_reason(now) or "busy"
            reasons[reason] = reasons.get(reason, 0) + 1
        words = {
            "disabled": "disabled",
            "quota-exhausted": "out of monthly quota",
            "cooling-down": "cooling down",
            "no-credentials": "missing credentials",
            "busy": "already tried for this request",
        }
        if len(reasons) == 1:
            (reason,) = reasons
            head = f"all {total} account{'s' if total != 1 else ''} are {words[reason]}"
        else:
            parts = [f"{n} {words[r]}" for r, n in sorted(reasons.items())]
            head = f"no usable account among {total} ({', '.join(parts)})"
        waiting = [a.available_at() for a in self._accounts.values() if a.enabled]
        waiting = [t for t in waiting if t > now]
        if waiting:
            head += f"; next available in {math.ceil(min(waiting) - now)} s"
        return head

    # --- health changes ---------------------------------------------------------------------

    def mark_dirty(self, account: Account) -> None:
        if account.id in self._accounts:
            self._dirty.add(account.id)

    def take_dirty(self) -> list[Account]:
        ids, self._dirty = self._dirty, set()
        return [self._accounts[i] for i in ids if i in self._accounts]

    def cool_down(self, account: Account, seconds: float) -> None:
        account.cooldown_until = max(account.cooldown_until, self.clock() + seconds)
        self.mark_dirty(account)

    def mark_quota_exhausted(self, account: Account, until: float) -> None:
        account.quota_exhausted_until = until
        self.mark_dirty(account)

    def disable(self, account: Account, reason: str) -> None:
        account.enabled = False
        account.disabled_reason = reason
        self.mark_dirty(account)

    def note_failure(self, account: Account) -> int:
        account.consecutive_failures += 1
        self.mark_dirty(account)
        return account.consecutive_failures

    def record_request(
        self,
        account: Account,
        *,
        success: bool,
        input_tokens: int,
        output_tokens: int,
        credits: float,
    ) -> None:
        account.request_count += 1
        if success:
            account.success_count += 1
            account.consecutive_failures = 0
            account.cooldown_until = 0.0
        else:
            account.error_count += 1
        account.input_tokens += max(0, input_tokens)
        account.output_tokens += max(0, output_tokens)
        account.total_credits += max(0.0, credits)
        account.last_used_at = self.clock()
        self.mark_dirty(account)
