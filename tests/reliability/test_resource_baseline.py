"""Thousands of faulty requests leave nothing behind: sockets, file descriptors, asyncio tasks
and memory come back to their baseline, every account is free and every request has its row."""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiro_proxy.simulator import script as sim
from kiro_proxy.simulator.script import (
    CorruptNext,
    Drop,
    ErrorFrame,
    ExceptionFrame,
    Reply,
    Scripted,
    Text,
)
from tests.e2e.stack import LiveStack
from tests.reliability.reliability_harness import (
    open_fds,
    rss_bytes,
    send,
    socket_count,
)

CONCURRENCY = 16
ROUND = 1000
FAULT_RATE = 0.3


def _faults() -> list[Scripted]:
    partial = Text("partial ")
    return [
        sim.server_error(500),
        sim.server_error(503),
        sim.bad_request(),
        Reply([ExceptionFrame("InternalServerException", "first")]),
        Reply([partial, ExceptionFrame("InternalServerException", "mid")]),
        Reply([partial, ErrorFrame("InternalError", "mid")]),
        Reply([Drop()]),
        Reply([partial, Drop()]),
        Reply([partial, CorruptNext(5), *(Text(c) for c in "abcdef")]),
    ]


@pytest.fixture(scope="module")
def leak_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(
        Path(tmp_path_factory.mktemp("leaks")),
        accounts=4,
        settings={"first_byte_timeout": 1.0, "idle_timeout": 1.0},
    ) as live:
        rng = random.Random(1234)
        faults = _faults()

        def responder(_body: dict[str, Any]) -> Scripted | None:
            return rng.choice(faults) if rng.random() < FAULT_RATE else None

        live.call(lambda: setattr(live.state, "responder", responder))
        yield live


async def _round(stack: LiveStack, count: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            if index % 25 == 0:
                stack.reset_health()  # keep accounts in play: cooldowns would make it all 529s
            api = "anthropic" if index % 2 else "openai"
            stream = index % 4 < 2
            started = time.monotonic()
            try:
                outcome = await send(http, api, stream=stream)
            except httpx.TransportError as error:
                # Seen once in a full run (ReadError on a kept-alive connection): name the request,
                # so that the next occurrence can be matched with the gateway's captured stderr.
                raise AssertionError(
                    f"request {index} ({api}, stream={stream}) failed on the wire after "
                    f"{time.monotonic() - started:.2f} s: {error!r}; statuses so far {statuses}"
                ) from error
            assert outcome.seconds < 10
            assert outcome.ok or outcome.error is not None, outcome.raw[:300]
            statuses[outcome.status] += 1

    async with httpx.AsyncClient(base_url=stack.url, timeout=30, limits=limits) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
    return statuses


def _tasks(stack: LiveStack) -> int:
    return stack.call(lambda: len(asyncio.all_tasks(stack.loop)))


def _idle_upstream_connections(stack: LiveStack) -> int:
    """Keep-alive connections parked in the gateway's upstream pool. Each is legitimately open:
    two sockets in this process (gateway end, simulator end) and one simulator handler task."""
    return stack.app.state.services.client.idle_connections()


async def _settled(stack: LiveStack) -> dict[str, int]:
    """Resources once the stack is idle: poll until two readings in a row agree."""
    previous: dict[str, int] | None = None
    deadline = time.monotonic() + 10
    while True:
        await asyncio.sleep(0.3)
        gc.collect()
        idle = stack.call(lambda: _idle_upstream_connections(stack))
        reading = {
            "sockets": socket_count() - 2 * idle,
            "fds": len(open_fds()) - 2 * idle,
            "tasks": _tasks(stack) - idle,
            "idle_upstream": idle,
        }
        if reading == previous or time.monotonic() > deadline:
            reading["rss"] = rss_bytes()
            return reading
        previous = reading


async def test_resources_return_to_baseline_after_thousands_of_faulty_requests(
    leak_stack: LiveStack,
) -> None:
    await _round(leak_stack, 300)  # warm-up: pools, caches, lazy imports
    baseline = await _settled(leak_stack)
    first = await _round(leak_stack, ROUND)
    after_first = await _settled(leak_stack)
    second = await _round(leak_stack, ROUND)
    after_second = await _settled(leak_stack)
    statuses = first + second
    assert statuses[200] > ROUND, statuses  # failover turned most faults into answers
    assert len(statuses) >= 3, statuses  # and some errors reached the clients
    assert set(statuses) - {200, 400, 502, 503, 529} == set(), statuses

    report = f"baseline {baseline}, after {after_first}, then {after_second}, statuses {statuses}"
    # Not counting parked keep-alive connections, nothing may stay open: a leak would grow
    # with the 2,000 requests.
    assert after_second["sockets"] <= baseline["sockets"] + 2, report
    assert after_second["fds"] <= baseline["fds"] + 2, report
    assert after_second["tasks"] <= baseline["tasks"] + 1, report
    assert after_second["idle_upstream"] <= 4 * CONCURRENCY, report
    # Flat memory: the second 1,000 requests must not grow RSS like the first did.
    assert after_second["rss"] - after_first["rss"] < 16 * 1024 * 1024, report

    runtime = leak_stack.runtime
    assert all(a.in_flight == 0 for a in runtime.pool.all()), report
    assert not runtime.dispatcher._background, report

    # Every request is accounted for in the usage log (rows written = requests counted).
    async def written() -> tuple[int, int]:
        await runtime.recorder.flush()
        return await runtime.usage.count(), runtime.recorder.totals.total_requests

    deadline = time.monotonic() + 5
    rows, counted = leak_stack.run(written())
    while rows != counted and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        rows, counted = leak_stack.run(written())
    assert rows == counted == 300 + 2 * ROUND, (rows, counted)
