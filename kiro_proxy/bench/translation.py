"""In-process timing of the translation path for a Claude Code-sized request and its reply.

Request side: parse (orjson + pydantic) → conversation → build_kiro_request → to_json.
Response side: a typical streamed reply (text chunks, a tool call, usage events) decoded from
event-stream bytes, through the ReplyAssembler and the Anthropic SSE renderer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kiro_proxy.bench.payloads import MODEL, claude_code_request
from kiro_proxy.bench.stats import summarize
from kiro_proxy.kiro.events import event_from_parts
from kiro_proxy.kiro.eventstream import EventStreamDecoder, encode_event
from kiro_proxy.translate.anthropic_request import (
    anthropic_to_conversation,
    parse_anthropic_request,
)
from kiro_proxy.translate.anthropic_response import AnthropicStreamRenderer
from kiro_proxy.translate.assembler import ReplyAssembler
from kiro_proxy.translate.kiro_request import build_kiro_request
from kiro_proxy.translate.models import resolve_model
from kiro_proxy.translate.tokens import count_text_tokens, count_tokens

REPLY_TEXT_CHUNKS = 200


def typical_reply_stream() -> bytes:
    """200 text chunks, one tool call in three fragments, then Kiro's usage events."""
    words = "Let me look at the failing test and the function it calls before changing it. "
    frames = [
        encode_event("assistantResponseEvent", {"content": words[: 12 + i % 30]})
        for i in range(REPLY_TEXT_CHUNKS)
    ]
    tool = {"name": "Read", "toolUseId": "tooluse_bench0001"}
    frames += [
        encode_event("toolUseEvent", {**tool, "input": '{"file_path": '}),
        encode_event("toolUseEvent", {**tool, "input": '"/repo/src/app.py"}'}),
        encode_event("toolUseEvent", {**tool, "stop": True}),
        encode_event("meteringEvent", {"unit": "credit", "unitPlural": "credits", "usage": 0.05}),
        encode_event("contextUsageEvent", {"contextUsagePercentage": 12.5}),
    ]
    return b"".join(frames)


def _time(fn: Callable[[], Any], rounds: int) -> dict[str, float]:
    fn()  # warm caches (tokenizer, pydantic validators)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return summarize(samples)


def measure_translation(rounds: int = 50) -> dict[str, Any]:
    body = claude_code_request()
    model = resolve_model(MODEL)

    def request_side() -> bytes:
        conv = anthropic_to_conversation(parse_anthropic_request(body))
        kiro = build_kiro_request(
            conv, model_id=model.kiro_model_id, thinking=False, conversation_id="bench"
        )
        return kiro.to_json()

    conv = anthropic_to_conversation(parse_anthropic_request(body))
    built = build_kiro_request(
        conv, model_id=model.kiro_model_id, thinking=False, conversation_id="bench"
    )
    stream = typical_reply_stream()
    chunks = [stream[i : i + 1024] for i in range(0, len(stream), 1024)]

    def response_side() -> int:
        decoder = EventStreamDecoder()
        assembler = ReplyAssembler(
            tool_name_map=built.tool_name_map,
            estimated_input_tokens=25_000,
            count_tokens=count_text_tokens,
        )
        renderer = AnthropicStreamRenderer(
            message_id="msg_bench", model=MODEL, thinking_format="thinking", input_tokens=25_000
        )
        size = len(renderer.message_start())
        for chunk in chunks:
            # The gateway's own path (kiro/client.py): typed events straight out of the decoder.
            for event in decoder.feed_as(chunk, event_from_parts):
                for out in assembler.feed(event):
                    size += len(renderer.render(out))
        for out in assembler.finish():
            size += len(renderer.render(out))
        return size

    steps = {
        "parse_ms": _time(lambda: parse_anthropic_request(body), rounds),
        "conversation_ms": _time(
            lambda: anthropic_to_conversation(parse_anthropic_request(body)), rounds
        ),
        "token_count_ms": _time(lambda: count_tokens(conv), rounds),
        "request_total_ms": _time(request_side, rounds),
        "response_total_ms": _time(response_side, rounds),
    }
    return {
        "request_bytes": len(body),
        "kiro_request_bytes": len(built.to_json()),
        "messages": len(conv.messages),
        "tools": len(conv.tools),
        "reply_text_chunks": REPLY_TEXT_CHUNKS,
        "reply_stream_bytes": len(stream),
        "sse_bytes": response_side(),
        **steps,
    }
