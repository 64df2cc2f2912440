"""Usage recording: one row per request, written off the hot path, plus running totals.

`record` only appends to a queue; a background task writes rows in batches through a sink (the
store's usage repository). `close` drains the queue, so nothing is lost on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

BATCH_SIZE = 200
FLUSH_INTERVAL_SECONDS = 0.5


@dataclass(slots=True)
class UsageRow:
    """One finished request, as queued for the database and fed to the metrics. Treated as
    immutable once recorded; not declared frozen because a frozen dataclass's __init__ sets each
    of the 15 fields through object.__setattr__ (~4x the cost, once per request)."""

    created_at: float
    request_id: str
    account_id: str | None
    api_key_id: str | None
    route: str
    model: str
    stream: bool
    status: str  # success | error | cancelled
    input_tokens: int
    output_tokens: int
    credits: float
    latency_ms: int
    first_token_ms: int | None
    error_kind: str | None
    attempts: int = 1

    def as_row(self) -> tuple[object, ...]:
        """The values in field order (the usage table's column order)."""
        return (
            self.created_at,
            self.request_id,
            self.account_id,
            self.api_key_id,
            self.route,
            self.model,
            self.stream,
            self.status,
            self.input_tokens,
            self.output_tokens,
            self.credits,
            self.latency_ms,
            self.first_token_ms,
            self.error_kind,
            self.attempts,
        )

    def as_dict(self) -> dict[str, object]:
        # Spelled out: dataclasses.asdict deep-copies field by field, ~6x the cost, and the
        # usage writer calls this for every row. test_usage_recorder checks it matches.
        return {
            "created_at": self.created_at,
            "request_id": self.request_id,
            "account_id": self.account_id,
            "api_key_id": self.api_key_id,
            "route": self.route,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "credits": self.credits,
            "latency_ms": self.latency_ms,
            "first_token_ms": self.first_token_ms,
            "error_kind": self.error_kind,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class UsageTotals:
    """Global counters as `/v1/stats` reports them (Kiro-Go's names, camelCase on the wire)."""

    total_requests: int = 0
    success_requests: int = 0
    failed_requests: int = 0
    total_tokens: int = 0
    total_credits: float = 0.0

    def add(self, row: UsageRow) -> None:
        self.total_requests += 1
        if row.status == "success":
            self.success_requests += 1
        elif row.status != "cancelled":
            self.failed_requests += 1
        self.total_tokens += max(0, row.input_tokens) + max(0, row.output_tokens)
        self.total_credits += max(0.0, row.credits)

    def merge(self, other: UsageTotals) -> None:
        self.total_requests += other.total_requests
        self.success_requests += other.success_requests
        self.failed_requests += other.failed_requests
        self.total_tokens += other.total_tokens
        self.total_credits += other.total_credits

    def __bool__(self) -> bool:
        return bool(self.total_requests or self.total_tokens or self.total_credits)


UsageSink = Callable[[Sequence[UsageRow]], Awaitable[None]]


class UsageRecorder:
    def __init__(self, sink: UsageSink | None = None, *, totals: UsageTotals | None = None) -> None:
        self._sink = sink
        self.totals = totals or UsageTotals()
        # What this process counted since the totals were last added to the database: several
        # workers add to the same stored totals, so they write increments, never their view.
        self.unflushed = UsageTotals()
        self._queue: asyncio.Queue[UsageRow | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.rows_written = 0
        self._pause: Callable[[float], Awaitable[None]] = asyncio.sleep

    def record(self, row: UsageRow) -> None:
        """Count the request and queue its row; never waits."""
        self.totals.add(row)
        self.unflushed.add(row)
        if self._sink is not None and not self._closed:
            self._queue.put_nowait(row)

    def take_unflushed(self) -> UsageTotals:
        taken, self.unflushed = self.unflushed, UsageTotals()
        return taken

    def restore_unflushed(self, taken: UsageTotals) -> None:
        self.unflushed.merge(taken)

    def adopt_stored_totals(self, stored: UsageTotals) -> None:
        """The totals are the stored ones (every worker's) plus what is not yet written."""
        stored.merge(self.unflushed)
        self.totals = stored

    def start(self) -> None:
        if self._sink is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-writer")

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                break
            # Let a burst accumulate so that one transaction carries many rows, then write
            # everything queued by now (in batches) before pausing again: pausing once per batch
            # capped the writer at BATCH_SIZE rows per interval, below a busy gateway's rate.
            await self._pause(FLUSH_INTERVAL_SECONDS)
            if await self._write_queued(first):
                break
        await self.flush()

    async def _write_queued(self, first: UsageRow) -> bool:
        """Write `first` and every row queued now; True when the stop marker was among them."""
        batch = [first]
        stop = False
        while not self._queue.empty():
            row = self._queue.get_nowait()
            if row is None:
                stop = True
                break
            batch.append(row)
            if len(batch) == BATCH_SIZE:
                await self._write(batch)
                batch = []
        if batch:  # empty when the last full batch was just written
            await self._write(batch)
        return stop

    async def _write(self, batch: list[UsageRow]) -> None:
        assert self._sink is not None
        for attempt in range(3):
            try:
                await self._sink(batch)
                self.rows_written += len(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "usage writer: batch of %d rows failed (try %d)", len(batch), attempt + 1
                )
                await asyncio.sleep(0.2 * (attempt + 1))
        log.error("usage writer: dropped %d usage rows after 3 failures", len(batch))

    async def flush(self) -> None:
        """Write everything queued so far (used by close and by tests)."""
        if self._sink is None:
            return
        while not self._queue.empty():
            batch: list[UsageRow] = []
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                row = self._queue.get_nowait()
                if row is not None:
                    batch.append(row)
            if batch:
                await self._write(batch)

    async def close(self) -> None:
        """Stop the writer after it has written every queued row (a cancel could lose a batch
        in flight, so the writer is asked to stop rather than cancelled)."""
        self._closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        await self.flush()
