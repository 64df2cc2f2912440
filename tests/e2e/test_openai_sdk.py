"""The gateway driven by the official `openai` SDK, wired to the Kiro simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from kiro_proxy.simulator.script import (
    ContextUsage,
    ExceptionFrame,
    HttpFault,
    Metadata,
    Metering,
    Reasoning,
    Reply,
    Text,
    ToolUse,
)
from tests.e2e.conftest import assert_all_valid
from tests.e2e.stack import LiveStack
from tests.e2e.test_anthropic_sdk import tiny_png

MODEL = "claude-sonnet-4.5"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def usage_steps(output_tokens: int = 5) -> list[object]:
    return [
        Metering(0.01),
        ContextUsage(1.0),
        Metadata(uncached_input_tokens=90, output_tokens=output_tokens),
    ]


@pytest.fixture
def client(stack: LiveStack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stack.url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_create_returns_content_and_usage(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Text("Hi "), Text("there."), *usage_steps()]))
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
    )
    choice = completion.choices[0]
    assert choice.message.content == "Hi there."
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 90
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 95
    assert_all_valid(stack)


def test_stream_with_include_usage(stack: LiveStack, client: openai.OpenAI) -> None:
    parts = [f"w{i} " for i in range(15)]
    stack.enqueue(Reply([*(Text(p) for p in parts), *usage_steps()]))
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(parts)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_streamed_tool_call_arrives_incrementally(stack: LiveStack, client: openai.OpenAI) -> None:
    arguments = {"city": "Lisbon"}
    stack.enqueue(
        Reply(
            [
                Text("Let me check."),
                ToolUse("call_1", "get_weather", arguments, fragments=3),
                *usage_steps(),
            ]
        )
    )
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Lisbon?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    fragments: list[str] = []
    header = None
    finish = None
    text = ""
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for call in delta.tool_calls or []:
            if call.id:
                header = (call.index, call.id, call.function.name)
            if call.function and call.function.arguments:
                fragments.append(call.function.arguments)
        finish = chunk.choices[0].finish_reason or finish
    assert header == (0, "call_1", "get_weather")
    assert len(fragments) >= 2
    assert json.loads("".join(fragments)) == arguments
    assert finish == "tool_calls"
    assert text == "Let me check."


def test_non_stream_keeps_text_with_tool_calls(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(
        Reply(
            [
                Text("Checking now."),
                ToolUse("call_9", "get_weather", {"city": "Rome"}),
                *usage_steps(),
            ]
        )
    )
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Rome?"}], tools=[WEATHER_TOOL]
    )
    message = completion.choices[0].message
    assert message.content == "Checking now."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Rome"}
    assert completion.choices[0].finish_reason == "tool_calls"


def two_weather_calls() -> Reply:
    return Reply(
        [
            ToolUse("call_a", "get_weather", {"city": "Oslo"}, fragments=2),
            ToolUse("call_b", "get_weather", {"city": "Rome"}, fragments=2),
            *usage_steps(),
        ]
    )


def test_parallel_tool_calls_false_keeps_only_the_first_call(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    request = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Oslo and Rome?"}],
        "tools": [WEATHER_TOOL],
    }
    stack.enqueue(two_weather_calls())
    both = client.chat.completions.create(**request)  # type: ignore[call-overload]
    assert [c.id for c in both.choices[0].message.tool_calls or []] == ["call_a", "call_b"]

    stack.enqueue(two_weather_calls())
    one = client.chat.completions.create(**request, parallel_tool_calls=False)  # type: ignore[call-overload]
    calls = one.choices[0].message.tool_calls or []
    assert [(c.id, json.loads(c.function.arguments)) for c in calls] == [
        ("call_a", {"city": "Oslo"})
    ]
    assert one.choices[0].finish_reason == "tool_calls"
    assert one.usage is not None and one.usage.completion_tokens == 5
    sent = json.dumps(stack.generate_requests()[-1].body)
    assert "Call at most one tool in this response." in sent

    stack.enqueue(two_weather_calls())
    stream = client.chat.completions.create(  # type: ignore[call-overload]
        **request, parallel_tool_calls=False, stream=True
    )
    indexes: set[int] = set()
    ids: list[str] = []
    arguments = ""
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            indexes.add(call.index)
            ids += [call.id] if call.id else []
            arguments += call.function.arguments or "" if call.function else ""
    assert (indexes, ids, json.loads(arguments)) == ({0}, ["call_a"], {"city": "Oslo"})
    assert_all_valid(stack)


def test_multi_turn_tool_results(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([ToolUse("call_a", "get_weather", {"city": "Oslo"}), *usage_steps()]))
    messages: list[dict[str, object]] = [{"role": "user", "content": "Oslo weather?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "snow, -3°C"})
    stack.enqueue(Reply([Text("Snowy and -3°C."), *usage_steps()]))
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Snowy and -3°C."
    current = stack.generate_requests()[-1].body["conversationState"]["currentMessage"][
        "userInputMessage"
    ]
    result = current["userInputMessageContext"]["toolResults"][0]
    assert result["toolUseId"] == call.id
    assert result["content"][0]["text"] == "snow, -3°C"
    assert_all_valid(stack)


def test_data_url_image(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Text("A pixel."), *usage_steps()]))
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is it?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64," + tiny_png()},
                    },
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "A pixel."
    current = stack.generate_requests()[-1].body["conversationState"]["currentMessage"][
        "userInputMessage"
    ]
    assert current["images"][0]["format"] == "png"
    assert_all_valid(stack)


@pytest.mark.parametrize(
    ("fmt", "expect_field", "opening"),
    [
        ("reasoning_content", True, None),
        ("thinking", False, "<thinking>"),
        ("think", False, "<think>"),
    ],
)
def test_thinking_formats(
    stack: LiveStack, client: openai.OpenAI, fmt: str, expect_field: bool, opening: str | None
) -> None:
    assert stack.settings is not None
    stack.settings.openai_thinking_format = fmt  # type: ignore[assignment]
    try:
        stack.enqueue(Reply([Reasoning("Weighing options."), Text("Pick B."), *usage_steps()]))
        completion = client.chat.completions.create(
            model=MODEL + "-thinking", messages=[{"role": "user", "content": "A or B?"}]
        )
        stack.enqueue(Reply([Reasoning("Weighing options."), Text("Pick B."), *usage_steps()]))
        streamed = list(
            client.chat.completions.create(
                model=MODEL,
                reasoning_effort="high",
                messages=[{"role": "user", "content": "A or B?"}],
                stream=True,
            )
        )
    finally:
        stack.settings.openai_thinking_format = "reasoning_content"
    message = completion.choices[0].message
    reasoning = getattr(message, "reasoning_content", None) or (message.model_extra or {}).get(
        "reasoning_content"
    )
    streamed_reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in streamed
        if c.choices
    )
    streamed_text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    if expect_field:
        assert reasoning == "Weighing options."
        assert message.content == "Pick B."
        assert streamed_reasoning == "Weighing options."
        assert streamed_text == "Pick B."
    else:
        assert opening is not None
        assert message.content is not None and message.content.startswith(opening)
        assert "Weighing options." in message.content and message.content.endswith("Pick B.")
        assert streamed_text.startswith(opening) and streamed_text.endswith("Pick B.")
    sent = [r.body for r in stack.generate_requests()[-2:]]
    assert all("<thinking_mode>" in json.dumps(body) for body in sent)


def test_json_response_format_is_requested_from_the_model(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    stack.enqueue(Reply([Text('{"ok": true}'), *usage_steps()]))
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Status?"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content or "") == {"ok": True}
    sent = json.dumps(stack.generate_requests()[-1].body)
    assert "JSON" in sent


# --- errors ---------------------------------------------------------------------------------


def test_n_greater_than_one_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=MODEL, n=2, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["param"] == "n"  # type: ignore[index]


def test_malformed_body_is_bad_request(stack: LiveStack, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.post(
            "/chat/completions", body={"model": MODEL, "messages": "not a list"}, cast_to=object
        )
    assert info.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_wrong_key_is_authentication_error(stack: LiveStack) -> None:
    assert stack.settings is not None
    stack.settings.require_api_key = True
    stack.settings.api_key = "sk-good"
    try:
        with openai.OpenAI(base_url=stack.url + "/v1", api_key="sk-bad", max_retries=0) as bad:
            with pytest.raises(openai.AuthenticationError):
                bad.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "x"}]
                )
    finally:
        stack.settings.require_api_key = False
        stack.settings.api_key = None


def test_too_large_body_is_413(stack: LiveStack, client: openai.OpenAI) -> None:
    assert stack.settings is not None
    old = stack.settings.max_body_bytes
    stack.settings.max_body_bytes = 1000
    try:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x" * 3000}]
            )
    finally:
        stack.settings.max_body_bytes = old
    assert info.value.status_code == 413


def test_upstream_failure_everywhere_is_server_error(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    for account in stack.accounts:
        stack.enqueue(HttpFault(503, {"message": "unavailable"}), account=account)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])


def test_mid_stream_failure_surfaces_in_the_sdk(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(
        Reply([Text("partial"), ExceptionFrame("InternalServerException", "upstream broke")])
    )
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert "upstream broke" in str(info.value)


def test_models_list_in_both_formats(stack: LiveStack, client: openai.OpenAI) -> None:
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert "claude-sonnet-4.5" in ids
    assert "claude-sonnet-4.5-thinking" in ids
    import httpx

    anthropic_style = httpx.get(
        stack.url + "/v1/models", headers={"anthropic-version": "2023-06-01"}
    ).json()
    assert anthropic_style["data"][0]["type"] == "model"
    assert anthropic_style["has_more"] is False


def test_throttled_everywhere_is_rate_limit(stack: LiveStack, client: openai.OpenAI) -> None:
    for account in stack.accounts:
        stack.enqueue(
            HttpFault(429, {"message": "Too many requests"}, retry_after=3), account=account
        )
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["type"] == "rate_limit_error"  # type: ignore[index]


def test_access_refused_everywhere_is_permission_denied(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    for account in stack.accounts:
        stack.enqueue(
            HttpFault(403, {"message": "AccessDeniedException: model not enabled"}), account=account
        )
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])


def test_unknown_route_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.get("/embeddings-nope", cast_to=object)
    assert info.value.body["code"] == "not_found"  # type: ignore[index]


def test_no_usable_account_is_503(stack: LiveStack, client: openai.OpenAI) -> None:
    for account in stack.runtime.pool.all():
        stack.run(stack.runtime.update_account(account.id, enabled=False))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503


def test_max_completion_tokens_gives_length_finish(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Text("word " * 400), Metadata(output_tokens=400)]))
    completion = client.chat.completions.create(
        model=MODEL, max_completion_tokens=15, messages=[{"role": "user", "content": "Talk"}]
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 15
