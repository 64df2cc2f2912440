"""OpenAI Chat Completions parsing: every field, legacy shapes, and the 400s for bad input."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import (
    Conversation,
    ImageBlock,
    ImageUrlBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.openai_request import openai_to_conversation, parse_openai_request

GIF = b"GIF89a" + b"\x00" * 24
GIF_B64 = base64.b64encode(GIF).decode()


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    data.update(overrides)
    return data


def convert(data: dict[str, Any]) -> Conversation:
    return openai_to_conversation(parse_openai_request(orjson.dumps(data)))


def rejects(data: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        convert(data)
    return info.value


def test_leading_system_and_developer_messages_become_the_system_prompt() -> None:
    conv = convert(
        body(
            messages=[
                {"role": "system", "content": "one"},
                {"role": "developer", "content": [{"type": "text", "text": "two"}]},
                {"role": "user", "content": "q"},
            ]
        )
    )
    assert conv.system == "one\n\ntwo"
    assert [m.role for m in conv.messages] == ["user"]


def test_mid_conversation_system_message_stays_in_place_as_user_text() -> None:
    conv = convert(
        body(
            messages=[
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
                {"role": "system", "content": "reminder"},
            ]
        )
    )
    assert conv.system == ""
    assert conv.messages[-1].blocks == [TextBlock("reminder")]


def test_user_parts_text_data_url_and_http_url() -> None:
    parts = [
        {"type": "text", "text": "see"},
        {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{GIF_B64}", "detail": "high"},
        },
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    conv = convert(body(messages=[{"role": "user", "content": parts}]))
    # The data URL claims png but holds a GIF: the sniffed type wins.
    assert conv.messages[0].blocks == [
        TextBlock("see"),
        ImageBlock("image/gif", GIF_B64),
        ImageUrlBlock("https://example.com/cat.jpg"),
    ]


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("data:image/png;base64,@@@", "base64"),
        ("data:text/plain,hello", "data:image"),
        ("file:///etc/passwd", "http"),
    ],
)
def test_bad_image_urls_rejected_with_field_path(url: str, needle: str) -> None:
    error = rejects(
        body(
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
            ]
        )
    )
    assert error.param == "messages.0.content.0.image_url.url"
    assert needle in error.message


def test_assistant_tool_calls_and_tool_messages_pair_up() -> None:
    conv = convert(
        body(
            messages=[
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "get", "arguments": '{"a": 1}'},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "put", "arguments": "{broken"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r1"},
                {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "r2"}]},
            ]
        )
    )
    assert conv.messages[1].blocks == [
        ToolUseBlock("c1", "get", {"a": 1}),
        ToolUseBlock("c2", "put", {"_raw_arguments": "{broken"}),
    ]
    assert conv.messages[2].blocks == [ToolResultBlock("c1", "r1")]
    assert conv.messages[3].blocks == [ToolResultBlock("c2", "r2")]


def test_assistant_content_parts_and_refusal() -> None:
    conv = convert(
        body(
            messages=[
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "refusal", "refusal": "no"},
                    ],
                },
            ]
        )
    )
    assert conv.messages[1].blocks == [TextBlock("a"), TextBlock("no")]


def test_legacy_function_call_and_function_role_get_stable_ids() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "out"},
    ]
    conv = convert(
        body(
            messages=messages,
            functions=[{"name": "f", "parameters": {"type": "object"}}],
            function_call="auto",
        )
    )
    use = conv.messages[1].blocks[0]
    assert isinstance(use, ToolUseBlock) and use.id == "call_fn_1"
    assert conv.messages[2].blocks == [ToolResultBlock("call_fn_1", "out")]
    assert [t.name for t in conv.tools] == ["f"]
    assert convert(body(messages=messages)).messages[1].blocks[0] == use  # same id every turn


def test_tools_are_function_tools() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get",
                "description": "d",
                "parameters": {"type": "object"},
                "strict": True,
            },
        }
    ]
    conv = convert(body(tools=tools))
    assert [(t.name, t.description, t.input_schema) for t in conv.tools] == [
        ("get", "d", {"type": "object"})
    ]
    assert (
        rejects(body(tools=[{"type": "custom", "custom": {"name": "x"}}])).param == "tools.0.type"
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", ("auto", None)),
        ("none", ("none", None)),
        ("required", ("any", None)),
        ({"type": "function", "function": {"name": "get"}}, ("tool", "get")),
    ],
)
def test_tool_choice_variants(choice: Any, expected: tuple[str, str | None]) -> None:
    conv = convert(body(tool_choice=choice))
    assert (conv.tool_choice.type, conv.tool_choice.name) == expected


def test_n_greater_than_one_is_rejected_with_param_n() -> None:
    error = rejects(body(n=2))
    assert error.param == "n"
    assert convert(body(n=1)).messages


@pytest.mark.parametrize(
    ("effort", "enabled", "adaptive"),
    [
        (None, False, None),
        ("none", False, None),
        ("minimal", True, "low"),
        ("low", True, "low"),
        ("medium", True, "medium"),
        ("high", True, "high"),
    ],
)
def test_reasoning_effort_turns_on_adaptive_thinking(
    effort: str | None, enabled: bool, adaptive: str | None
) -> None:
    thinking = convert(body(reasoning_effort=effort)).thinking
    assert (thinking.enabled, thinking.adaptive_effort) == (enabled, adaptive)


def test_response_format_json_object_and_json_schema_become_output_instruction() -> None:
    assert convert(body()).output_instruction == ""
    assert convert(body(response_format={"type": "text"})).output_instruction == ""
    assert (
        "JSON object" in convert(body(response_format={"type": "json_object"})).output_instruction
    )
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    instruction = convert(
        body(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "place", "schema": schema, "strict": True},
            }
        )
    ).output_instruction
    assert "'place'" in instruction and '"city"' in instruction and "JSON only" not in instruction


def test_max_tokens_stop_stream_options_and_sampling() -> None:
    req = parse_openai_request(
        orjson.dumps(
            body(
                max_tokens=10,
                stream=True,
                stream_options={"include_usage": True},
                temperature=1.5,
                top_p=0.5,
                stop="END",
            )
        )
    )
    assert req.include_usage and req.stream
    conv = openai_to_conversation(req)
    assert conv.max_tokens == 10 and conv.stop_sequences == ["END"]
    conv = convert(body(max_tokens=10, max_completion_tokens=20, stop=["a", "b"]))
    assert conv.max_tokens == 20 and conv.stop_sequences == ["a", "b"]


def test_prompt_cache_key_is_the_session_hint() -> None:
    assert convert(body(prompt_cache_key="sess-1")).session_hint == "sess-1"


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        (body(messages=[]), "messages"),
        (body(messages=[{"role": "robot", "content": "x"}]), "messages.0.role"),
        (body(messages=[{"role": "tool", "content": "x"}]), "messages.0.tool_call_id"),
        (
            body(
                messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]
            ),
            "messages.0.content.0",
        ),
        (body(temperature=5), "temperature"),
        (body(tool_choice="sometimes"), "tool_choice"),
        (body(reasoning_effort="extreme"), "reasoning_effort"),
        (body(response_format={"type": "yaml"}), "response_format.type"),
    ],
)
def test_wrong_types_and_missing_fields_name_the_field(data: dict[str, Any], param: str) -> None:
    assert rejects(data).param == param


def test_unknown_fields_are_ignored() -> None:
    conv = convert(body(logit_bias={"1": 2}, seed=3, user="u1", some_future_field={"x": 1}))
    assert conv.messages[0].blocks == [TextBlock("hi")]


@pytest.mark.parametrize(("value", "parallel"), [(None, True), (True, True), (False, False)])
def test_parallel_tool_calls_reaches_the_conversation(value: bool | None, parallel: bool) -> None:
    data = body() if value is None else body(parallel_tool_calls=value)
    assert convert(data).parallel_tool_calls is parallel
