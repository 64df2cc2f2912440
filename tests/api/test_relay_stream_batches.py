"""relay.stream_events writes each upstream batch as one chunk: the rendered outputs of every
event in it, in order, whether an event gives none, one or several outputs."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from kiro_proxy.api.relay import stream_events
from kiro_proxy.kiro.events import (
    KiroEvent,
    MeteringEvent,
    ReasoningSignatureEvent,
    ReasoningTextEvent,
    TextEvent,
    ToolUseEvent,
)
from kiro_proxy.kiro.reply_stream import KiroEventStream
from kiro_proxy.pool.account import Account
from kiro_proxy.pool.reply import RequestContext, UpstreamReply
from kiro_proxy.translate.anthropic_response import AnthropicStreamRenderer
from kiro_proxy.translate.assembler import ReplyAssembler
from kiro_proxy.translate.tokens import count_text_tokens

# Events with zero outputs (metering), one (text in an open block) and several (a tool call
# closing the text block and opening its own; reasoning after text).
BATCHES: list[list[KiroEvent]] = [
    [TextEvent("Hello"), MeteringEvent(0.5), TextEvent(" world")],
    [
        ToolUseEvent("t1", "get_weather", '{"city": ', False),
        ToolUseEvent("t1", None, '"Paris"}', True),
        MeteringEvent(0.25),
    ],
    [ReasoningTextEvent("hmm"), ReasoningSignatureEvent("sig"), TextEvent("done")],
]


def _pipeline() -> tuple[ReplyAssembler, AnthropicStreamRenderer]:
    assembler = ReplyAssembler(
        tool_name_map={}, estimated_input_tokens=10, count_tokens=count_text_tokens
    )
    renderer = AnthropicStreamRenderer(
        message_id="msg_1", model="claude", thinking_format="thinking", input_tokens=10
    )
    return assembler, renderer


def _expected() -> tuple[list[bytes], int]:
    """Each batch rendered event by event, output by output (the plain reference)."""
    assembler, renderer = _pipeline()
    chunks = []
    several = 0
    for index, batch in enumerate(BATCHES):
        head = renderer.message_start() if index == 0 else b""
        parts = [head]
        for event in batch:
            outs = assembler.feed(event)
            several += len(outs) > 1
            parts += [renderer.render(out) for out in outs]
        chunks.append(b"".join(parts))
    chunks.append(b"".join(renderer.render(out) for out in assembler.finish()))
    return chunks, several


async def _batches() -> AsyncGenerator[list[KiroEvent], None]:
    for batch in BATCHES:
        yield batch


async def test_each_batch_is_one_chunk_of_all_its_rendered_outputs() -> None:
    finished: list[dict[str, Any]] = []
    stream = KiroEventStream(_batches())
    reply = UpstreamReply(
        on_finish=lambda account, context, **kw: finished.append(kw),
        account=Account(id="a"),
        stream=stream,
        first_event=None,
        context=RequestContext(route="messages", model="claude", stream=True),
        started=0.0,
        first_event_at=0.0,
        attempts=1,
    )
    assembler, renderer = _pipeline()
    chunks = [
        chunk
        async for chunk in stream_events(
            reply, assembler, renderer, on_error=renderer.error, head=renderer.message_start()
        )
    ]
    expected, several = _expected()
    assert several >= 2  # the batches really have events with several outputs
    assert chunks == expected
    assert b'"text":"Hello"' in chunks[0] and b"get_weather" in chunks[1]
    assert [f["status"] for f in finished] == ["success"]
    assert finished[0]["credits"] == 0.75
