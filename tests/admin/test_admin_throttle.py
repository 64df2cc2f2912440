"""Login throttle: free typos, then a doubling wait capped at 15 minutes, bounded memory."""

from __future__ import annotations

from kiro_proxy.admin.throttle import (
    FREE_FAILURES,
    MAX_DELAY_SECONDS,
    MAX_TRACKED_ADDRESSES,
    LoginThrottle,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_waits_double_then_cap() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    waits = [throttle.failure("a") for _ in range(FREE_FAILURES + 12)]
    assert waits[:FREE_FAILURES] == [0] * FREE_FAILURES
    growing = waits[FREE_FAILURES:]
    assert growing[:4] == [2, 4, 8, 16]
    assert max(growing) == MAX_DELAY_SECONDS
    # Other addresses are not affected.
    assert throttle.retry_after("b") == 0


def test_a_day_without_failures_forgets_and_success_resets() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(FREE_FAILURES + 2):
        throttle.failure("a")
    assert throttle.retry_after("a") > 0
    clock.now += 25 * 3600
    assert throttle.retry_after("a") == 0 and throttle.failures("a") == 0
    throttle.failure("a")
    throttle.success("a")
    assert throttle.failures("a") == 0


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(clock=Clock())
    for i in range(MAX_TRACKED_ADDRESSES + 50):
        throttle.failure(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle._records) == MAX_TRACKED_ADDRESSES
