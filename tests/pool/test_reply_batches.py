"""UpstreamReply.batches: the first event alone (time to first token), then each event with
those already decoded behind it, at most BATCH_LIMIT per group; plain iterators work too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from kiro_proxy.kiro.events import KiroEvent, TextEvent
from kiro_proxy.kiro.reply_stream import KiroEventStream
from kiro_proxy.pool.account import Account
from kiro_proxy.pool.reply import BATCH_LIMIT, RequestContext, UpstreamReply


async def _reads(reads: list[list[KiroEvent]]) -> AsyncIterator[list[KiroEvent]]:
    for read in reads:
        yield read


async def _plain(events: list[KiroEvent]) -> AsyncIterator[KiroEvent]:
    for event in events:
        yield event


def _reply(stream: Any) -> UpstreamReply:
    return UpstreamReply(
        on_finish=lambda *a, **k: None,
        account=Account(id="a1"),
        stream=stream,
        first_event=None,
        context=RequestContext(route="/v1/messages", model="m", stream=True),
        started=0.0,
        first_event_at=0.0,
        attempts=1,
    )


def _texts(start: int, count: int) -> list[KiroEvent]:
    return [TextEvent(f"t{i}") for i in range(start, start + count)]


async def _opened(reads: list[list[KiroEvent]]) -> UpstreamReply:
    """As the dispatcher hands it over: the first event already pulled from the stream."""
    stream = KiroEventStream(_reads(reads))
    first = await anext(stream)
    reply = _reply(stream)
    reply._first = first
    return reply


async def test_first_event_alone_then_what_arrived_together() -> None:
    reads = [_texts(0, 5), _texts(5, 3)]
    reply = await _opened(reads)
    groups = [batch async for batch in reply.batches()]
    assert groups == [_texts(0, 1), _texts(1, 4), _texts(5, 3)]


async def test_groups_are_capped() -> None:
    reads = [_texts(0, 1 + 2 * BATCH_LIMIT + 3)]
    reply = await _opened(reads)
    sizes = [len(batch) async for batch in reply.batches()]
    assert sizes == [1, BATCH_LIMIT, BATCH_LIMIT, 3]


async def test_a_stream_without_take_ready_gives_groups_of_one() -> None:
    events = _texts(0, 4)
    reply = _reply(_plain(events))
    assert [batch async for batch in reply.batches()] == [[e] for e in events]
