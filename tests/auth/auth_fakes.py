"""Test doubles shared by the auth tests (a module name unique across the tree)."""

from __future__ import annotations


class FakeClock:
    """Shared by the simulator and the flows; `sleep` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
