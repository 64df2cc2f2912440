"""Account selection strategies. Each picks one account out of the usable candidates.

Candidates arrive in the pool's stable order (creation order); strategies keep their own small
state (a cursor, current weights) and do no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kiro_proxy.pool.account import Account


class SelectionStrategy(Protocol):
    name: str

    def choose(self, candidates: Sequence[Account], ordered_ids: Sequence[str]) -> Account: ...


class RoundRobin:
    """Kiro-Go's behaviour: walk the accounts in order, skipping unusable ones.

    The cursor walks the full ordered list (not only the candidates) so that an account that is
    skipped for a moment does not shift everyone else's turn.
    """

    name = "round-robin"

    def __init__(self) -> None:
        self._cursor = 0

    def choose(self, candidates: Sequence[Account], ordered_ids: Sequence[str]) -> Account:
        total = len(ordered_ids)
        if len(candidates) == total and total:
            # Every account may serve (the usual case): candidates are the ordered list itself,
            # so the cursor's account is the answer, without the search below.
            index = self._cursor % total
            account = candidates[index]
            if account.id == ordered_ids[index]:
                self._cursor = (index + 1) % total
                return account
        by_id = {a.id: a for a in candidates}
        for step in range(total):
            index = (self._cursor + step) % total
            account = by_id.get(ordered_ids[index])
            if account is not None:
                self._cursor = (index + 1) % total
                return account
        # Candidates not in the ordered list cannot happen; fall back to the first one.
        return candidates[0]


class LeastUsed:
    """Fewest requests in flight, then fewest requests served, then least recently used."""

    name = "least-used"

    def choose(self, candidates: Sequence[Account], ordered_ids: Sequence[str]) -> Account:
        return min(
            candidates,
            key=lambda a: (a.in_flight, a.request_count, a.last_used_at or 0.0),
        )


class Weighted:
    """Smooth weighted round robin (nginx's algorithm): an account of weight 3 gets three turns
    for every one of an account of weight 1, interleaved rather than in bursts."""

    name = "weighted"

    def __init__(self) -> None:
        self._current: dict[str, int] = {}

    def choose(self, candidates: Sequence[Account], ordered_ids: Sequence[str]) -> Account:
        total = 0
        best: Account | None = None
        for account in candidates:
            weight = max(1, account.weight)
            total += weight
            current = self._current.get(account.id, 0) + weight
            self._current[account.id] = current
            if best is None or current > self._current[best.id]:
                best = account
        assert best is not None
        self._current[best.id] -= total
        return best


def make_strategy(name: str) -> SelectionStrategy:
    if name == "least-used":
        return LeastUsed()
    if name == "weighted":
        return Weighted()
    if name == "round-robin":
        return RoundRobin()
    raise ValueError(f"unknown pool strategy {name!r}: use round-robin, least-used or weighted")
