"""The usage writer: record never waits, rows are written in batches, close loses nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from kiro_proxy.pool.usage import BATCH_SIZE, UsageRecorder, UsageRow


def row(i: int, status: str = "success") -> UsageRow:
    return UsageRow(
        created_at=float(i),
        request_id=f"r{i}",
        account_id="a",
        api_key_id=None,
        route="/v1/chat/completions",
        model="m",
        stream=False,
        status=status,
        input_tokens=3,
        output_tokens=2,
        credits=0.1,
        latency_ms=5,
        first_token_ms=1,
        error_kind=None,
    )


async def test_rows_are_batched_off_the_hot_path_and_flushed_on_close() -> None:
    batches: list[int] = []
    gate = asyncio.Event()

    async def slow_sink(rows: Sequence[UsageRow]) -> None:
        await gate.wait()  # a stuck database must not stall requests
        batches.append(len(rows))

    recorder = UsageRecorder(slow_sink)
    recorder.start()
    for i in range(500):
        recorder.record(row(i, "success" if i % 5 else "error"))
    assert recorder.totals.total_requests == 500  # counted at once
    assert (recorder.totals.success_requests, recorder.totals.failed_requests) == (400, 100)
    assert recorder.totals.total_tokens == 2500
    gate.set()
    await recorder.close()
    assert sum(batches) == 500 and max(batches) <= 200 and len(batches) <= 4
    assert recorder.rows_written == 500


async def test_a_backlog_is_written_in_one_round_not_one_batch_per_pause() -> None:
    """A busy gateway queues far more than a batch per flush interval: after one pause the
    writer must write all of it (in batches), or rows pile up faster than they are written."""
    batches: list[int] = []
    pauses: list[float] = []
    written = asyncio.Event()

    async def sink(rows: Sequence[UsageRow]) -> None:
        batches.append(len(rows))
        if sum(batches) == 1000:
            written.set()

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    recorder = UsageRecorder(sink)
    recorder._pause = pause
    for i in range(1000):
        recorder.record(row(i))
    recorder.start()
    await asyncio.wait_for(written.wait(), 5)
    assert len(pauses) == 1
    assert batches == [200] * 5
    await recorder.close()
    assert recorder.rows_written == 1000


async def test_stop_right_after_a_full_batch_writes_no_empty_batch() -> None:
    batches: list[int] = []

    async def sink(rows: Sequence[UsageRow]) -> None:
        batches.append(len(rows))

    async def pause(seconds: float) -> None:
        pass

    recorder = UsageRecorder(sink)
    recorder._pause = pause
    for i in range(BATCH_SIZE):
        recorder.record(row(i))
    recorder.start()
    await recorder.close()  # the stop marker lands right behind the full batch
    assert batches == [BATCH_SIZE]
    assert recorder.rows_written == BATCH_SIZE


async def test_failed_batch_is_retried() -> None:
    calls: list[int] = []

    async def flaky_sink(rows: Sequence[UsageRow]) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            raise OSError("database is locked")

    recorder = UsageRecorder(flaky_sink)
    recorder.start()
    recorder.record(row(1))
    await recorder.close()
    assert calls == [1, 1] and recorder.rows_written == 1


async def test_cancelled_rows_are_neither_success_nor_failure() -> None:
    recorder = UsageRecorder()
    recorder.record(row(1, "cancelled"))
    totals = recorder.totals
    assert (totals.total_requests, totals.success_requests, totals.failed_requests) == (1, 0, 0)


def test_as_dict_and_as_row_are_every_field_in_order() -> None:
    """Written out by hand for speed: they must still be exactly dataclasses.asdict/astuple."""
    full = UsageRow(
        created_at=12.5,
        request_id="req",
        account_id=None,
        api_key_id="key",
        route="/v1/chat/completions",
        model="gpt-4o",
        stream=False,
        status="error",
        input_tokens=7,
        output_tokens=0,
        credits=0.0,
        latency_ms=40,
        first_token_ms=None,
        error_kind="throttled",
        attempts=3,
    )
    assert full.as_dict() == dataclasses.asdict(full)
    assert list(full.as_dict()) == [f.name for f in dataclasses.fields(UsageRow)]
    assert row(1).as_dict() == dataclasses.asdict(row(1))
    assert full.as_row() == dataclasses.astuple(full)
    assert row(1).as_row() == dataclasses.astuple(row(1))
