"""Cooldown arithmetic: exponential backoff with jitter, and monthly quota reset dates."""

from __future__ import annotations

import random
from datetime import UTC, datetime

# 429: Kiro throttles per account; retrying quickly can escalate to a suspension (field notes
# §6), so throttled accounts rest longer than accounts that met a transient server error.
THROTTLE_BASE_SECONDS = 10.0
THROTTLE_MAX_SECONDS = 600.0
TRANSIENT_BASE_SECONDS = 2.0
TRANSIENT_MAX_SECONDS = 60.0
JITTER_SHARE = 0.25


def backoff_seconds(
    failures: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay after the `failures`-th consecutive failure (1-based): base·2^(n-1), capped, plus up
    to 25 % jitter so that accounts throttled together do not come back together. An upstream
    retry hint is a floor, never shortened."""
    exponent = max(0, failures - 1)
    delay = min(cap, base * (2**exponent))
    delay += delay * JITTER_SHARE * (rng or random).random()
    if retry_after is not None and retry_after > 0:
        delay = max(delay, float(retry_after))
    return delay


def throttle_cooldown(failures: int, retry_after: float | None = None) -> float:
    return backoff_seconds(
        failures, base=THROTTLE_BASE_SECONDS, cap=THROTTLE_MAX_SECONDS, retry_after=retry_after
    )


def transient_cooldown(failures: int, retry_after: float | None = None) -> float:
    return backoff_seconds(
        failures, base=TRANSIENT_BASE_SECONDS, cap=TRANSIENT_MAX_SECONDS, retry_after=retry_after
    )


def first_of_next_month_utc(now: float) -> float:
    """Kiro's monthly request quota resets at the start of the month (UTC) when getUsageLimits
    gives no reset date (AIClient-2-API does the same)."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()
