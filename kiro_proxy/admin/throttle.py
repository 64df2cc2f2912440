"""Login throttling per client IP: a growing wait after repeated wrong passwords.

The first few mistakes are free (typos happen); after that each further failure doubles the
wait, up to 15 minutes. At that rate a guesser gets about a hundred tries a day per address,
while the scrypt hash makes each try expensive too. A success clears the address's record.

The records are in the database (store/login_failures.py), so the limit is per address across
every worker process. Times are wall-clock seconds: the workers share them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from kiro_proxy.store.database import Database
from kiro_proxy.store.login_failures import LoginFailureRepository

FREE_FAILURES = 3
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 15 * 60.0
FORGET_AFTER_SECONDS = 24 * 3600.0
MAX_TRACKED_ADDRESSES = 10_000


def delay_after(failures: int) -> float:
    """The wait imposed after `failures` wrong passwords in a row."""
    extra = failures - FREE_FAILURES
    if extra <= 0:
        return 0.0
    return min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** min(extra - 1, 64))


class LoginThrottle:
    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], float] = time.time,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        self._records = LoginFailureRepository(database)
        self._clock = clock
        self._max_addresses = max_addresses

    async def retry_after(self, address: str) -> int:
        """Seconds this address must wait before it may try again (0 = may try now)."""
        record = await self._records.get(address)
        if record is None:
            return 0
        now = self._clock()
        if now - record.last_failure > FORGET_AFTER_SECONDS:
            return 0
        return max(0, math.ceil(record.blocked_until - now))

    async def failure(self, address: str) -> int:
        """Count a wrong password; returns the wait now imposed (seconds)."""
        now = self._clock()
        record = await self._records.add_failure(
            address,
            now=now,
            forget_before=now - FORGET_AFTER_SECONDS,
            blocked_until=lambda failures: now + delay_after(failures),
            max_addresses=self._max_addresses,
        )
        return max(0, math.ceil(record.blocked_until - now))

    async def success(self, address: str) -> None:
        await self._records.forget(address)

    async def failures(self, address: str) -> int:
        record = await self._records.get(address)
        if record is None or self._clock() - record.last_failure > FORGET_AFTER_SECONDS:
            return 0
        return record.failures
