import anthropic
import orjson
import pytest

from kiro_proxy.translate.anthropic_response import AnthropicMessageBuilder, AnthropicStreamRenderer
from kiro_proxy.translate.output import (
    Finish,
    RedactedThinking,
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from tests.translate.sdk_mock import sse_http_client

USAGE = Usage(
    input_tokens=1500,
    output_tokens=42,
    cache_read_input_tokens=1000,
    cache_creation_input_tokens=200,
)

SCRIPT = [
    ThinkingDelta("let me "),
    ThinkingDelta("think"),
    ThinkingEnd("sig-1"),
    TextDelta("I will "),
    TextDelta("read it."),
    ToolCallStart(0, "toolu_1", "Read"),
    ToolCallDelta(0, '{"file_path": "/tmp/'),
    ToolCallDelta(0, 'a.py", "limit": 1'),
    ToolCallDelta(0, "0}"),
    ToolCallEnd(0, {"file_path": "/tmp/a.py", "limit": 10}),
    TextDelta("And more."),
    ToolCallStart(1, "toolu_2", "Write"),
    ToolCallDelta(1, '{"content": "hel'),
    ToolCallEnd(1, {"content": "hel"}, '"}', True),
    Finish("tool_use", USAGE),
]


def render(events, thinking_format="native", input_tokens=900) -> bytes:
    renderer = AnthropicStreamRenderer(
        message_id="msg_1",
        model="claude-sonnet-4.5",
        thinking_format=thinking_format,
        input_tokens=input_tokens,
    )
    return renderer.message_start() + b"".join(renderer.render(e) for e in events)


def parse_sse(data: bytes) -> list[tuple[str, dict]]:
    frames = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        payload = orjson.loads(data_line[6:])
        assert payload["type"] == event_line[7:]
        frames.append((event_line[7:], payload))
    return frames


def sdk_client(body: bytes) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test",
        base_url="http://127.0.0.1:9",
        http_client=sse_http_client(body),
        max_retries=0,
    )


def sdk_final_message(body: bytes):
    client = sdk_client(body)
    with client.messages.stream(
        model="m", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def check_grammar(frames: list[tuple[str, dict]]) -> None:
    names = [name for name, _ in frames]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    open_index = None
    next_index = 0
    for name, payload in frames[1:-2]:
        if name == "content_block_start":
            assert open_index is None and payload["index"] == next_index
            open_index = next_index
            next_index += 1
        elif name == "content_block_delta":
            assert payload["index"] == open_index
        elif name == "content_block_stop":
            assert payload["index"] == open_index
            open_index = None
        else:
            assert name == "ping"
    assert open_index is None


def test_exact_event_grammar_native():
    frames = parse_sse(render(SCRIPT))
    check_grammar(frames)
    start = frames[0][1]["message"]
    assert start == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4.5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 900,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    steps = [
        (n, p.get("index"), (p.get("content_block") or p.get("delta") or {}).get("type"))
        for n, p in frames[1:]
    ]
    assert steps == [
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, "tool_use"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("content_block_start", 3, "text"),
        ("content_block_delta", 3, "text_delta"),
        ("content_block_stop", 3, None),
        ("content_block_start", 4, "tool_use"),
        ("content_block_delta", 4, "input_json_delta"),
        ("content_block_delta", 4, "input_json_delta"),  # the repair suffix
        ("content_block_stop", 4, None),
        ("content_block_start", 5, "text"),  # the truncation note
        ("content_block_delta", 5, "text_delta"),
        ("content_block_stop", 5, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    assert frames[10][1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "Read",
        "input": {},
    }
    delta = frames[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    # Anthropic's input_tokens excludes the cache buckets
    assert delta["usage"] == {
        "input_tokens": 300,
        "output_tokens": 42,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 1000,
    }


def test_anthropic_sdk_accumulates_the_stream():
    message = sdk_final_message(render(SCRIPT) + AnthropicStreamRenderer.ping())
    assert [b.type for b in message.content] == [
        "thinking",
        "text",
        "tool_use",
        "text",
        "tool_use",
        "text",
    ]
    assert message.content[0].thinking == "let me think" and message.content[0].signature == "sig-1"
    assert message.content[1].text == "I will read it."
    assert message.content[2].input == {"file_path": "/tmp/a.py", "limit": 10}
    assert message.content[2].name == "Read" and message.content[2].id == "toolu_1"
    assert message.content[4].input == {"content": "hel"}
    assert "cut off" in message.content[5].text
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (300, 42)
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (
        1000,
        200,
    )


def test_non_streaming_builder_matches_the_stream():
    builder = AnthropicMessageBuilder(
        message_id="msg_1", model="claude-sonnet-4.5", thinking_format="native"
    )
    for event in SCRIPT:
        builder.add(event)
    built = builder.build()
    streamed = sdk_final_message(render(SCRIPT)).to_dict()
    assert built["content"] == streamed["content"]
    assert built["usage"] == {k: v for k, v in streamed["usage"].items() if k in built["usage"]}
    assert (
        built["stop_reason"],
        built["stop_sequence"],
        built["id"],
        built["type"],
        built["role"],
    ) == (
        "tool_use",
        None,
        "msg_1",
        "message",
        "assistant",
    )
    # the SDK's own model accepts the built message
    parsed = anthropic.types.Message.model_validate(built)
    assert parsed.content[2].input == {"file_path": "/tmp/a.py", "limit": 10}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("thinking", "<thinking>let me think</thinking>\n\nI will read it."),
        ("think", "<think>let me think</think>\n\nI will read it."),
        ("reasoning_content", "let me think\n\nI will read it."),
    ],
)
def test_text_thinking_formats(fmt, expected):
    message = sdk_final_message(render(SCRIPT, thinking_format=fmt))
    assert [b.type for b in message.content] == ["text", "tool_use", "text", "tool_use", "text"]
    assert message.content[0].text == expected


def test_redacted_thinking_only_in_native_format():
    events = [RedactedThinking("opaque"), TextDelta("hi"), Finish("end_turn", Usage())]
    message = sdk_final_message(render(events))
    assert [b.type for b in message.content] == ["redacted_thinking", "text"]
    assert message.content[0].data == "opaque"
    message = sdk_final_message(render(events, thinking_format="thinking"))
    assert [b.type for b in message.content] == ["text"]


def test_stop_sequence_and_refusal_mapping():
    message = sdk_final_message(render([TextDelta("a"), Finish("stop_sequence", Usage(), "###")]))
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")
    message = sdk_final_message(render([Finish("content_filter", Usage())]))
    assert message.stop_reason == "refusal" and message.content == []


def test_thinking_end_without_signature_still_closes_with_signature_delta():
    frames = parse_sse(
        render([ThinkingDelta("x"), ThinkingEnd(), TextDelta("y"), Finish("end_turn", Usage())])
    )
    check_grammar(frames)
    assert frames[3][1]["delta"] == {"type": "signature_delta", "signature": ""}


def test_message_start_input_override():
    renderer = AnthropicStreamRenderer(
        message_id="m", model="x", thinking_format="native", input_tokens=5
    )
    assert (
        parse_sse(renderer.message_start(input_tokens=77))[0][1]["message"]["usage"]["input_tokens"]
        == 77
    )


def test_mid_stream_error_raises_in_the_sdk():
    renderer = AnthropicStreamRenderer(
        message_id="m", model="x", thinking_format="native", input_tokens=5
    )
    body = (
        renderer.message_start()
        + renderer.render(TextDelta("partial"))
        + renderer.error("overloaded_error", "upstream failed")
    )
    client = sdk_client(body)
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert "upstream failed" in str(info.value)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        AnthropicStreamRenderer(message_id="m", model="x", thinking_format="bogus", input_tokens=0)
