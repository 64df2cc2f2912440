"""A state flush cancelled mid-write (shutdown cancels the background sync job) must put back
what it took: the final flush then writes it. Losing it dropped the last requests' account
counters when a worker stopped during a periodic flush."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from kiro_proxy.pool.pool import CounterDelta
from kiro_proxy.pool.state_sync import SharedStateSync
from tests.pool.conftest import PoolKit
from tests.pool.test_usage_recorder import row


class BlockingShared:
    """A shared-state store whose first write of each kind hangs until cancelled."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.block = True
        self.counters: list[dict[str, CounterDelta]] = []
        self.totals: list[dict[str, Any]] = []

    async def _maybe_block(self) -> None:
        if self.block:
            self.entered.set()
            await asyncio.Event().wait()

    async def save_health(self, accounts: Any) -> None:
        await self._maybe_block()

    async def add_counters(self, deltas: Mapping[str, CounterDelta]) -> None:
        await self._maybe_block()
        self.counters.append(dict(deltas))

    async def add_totals(self, key: str, deltas: Mapping[str, float]) -> dict[str, Any]:
        await self._maybe_block()
        self.totals.append(dict(deltas))
        return {}


async def _cancel_mid_write(sync: SharedStateSync, shared: BlockingShared) -> None:
    task = asyncio.create_task(sync.flush())
    await shared.entered.wait()
    task.cancel()
    done = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    shared.block = False
    shared.entered.clear()


async def test_counter_deltas_survive_a_cancelled_flush(kit: PoolKit) -> None:
    account = kit.add("a")
    kit.pool.record_request(account, success=True, input_tokens=7, output_tokens=3, credits=0.5)
    shared = BlockingShared()
    sync = SharedStateSync(kit.pool, kit.recorder, None, shared)  # type: ignore[arg-type]
    await _cancel_mid_write(sync, shared)

    await sync.flush()  # the shutdown's final flush
    assert len(shared.counters) == 1
    delta = shared.counters[0]["a"]
    assert (delta.requests, delta.successes, delta.input_tokens, delta.output_tokens) == (
        1,
        1,
        7,
        3,
    )


async def test_health_marks_survive_a_cancelled_flush(kit: PoolKit) -> None:
    account = kit.add("a")
    kit.pool.mark_dirty(account)
    shared = BlockingShared()
    sync = SharedStateSync(kit.pool, kit.recorder, None, shared)  # type: ignore[arg-type]
    await _cancel_mid_write(sync, shared)
    assert [a.id for a in kit.pool.take_dirty()] == ["a"]


async def test_usage_totals_survive_a_cancelled_flush(kit: PoolKit) -> None:
    kit.recorder.record(row(1))
    kit.recorder.record(row(2, "error"))
    shared = BlockingShared()
    sync = SharedStateSync(kit.pool, kit.recorder, None, shared)  # type: ignore[arg-type]
    await _cancel_mid_write(sync, shared)

    await sync.flush()  # the shutdown's final flush
    assert len(shared.totals) == 1
    totals = shared.totals[0]
    assert (totals["totalRequests"], totals["successRequests"], totals["failedRequests"]) == (
        2,
        1,
        1,
    )
    assert totals["totalTokens"] == 10
