"""KiroEventStream: events one by one, or the already-decoded ones at once (`take_ready`), and a
large read decoded a slice at a time so its first events are not held back by the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kiro_proxy.kiro.client import DECODE_SLICE_BYTES, KiroClient, UpstreamHttpClient
from kiro_proxy.kiro.events import KiroEvent, MetadataEvent, TextEvent
from kiro_proxy.kiro.reply_stream import KiroEventStream
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.testing import credentials_for, simple_request


@pytest.fixture(params=["builtin", "aiohttp"])
def upstream_http_client(request: pytest.FixtureRequest) -> UpstreamHttpClient:
    """Every test here runs on the lean builtin transport and on aiohttp."""
    return request.param


def _texts(count: int) -> list[s.Step]:
    return [s.Text(f"chunk {i:04d} ") for i in range(count)]


async def _batches_of(items: list[list[KiroEvent]]) -> AsyncIterator[list[KiroEvent]]:
    for batch in items:
        yield batch


async def test_take_ready_hands_over_decoded_events_without_io() -> None:
    a, b, c, d = (TextEvent(t) for t in "abcd")
    stream = KiroEventStream(_batches_of([[a, b, c], [d]]))
    assert await anext(stream) is a
    assert stream.take_ready(1) == [b]
    assert stream.take_ready() == [c]
    assert stream.take_ready() == []  # nothing decoded is left: the next event needs a read
    assert [e async for e in stream] == [d]


async def test_one_by_one_and_batched_reads_give_the_same_events(
    client: KiroClient, sim: RunningSimulator
) -> None:
    account = sim.state.add_account()
    steps = [*_texts(300), s.Metadata(uncached_input_tokens=5, output_tokens=7)]
    sim.state.enqueue(s.Reply(steps), s.Reply(steps), account=account)
    one_by_one = [e async for e in client.generate(simple_request(), credentials_for(account))]

    stream = client.generate(simple_request(), credentials_for(account))
    batched: list[KiroEvent] = []
    reads = 0
    async for event in stream:
        batched += [event, *stream.take_ready()]
        reads += 1
    assert batched == one_by_one
    assert [e.text for e in batched if isinstance(e, TextEvent)] == [
        f"chunk {i:04d} " for i in range(300)
    ]
    assert isinstance(batched[-1], MetadataEvent)
    assert reads < len(batched) / 5  # most events came with others, not one read each


async def test_a_large_read_yields_its_first_events_before_decoding_the_rest(
    client: KiroClient, sim: RunningSimulator
) -> None:
    """The simulator writes all 300 frames (~20 KB) at once; the first event must come with
    only a slice's worth of events decoded, not the whole read."""
    account = sim.state.add_account()
    sim.state.enqueue(s.Reply(_texts(300)), account=account)
    stream = client.generate(simple_request(), credentials_for(account))
    first = await anext(stream)
    assert isinstance(first, TextEvent) and first.text == "chunk 0000 "
    frame_bytes = len(s.text_frame("chunk 0000 "))
    assert len(stream.take_ready()) < DECODE_SLICE_BYTES // frame_bytes + 1
    await stream.aclose()


async def test_aclose_mid_stream_releases_the_connection(
    client: KiroClient, sim: RunningSimulator
) -> None:
    account = sim.state.add_account()
    sim.state.enqueue(s.Benchmark(chunks=50000, size=32), account=account)
    stream = client.generate(simple_request(), credentials_for(account))
    assert isinstance(await anext(stream), TextEvent)
    assert _connections_in_use(client) == 1  # the open reply's
    await stream.aclose()
    assert stream.take_ready() == []
    assert _connections_in_use(client) == 0  # the unlimited pools would hide a leak
    assert client.idle_connections() == 0  # a half-read reply's connection is closed, not pooled
    sim.state.enqueue(s.Reply([s.Text("after")]), account=account)
    events = [e async for e in client.generate(simple_request(), credentials_for(account))]
    assert [e.text for e in events if isinstance(e, TextEvent)] == ["after"]


def _connections_in_use(client: KiroClient) -> int:
    if client._http1 is not None:
        return client._http1.open_count - client._http1.idle_count
    connector = client._session.connector  # type: ignore[union-attr]
    return len(connector._acquired)  # type: ignore[union-attr]
