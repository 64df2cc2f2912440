"""The renderers' text fast paths write exactly what orjson writes for the whole event object.

A streamed text chunk is rendered as precomputed bytes + orjson-escaped text + precomputed
bytes; for any text (quotes, backslashes, control characters, non-ASCII, surrogate-free
Unicode) that must equal serialising the full event dict, in every block position.
"""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.api.sse import data_event, named_event
from kiro_proxy.translate.anthropic_response import AnthropicStreamRenderer
from kiro_proxy.translate.openai_response import OpenAIStreamRenderer
from kiro_proxy.translate.output import (
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallEnd,
    ToolCallStart,
)

texts = st.lists(st.text(max_size=40), min_size=1, max_size=12)


def anthropic_renderer(thinking_format: str = "native") -> AnthropicStreamRenderer:
    return AnthropicStreamRenderer(
        message_id="msg_1", model="m", thinking_format=thinking_format, input_tokens=3
    )


def anthropic_text_delta(index: int, text: str) -> bytes:
    return named_event(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        },
    )


@settings(max_examples=200, deadline=None)
@given(chunks=texts, blocks_before=st.integers(0, 3))
def test_anthropic_text_deltas_equal_the_serialised_event(
    chunks: list[str], blocks_before: int
) -> None:
    renderer = anthropic_renderer()
    for i in range(blocks_before):  # tool blocks first, so the text block has a later index
        renderer.render(ToolCallStart(i, f"t{i}", "Read"))
        renderer.render(ToolCallEnd(i, {}, "{}"))
    start = renderer.render(TextDelta("first"))
    assert start.endswith(anthropic_text_delta(blocks_before, "first"))
    for text in chunks:
        expected = anthropic_text_delta(blocks_before, text) if text else b""
        assert renderer.render(TextDelta(text)) == expected


def test_anthropic_text_inside_inline_thinking_uses_the_same_bytes() -> None:
    renderer = anthropic_renderer("thinking")
    opened = renderer.render(ThinkingDelta("hm"))
    assert opened.endswith(anthropic_text_delta(0, "<thinking>") + anthropic_text_delta(0, "hm"))
    assert renderer.render(TextDelta('a "quoted"\n')) == anthropic_text_delta(0, 'a "quoted"\n')
    closed = renderer.render(ThinkingEnd())
    assert closed == anthropic_text_delta(0, "</thinking>\n\n")


def test_anthropic_text_after_native_thinking_opens_a_new_block() -> None:
    renderer = anthropic_renderer()
    renderer.render(ThinkingDelta("hm"))
    out = renderer.render(TextDelta("answer"))
    assert out.startswith(
        named_event("content_block_stop", {"type": "content_block_stop", "index": 0})
    )
    assert out.endswith(anthropic_text_delta(1, "answer"))


def openai_chunk(delta: dict[str, object]) -> bytes:
    return data_event(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 7,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
        }
    )


@settings(max_examples=200, deadline=None)
@given(chunks=texts, thinking_format=st.sampled_from(["reasoning_content", "thinking", "think"]))
def test_openai_content_chunks_equal_the_serialised_chunk(
    chunks: list[str], thinking_format: str
) -> None:
    renderer = OpenAIStreamRenderer(
        completion_id="chatcmpl-1",
        model="m",
        created=7,
        thinking_format=thinking_format,
        include_usage=False,
    )
    first = renderer.render(TextDelta("x"))
    assert first == openai_chunk({"role": "assistant", "content": ""}) + openai_chunk(
        {"content": "x"}
    )
    for text in chunks:
        expected = openai_chunk({"content": text}) if text else b""
        assert renderer.render(TextDelta(text)) == expected
    # Inline thinking goes through the generic path and must agree too.
    if thinking_format != "reasoning_content":
        tag = "<thinking>" if thinking_format == "thinking" else "<think>"
        assert renderer.render(ThinkingDelta("r")) == openai_chunk({"content": tag}) + (
            openai_chunk({"content": "r"})
        )


def test_orjson_escaping_is_what_the_templates_rely_on() -> None:
    # The templates splice orjson.dumps(text) into fixed bytes: the result must parse back.
    text = 'q"\\\n\t\x00\u2028é😀'
    frame = anthropic_renderer().render(TextDelta(text))
    data = frame.split(b"\n\n")[1].split(b"data: ", 1)[1]
    assert orjson.loads(data)["delta"]["text"] == text
