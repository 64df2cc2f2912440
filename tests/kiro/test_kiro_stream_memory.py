"""What an open reply stream keeps alive: not the request it sent (a long history is hundreds
of KB), and not the events it has already handed over."""

from __future__ import annotations

from collections.abc import AsyncIterator

from kiro_proxy.kiro.client import KiroClient
from kiro_proxy.kiro.events import KiroEvent, TextEvent
from kiro_proxy.kiro.reply_stream import KiroEventStream
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.testing import credentials_for, simple_request


async def test_open_stream_no_longer_references_the_request(
    client: KiroClient, sim: RunningSimulator
) -> None:
    account = sim.state.add_account()
    sim.state.enqueue(s.Reply([s.Text("first"), s.Sleep(0.2), s.Text("second")]), account=account)
    request = simple_request("x" * 50_000)
    stream = client.generate(request, credentials_for(account))
    assert isinstance(await anext(stream), TextEvent)
    frame = stream._batches.ag_frame  # type: ignore[attr-defined]
    held = list(frame.f_locals.values())
    assert not any(value is request for value in held)
    assert not any(isinstance(value, bytes) and len(value) > 10_000 for value in held)
    rest = [e async for e in stream]
    assert [e.text for e in rest if isinstance(e, TextEvent)] == ["second"]


async def _batches(items: list[list[KiroEvent]]) -> AsyncIterator[list[KiroEvent]]:
    for batch in items:
        yield batch


async def test_spent_events_are_released() -> None:
    a, b, c = (TextEvent(t) for t in "abc")
    stream = KiroEventStream(_batches([[a, b], [c]]))
    assert await anext(stream) is a
    assert await anext(stream) is b
    assert stream._ready == []  # the spent batch is no longer referenced
    assert await anext(stream) is c
    assert stream.take_ready() == []
    assert stream._ready == []


async def test_take_ready_with_limits_walks_the_batch() -> None:
    events = [TextEvent(str(i)) for i in range(6)]
    stream = KiroEventStream(_batches([events]))
    assert await anext(stream) is events[0]
    assert stream.take_ready(2) == events[1:3]
    assert stream.take_ready(0) == []
    assert stream.take_ready(10) == events[3:]
    assert [e async for e in stream] == []
