"""A client that goes away mid-stream: the gateway cancels the upstream request within a second
(the simulator sees its handler cancelled) and the usage row says "cancelled"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from kiro_proxy.simulator.script import Reply, Sleep, Stall, Text
from tests.e2e.stack import LiveStack
from tests.reliability.reliability_harness import Api, awaits_function, request_for


def _upstream_streams(stack: LiveStack) -> int:
    """Simulator handlers still writing a scripted reply (what the gateway has not closed)."""
    return stack.call(
        lambda: sum(
            1 for task in asyncio.all_tasks(stack.loop) if awaits_function(task, "_stream_reply")
        )
    )


async def _wait_until(predicate: Callable[[], bool], within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if predicate():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {within}s")


async def _usage_row(stack: LiveStack, request_id: str | None) -> dict:  # type: ignore[type-arg]
    """The request's usage row, once the batching writer has stored it (it waits 0.5 s)."""

    async def read() -> list[dict]:  # type: ignore[type-arg]
        await stack.runtime.recorder.flush()
        return await stack.runtime.usage.recent(500)

    deadline = time.monotonic() + 5
    while True:
        mine = [r for r in stack.run(read()) if r["request_id"] == request_id]
        if mine or time.monotonic() > deadline:
            assert len(mine) == 1, f"usage rows for {request_id}: {mine}"
            return mine[0]
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("api", ["anthropic", "openai"])
@pytest.mark.parametrize("tail", ["stall", "slow_text"])
async def test_disconnect_mid_stream_cancels_upstream_and_records_cancelled(
    rstack: LiveStack, api: Api, tail: str
) -> None:
    # A long upstream reply: either silent (Stall, shorter than the idle timeout would allow
    # only because the test ends first) or still producing text slowly.
    steps = [Text("first words ")]
    if tail == "stall":
        steps.append(Stall())
    else:
        steps += [step for _ in range(20) for step in (Sleep(0.3), Text("more "))]
    rstack.enqueue(Reply(steps))
    path, body = request_for(api, stream=True)
    # The idle timeout of this stack is 1 s: the Stall case must be decided by the disconnect,
    # so the client leaves well before it.
    async with httpx.AsyncClient(base_url=rstack.url, timeout=30) as http:
        async with http.stream("POST", path, json=body) as response:
            assert response.status_code == 200
            received = b""
            async for chunk in response.aiter_bytes():
                received += chunk
                if b"first words" in received:
                    break
            assert _upstream_streams(rstack) == 1
            request_id = response.headers.get("x-request-id")
    # Leaving the `async with` closed the connection in the middle of the stream.
    elapsed = await _wait_until(lambda: _upstream_streams(rstack) == 0, within=1.0)
    assert elapsed < 1.0
    row = await _usage_row(rstack, request_id)
    assert row["status"] == "cancelled"
    assert row["error_kind"] == "client_disconnected"
    # The account is free again.
    assert all(a.in_flight == 0 for a in rstack.runtime.pool.all())
