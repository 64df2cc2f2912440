"""The reply's first slice is small: a burst's first token waits for a few frames to be
decoded, and the rest of the burst is still decoded in full-size slices, in order."""

from __future__ import annotations

import pytest

from kiro_proxy.kiro.client import (
    DECODE_SLICE_BYTES,
    FIRST_SLICE_BYTES,
    KiroClient,
    UpstreamHttpClient,
)
from kiro_proxy.kiro.events import KiroEvent, TextEvent
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.testing import credentials_for, simple_request


@pytest.fixture(params=["builtin", "aiohttp"])
def upstream_http_client(request: pytest.FixtureRequest) -> UpstreamHttpClient:
    """Every test here runs on the lean builtin transport and on aiohttp."""
    return request.param


async def test_first_event_of_a_burst_comes_after_a_few_frames(
    client: KiroClient, sim: RunningSimulator
) -> None:
    texts = [f"chunk {i:04d} " for i in range(300)]
    account = sim.state.add_account()
    sim.state.enqueue(s.Reply([s.Text(t) for t in texts]), account=account)
    stream = client.generate(simple_request(), credentials_for(account))
    first = await anext(stream)
    frame_bytes = len(s.text_frame("chunk 0000 "))
    assert FIRST_SLICE_BYTES < DECODE_SLICE_BYTES
    held_back = stream.take_ready()
    assert len(held_back) <= FIRST_SLICE_BYTES // frame_bytes + 1
    events: list[KiroEvent] = [first, *held_back]
    reads = 1
    async for event in stream:
        events += [event, *stream.take_ready()]
        reads += 1
    assert [e.text for e in events if isinstance(e, TextEvent)] == texts
    assert reads < len(texts) / 5  # later slices are full-size again
