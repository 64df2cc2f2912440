"""The gateway driven by the official `anthropic` SDK, wired to the Kiro simulator."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from kiro_proxy.simulator.script import (
    ContextUsage,
    ExceptionFrame,
    HttpFault,
    Metadata,
    Metering,
    Reasoning,
    ReasoningSignature,
    Reply,
    Text,
    ToolUse,
)
from tests.e2e.conftest import assert_all_valid
from tests.e2e.stack import LiveStack

MODEL = "claude-sonnet-4-6"


@pytest.fixture
def client(stack: LiveStack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=stack.url, api_key="unused", max_retries=0) as sdk:
        yield sdk


def tiny_png() -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"\x00\xff\x00\x00"
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode()


def usage_steps(output_tokens: int = 7) -> list[object]:
    return [
        Metering(0.02),
        ContextUsage(1.5),
        Metadata(uncached_input_tokens=120, output_tokens=output_tokens),
    ]


def test_create_returns_text_and_usage(stack: LiveStack, client: anthropic.Anthropic) -> None:
    stack.enqueue(Reply([Text("Hello "), Text("from Kiro."), *usage_steps()]))
    message = client.messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from Kiro."
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL
    assert message.usage.input_tokens == 120
    assert message.usage.output_tokens == 7
    assert_all_valid(stack)


def test_stream_text_arrives_in_order(stack: LiveStack, client: anthropic.Anthropic) -> None:
    chunks = [f"part{i} " for i in range(20)]
    stack.enqueue(Reply([*(Text(c) for c in chunks), *usage_steps()]))
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "Count"}]
    ) as stream:
        received = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(received) == "".join(chunks)
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7


def test_native_thinking_blocks_when_client_asks_for_thinking(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    stack.enqueue(
        Reply(
            [
                Reasoning("Let me think. "),
                Reasoning("2+2 is 4."),
                ReasoningSignature("sig-abc"),
                Text("The answer is 4."),
                *usage_steps(),
            ]
        )
    )
    with client.messages.stream(
        model=MODEL,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "What is 2+2?"}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think. 2+2 is 4."
    assert final.content[0].signature == "sig-abc"
    assert final.content[1].text == "The answer is 4."
    sent = stack.generate_requests()[-1].body
    assert "<thinking_mode>" in orjson_dumps(sent)


def orjson_dumps(value: object) -> str:
    import orjson

    return orjson.dumps(value).decode()


@pytest.mark.parametrize(
    ("fmt", "opening", "closing"),
    [("thinking", "<thinking>", "</thinking>"), ("think", "<think>", "</think>")],
)
def test_suffix_thinking_in_tag_formats(
    stack: LiveStack, client: anthropic.Anthropic, fmt: str, opening: str, closing: str
) -> None:
    assert stack.settings is not None
    stack.settings.claude_thinking_format = fmt  # type: ignore[assignment]
    try:
        stack.enqueue(
            Reply([Text("<thinking>\nponder"), Text("ing</thinking>\n\nDone."), *usage_steps()])
        )
        message = client.messages.create(
            model=MODEL + "-thinking",
            max_tokens=256,
            messages=[{"role": "user", "content": "Think first"}],
        )
    finally:
        stack.settings.claude_thinking_format = "thinking"
    text = "".join(block.text for block in message.content if block.type == "text")
    assert text.startswith(opening)
    assert "pondering" in text
    assert closing in text
    assert text.endswith("Done.")


def test_suffix_thinking_reasoning_content_format_is_plain_text(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    assert stack.settings is not None
    stack.settings.claude_thinking_format = "reasoning_content"
    try:
        stack.enqueue(Reply([Text("<thinking>\nhmm</thinking>\n\nOK."), *usage_steps()]))
        message = client.messages.create(
            model=MODEL + "-thinking",
            max_tokens=256,
            messages=[{"role": "user", "content": "Think first"}],
        )
    finally:
        stack.settings.claude_thinking_format = "thinking"
    text = "".join(block.text for block in message.content if block.type == "text")
    assert "<thinking>" not in text and "hmm" in text and text.endswith("OK.")


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}


def test_tool_use_streams_input_fragments(stack: LiveStack, client: anthropic.Anthropic) -> None:
    arguments = {"city": "Paris", "unit": "celsius"}
    stack.enqueue(
        Reply(
            [
                Text("Checking."),
                ToolUse("tooluse_1", "get_weather", arguments, fragments=4),
                *usage_steps(),
            ]
        )
    )
    deltas: list[str] = []
    with client.messages.stream(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                deltas.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert len(deltas) >= 2, "tool input must be streamed as it arrives, not in one piece"
    tool_blocks = [b for b in final.content if b.type == "tool_use"]
    assert [(b.id, b.name, b.input) for b in tool_blocks] == [
        ("tooluse_1", "get_weather", arguments)
    ]
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "text" and final.content[0].text == "Checking."


def test_disable_parallel_tool_use_keeps_only_the_first_call(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    steps = [
        ToolUse("tooluse_a", "get_weather", {"city": "Oslo"}, fragments=2),
        ToolUse("tooluse_b", "get_weather", {"city": "Rome"}, fragments=2),
        *usage_steps(),
    ]
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": "Oslo and Rome?"}],
    }
    stack.enqueue(Reply(steps))
    message = client.messages.create(**request)
    assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == [
        ("tooluse_a", {"city": "Oslo"})
    ]
    assert message.stop_reason == "tool_use"
    stack.enqueue(Reply(steps))
    with client.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert [b.id for b in final.content if b.type == "tool_use"] == ["tooluse_a"]
    assert_all_valid(stack)


def test_multi_turn_tool_loop(stack: LiveStack, client: anthropic.Anthropic) -> None:
    stack.enqueue(
        Reply([ToolUse("tooluse_a", "get_weather", {"city": "Oslo"}, fragments=2), *usage_steps()])
    )
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = client.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER_TOOL], messages=messages
    )
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "-3°C, snow"}],
        }
    )
    stack.enqueue(Reply([Text("It is -3°C with snow in Oslo."), *usage_steps()]))
    second = client.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER_TOOL], messages=messages
    )
    assert second.content[0].text == "It is -3°C with snow in Oslo."
    sent = stack.generate_requests()[-1].body
    current = sent["conversationState"]["currentMessage"]["userInputMessage"]
    results = current["userInputMessageContext"]["toolResults"]
    assert results[0]["toolUseId"] == use.id
    assert results[0]["content"][0]["text"] == "-3°C, snow"
    assert_all_valid(stack)


def test_long_tool_loop_stays_well_formed(stack: LiveStack, client: anthropic.Anthropic) -> None:
    """Twelve rounds of tool calls and results, as Claude Code does, never trip Kiro's 400."""
    messages: list[dict[str, object]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Fix the bug", "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    for round_no in range(12):
        stack.enqueue(
            Reply(
                [
                    Text(f"Step {round_no}."),
                    ToolUse(f"tu_{round_no}", "get_weather", {"city": str(round_no)}),
                    *usage_steps(),
                ]
            )
        )
        reply = client.messages.create(
            model=MODEL,
            max_tokens=512,
            system=[
                {
                    "type": "text",
                    "text": "You are a coding agent.",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
            tools=[WEATHER_TOOL],
            messages=messages,
        )
        messages.append({"role": "assistant", "content": [b.model_dump() for b in reply.content]})
        use = next(b for b in reply.content if b.type == "tool_use")
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": f"result {round_no}"}
                ],
            }
        )
    assert_all_valid(stack)
    last = stack.generate_requests()[-1].body["conversationState"]
    assert len(last["history"]) == 22  # 11 completed rounds of (assistant tool call, user result)


def test_image_reaches_kiro_as_png(stack: LiveStack, client: anthropic.Anthropic) -> None:
    stack.enqueue(Reply([Text("A red pixel."), *usage_steps()]))
    message = client.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": tiny_png()},
                    },
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    )
    assert message.content[0].text == "A red pixel."
    current = stack.generate_requests()[-1].body["conversationState"]["currentMessage"][
        "userInputMessage"
    ]
    assert current["images"][0]["format"] == "png"
    assert current["images"][0]["source"]["bytes"] == tiny_png()
    assert_all_valid(stack)


def test_stop_sequence_cuts_output(stack: LiveStack, client: anthropic.Anthropic) -> None:
    stack.enqueue(Reply([Text("one two "), Text("STO"), Text("P three"), *usage_steps()]))
    message = client.messages.create(
        model=MODEL,
        max_tokens=64,
        stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "Count"}],
    )
    assert message.content[0].text == "one two "
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "STOP"


def test_count_tokens_counts_tools_and_messages(client: anthropic.Anthropic) -> None:
    small = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    bigger = client.messages.count_tokens(
        model=MODEL,
        tools=[WEATHER_TOOL],
        system="You are a helpful assistant that answers about the weather.",
        messages=[{"role": "user", "content": "Hi " * 200}],
    )
    assert 0 < small.input_tokens < 20
    assert bigger.input_tokens > small.input_tokens + 150


def test_cc_route_message_start_carries_final_input_tokens(stack: LiveStack) -> None:
    stack.enqueue(
        Reply([Text("Buffered."), Metering(0.01), ContextUsage(2.0), Metadata(output_tokens=3)])
    )
    with anthropic.Anthropic(base_url=stack.url + "/cc", api_key="unused", max_retries=0) as cc:
        with cc.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            events = list(stream)
    start = next(e for e in events if e.type == "message_start")
    # 2% of Sonnet 4.6's 1M window; Metadata has no input buckets so the context figure wins.
    assert start.message.usage.input_tokens == 20_000
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "Buffered."


# --- errors: each class raises the SDK's matching exception -----------------------------------


def test_invalid_request_raises_bad_request(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=[])
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_pdf_document_is_rejected_clearly(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBERi0=",
                            },
                        },
                    ],
                }
            ],
        )
    assert "document" in str(info.value).lower() or "pdf" in str(info.value).lower()


def test_prompt_too_long_message_for_claude_code(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    stack.enqueue(
        HttpFault(
            400, {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
        )
    )
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert "prompt is too long" in info.value.body["error"]["message"]


def test_authentication_error_with_wrong_key(stack: LiveStack) -> None:
    assert stack.settings is not None
    stack.settings.require_api_key = True
    stack.settings.api_key = "sk-right-key-123"
    try:
        with anthropic.Anthropic(base_url=stack.url, api_key="sk-wrong", max_retries=0) as bad:
            with pytest.raises(anthropic.AuthenticationError):
                bad.messages.create(
                    model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
                )
        with anthropic.Anthropic(
            base_url=stack.url, api_key="sk-right-key-123", max_retries=0
        ) as good:
            stack.enqueue(Reply([Text("in"), *usage_steps()]))
            assert good.messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
            ).content
    finally:
        stack.settings.require_api_key = False
        stack.settings.api_key = None


def test_request_too_large(stack: LiveStack, client: anthropic.Anthropic) -> None:
    assert stack.settings is not None
    old = stack.settings.max_body_bytes
    stack.settings.max_body_bytes = 2000
    try:
        with pytest.raises(anthropic.APIStatusError) as info:
            client.messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x" * 5000}]
            )
    finally:
        stack.settings.max_body_bytes = old
    assert info.value.status_code == 413
    assert info.value.body["error"]["type"] == "request_too_large"


def test_unknown_route_is_not_found(stack: LiveStack, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.get("/v1/nothing-here", cast_to=object)


def test_mid_stream_exception_becomes_error_event(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    stack.enqueue(Reply([Text("partial "), ExceptionFrame("ThrottlingException", "slow down")]))
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            for _ in stream:
                pass
    assert "slow down" in str(info.value)


def _fault_every_account(stack: LiveStack, fault: HttpFault) -> None:
    for account in stack.accounts:
        stack.enqueue(fault, account=account)


def test_upstream_500_everywhere_is_server_error(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    _fault_every_account(stack, HttpFault(500, {"message": "boom"}))
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    stack.call(stack.state.clear_scripts)


def test_failover_hides_a_broken_account(stack: LiveStack, client: anthropic.Anthropic) -> None:
    """One account answers 500: every request still succeeds, through the other account."""
    broken, healthy = stack.accounts
    stack.enqueue(HttpFault(500, {"message": "boom"}), account=broken)
    stack.enqueue(Reply([Text("survived"), *usage_steps()]), account=healthy)
    stack.enqueue(Reply([Text("survived"), *usage_steps()]), account=healthy)
    before = len(stack.generate_requests())
    for _ in range(2):
        message = client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
        assert message.content[0].text == "survived"
    seen = [(r.account, r.status) for r in stack.generate_requests()[before:]]
    assert (broken.email, 500) in seen, seen
    assert seen.count((healthy.email, 200)) == 2, seen


def test_throttled_everywhere_is_rate_limit_with_retry_after(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    _fault_every_account(stack, HttpFault(429, {"message": "Too many requests"}, retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["error"]["type"] == "rate_limit_error"
    assert int(info.value.response.headers["retry-after"]) >= 7


def test_access_refused_everywhere_is_permission_error(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    _fault_every_account(
        stack,
        HttpFault(403, {"message": "AccessDeniedException: model not enabled", "reason": None}),
    )
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["error"]["type"] == "permission_error"


def test_no_usable_account_is_overloaded(stack: LiveStack, client: anthropic.Anthropic) -> None:
    for account in stack.runtime.pool.all():
        stack.run(stack.runtime.update_account(account.id, enabled=False))
    with pytest.raises(anthropic.OverloadedError) as info:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 529
    assert "disabled" in info.value.body["error"]["message"]


def test_max_tokens_is_enforced_by_the_gateway(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    """Kiro ignores max_tokens; the client still gets at most that many and stop_reason max_tokens."""
    stack.enqueue(Reply([Text("word " * 400), Metadata(output_tokens=400)]))
    message = client.messages.create(
        model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "Talk a lot"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 20
    assert 0 < len(message.content[0].text) < len("word " * 400)


def test_long_mcp_tool_name_is_shortened_upstream_and_restored(
    stack: LiveStack, client: anthropic.Anthropic
) -> None:
    long_name = "mcp__very_long_server_name_for_testing__" + "really_long_tool_name_" * 3
    assert len(long_name) > 64
    tool = {**WEATHER_TOOL, "name": long_name}

    def respond(body: dict[str, object]) -> Reply:
        current = body["conversationState"]["currentMessage"]["userInputMessage"]  # type: ignore[index]
        sent = current["userInputMessageContext"]["tools"][0]["toolSpecification"]["name"]
        return Reply([ToolUse("tu_long", sent, {"city": "Bern"}), *usage_steps()])

    stack.call(lambda: setattr(stack.state, "responder", respond))
    message = client.messages.create(
        model=MODEL, max_tokens=64, tools=[tool], messages=[{"role": "user", "content": "x"}]
    )
    sent_name = stack.generate_requests()[-1].body["conversationState"]["currentMessage"][
        "userInputMessage"
    ]["userInputMessageContext"]["tools"][0]["toolSpecification"]["name"]
    assert len(sent_name) <= 64 and sent_name != long_name
    use = next(b for b in message.content if b.type == "tool_use")
    assert use.name == long_name
    assert_all_valid(stack)


def test_cc_route_pings_while_buffering(stack: LiveStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """While /cc buffers a slow reply it sends `ping` events (every 25 s in production)."""
    import httpx

    from kiro_proxy.api import anthropic_routes
    from kiro_proxy.simulator.script import Sleep

    monkeypatch.setattr(anthropic_routes, "CC_PING_INTERVAL", 0.2)
    stack.enqueue(Reply([Text("slow "), Sleep(1.2), Text("answer"), *usage_steps()]))
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    with httpx.stream("POST", stack.url + "/cc/v1/messages", json=body, timeout=10) as response:
        events = [
            line.removeprefix("event: ")
            for line in response.iter_lines()
            if line.startswith("event: ")
        ]
    first_start = events.index("message_start")
    assert events[:first_start].count("ping") >= 3, events
    assert events[-1] == "message_stop"
