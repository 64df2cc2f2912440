"""Login throttling per client IP: a growing wait after repeated wrong passwords.

The first few mistakes are free (typos happen); after that each further failure doubles the
wait, up to 15 minutes. At that rate a guesser gets about a hundred tries a day per address,
while the scrypt hash makes each try expensive too. A success clears the address's record.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 3
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 15 * 60.0
FORGET_AFTER_SECONDS = 24 * 3600.0
MAX_TRACKED_ADDRESSES = 10_000


@dataclass(slots=True)
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def retry_after(self, address: str) -> int:
        """Seconds this address must wait before it may try again (0 = may try now)."""
        record = self._records.get(address)
        if record is None:
            return 0
        now = self._clock()
        if now - record.last_failure > FORGET_AFTER_SECONDS:
            del self._records[address]
            return 0
        return max(0, math.ceil(record.blocked_until - now))

    def failure(self, address: str) -> int:
        """Count a wrong password; returns the wait now imposed (seconds)."""
        now = self._clock()
        record = self._records.pop(address, None) or _Record()
        record.failures += 1
        record.last_failure = now
        extra = record.failures - FREE_FAILURES
        if extra > 0:
            delay = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (extra - 1))
            record.blocked_until = now + delay
        self._records[address] = record  # most recent last
        while len(self._records) > MAX_TRACKED_ADDRESSES:
            self._records.popitem(last=False)
        return self.retry_after(address)

    def success(self, address: str) -> None:
        self._records.pop(address, None)

    def failures(self, address: str) -> int:
        record = self._records.get(address)
        return record.failures if record else 0
