"""The in-memory account pool: which accounts exist, which may serve now, and their health.

All health changes go through the methods here so that selection always sees them at once;
each change marks the account dirty and the runtime's state flusher persists it in batches.
Counters are kept twice: the running values (what the admin panel shows) and the increments not
yet written, because several worker processes add to the same rows (see store/shared_state.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kiro_proxy.pool.account import Account
from kiro_proxy.pool.strategies import SelectionStrategy, make_strategy

Clock = Callable[[], float]

# Health marks shared between workers (written on change, read back periodically).
SHARED_HEALTH = (
    "enabled",
    "disabled_reason",
    "cooldown_until",
    "quota_exhausted_until",
    "consecutive_failures",
)


@dataclass(slots=True)
class CounterDelta:
    """Counts one worker added to an account since its last flush."""

    requests: int = 0
    successes: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    credits: float = 0.0
    last_used_at: float = 0.0

    def merge(self, other: CounterDelta) -> None:
        self.requests += other.requests
        self.successes += other.successes
        self.errors += other.errors
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.credits += other.credits
        self.last_used_at = max(self.last_used_at, other.last_used_at)


class AccountPool:
    def __init__(self, strategy: str = "round-robin", *, clock: Clock = time.time) -> None:
        self._accounts: dict[str, Account] = {}
        # `_accounts` in insertion order, as ids and as accounts: derived by `_reindex` on every
        # membership change, so selection reads ready-made lists.
        self._order: list[str] = []
        self._ordered: list[Account] = []
        self._strategy: SelectionStrategy = make_strategy(strategy)
        self._dirty: set[str] = set()
        self._deltas: dict[str, CounterDelta] = {}
        # A sequence number per local change: state read from the database before a change
        # must not overwrite it (see apply_shared).
        self._change_seq = 0
        self._changed: dict[str, int] = {}
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
        self._reindex()

    def upsert(self, account: Account) -> None:
        old = self._accounts.get(account.id)
        if old is not None:
            account.in_flight = old.in_flight
        self._accounts[account.id] = account  # a known id keeps its place
        self._reindex()

    def _reindex(self) -> None:
        self._order = list(self._accounts)
        self._ordered = list(self._accounts.values())

    def remove(self, account_id: str) -> None:
        if self._accounts.pop(account_id, None) is not None:
            self._reindex()
        self._dirty.discard(account_id)
        self._deltas.pop(account_id, None)

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def all(self) -> list[Account]:
        return list(self._ordered)

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
        if not skip:  # the first attempt of every request
            return [a for a in self._ordered if a.unusable_reason(now) is None]
        return [a for a in self._ordered if a.id not in skip and a.unusable_reason(now) is None]

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
        wait = self.seconds_until_available()
        if wait is not None:
            head += f"; next available in {math.ceil(wait)} s"
        return head

    # --- health changes ---------------------------------------------------------------------

    def mark_dirty(self, account: Account) -> None:
        if account.id in self._accounts:
            self._dirty.add(account.id)
            self.note_local_change(account.id)

    def note_local_change(self, account_id: str) -> None:
        self._change_seq += 1
        self._changed[account_id] = self._change_seq

    def change_mark(self) -> int:
        """The current local-change sequence number (take it before reading the database)."""
        return self._change_seq

    def take_dirty(self) -> list[Account]:
        ids, self._dirty = self._dirty, set()
        return [self._accounts[i] for i in ids if i in self._accounts]

    def take_deltas(self) -> dict[str, CounterDelta]:
        """The counter increments not yet written (and forget them)."""
        deltas, self._deltas = self._deltas, {}
        return {k: v for k, v in deltas.items() if k in self._accounts}

    def restore_deltas(self, deltas: Mapping[str, CounterDelta]) -> None:
        """Put back increments whose write failed, so the next flush carries them."""
        for account_id, delta in deltas.items():
            if account_id in self._accounts:
                self._delta(account_id).merge(delta)

    def _delta(self, account_id: str) -> CounterDelta:
        delta = self._deltas.get(account_id)
        if delta is None:
            delta = self._deltas[account_id] = CounterDelta()
        return delta

    def apply_shared(self, states: Iterable[Any], *, read_since: int | None = None) -> list[str]:
        """Take in what the database says (other workers' health marks and counts).

        `states` are store.shared_state.SharedAccountState rows. Accounts with a health change
        of our own not yet written, or made after `read_since` (a change_mark taken before the
        read), keep ours (it is written on the next flush); counters become
        the stored value plus our unwritten increments. Returns the ids whose stored tokens are
        newer than ours (another worker refreshed them)."""
        newer_tokens: list[str] = []
        for state in states:
            account = self._accounts.get(state.id)
            if account is None:
                continue
            values = state.values
            changed_after = read_since is not None and self._changed.get(state.id, 0) > read_since
            if state.id not in self._dirty and not changed_after:
                for name in SHARED_HEALTH:
                    setattr(account, name, values[name])
                account.cooldown_until = account.cooldown_until or 0.0
                account.quota_exhausted_until = account.quota_exhausted_until or 0.0
                account.consecutive_failures = account.consecutive_failures or 0
            pending = self._deltas.get(state.id) or CounterDelta()
            account.request_count = (values["request_count"] or 0) + pending.requests
            account.success_count = (values["success_count"] or 0) + pending.successes
            account.error_count = (values["error_count"] or 0) + pending.errors
            account.input_tokens = (values["input_tokens"] or 0) + pending.input_tokens
            account.output_tokens = (values["output_tokens"] or 0) + pending.output_tokens
            account.total_credits = (values["total_credits"] or 0.0) + pending.credits
            stored_used = values["last_used_at"]
            if stored_used is not None and (account.last_used_at or 0) < stored_used:
                account.last_used_at = stored_used
            if (state.last_refresh_at or 0) > (account.last_refresh_at or 0):
                newer_tokens.append(state.id)
        return newer_tokens

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
        input_tokens, output_tokens, credits = (
            max(0, input_tokens),
            max(0, output_tokens),
            max(0.0, credits),
        )
        now = self.clock()
        account.request_count += 1
        if success:
            account.success_count += 1
            if account.consecutive_failures or account.cooldown_until:
                # A health change (cleared marks), shared like the marks themselves.
                account.consecutive_failures = 0
                account.cooldown_until = 0.0
                self.mark_dirty(account)
        else:
            account.error_count += 1
        account.input_tokens += input_tokens
        account.output_tokens += output_tokens
        account.total_credits += credits
        account.last_used_at = now
        if account.id in self._accounts:
            delta = self._delta(account.id)
            delta.requests += 1
            delta.successes += 1 if success else 0
            delta.errors += 0 if success else 1
            delta.input_tokens += input_tokens
            delta.output_tokens += output_tokens
            delta.credits += credits
            delta.last_used_at = now
