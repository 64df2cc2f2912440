"""Responses request → Conversation: items, tools, tool_choice, reasoning, refusals."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import (
    ImageBlock,
    ImageUrlBlock,
    TextBlock,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.responses_request import (
    ResponsesTranslation,
    parse_responses_request,
    responses_to_conversation,
)
from kiro_proxy.translate.responses_tools import ToolIdentity

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def translate(**body: Any) -> ResponsesTranslation:
    body.setdefault("model", "claude-sonnet-4.5")
    return responses_to_conversation(parse_responses_request(orjson.dumps(body)))


def refused(**body: Any) -> InvalidRequestError:
    body.setdefault("model", "claude-sonnet-4.5")
    with pytest.raises(InvalidRequestError) as info:
        responses_to_conversation(parse_responses_request(orjson.dumps(body)))
    return info.value


def test_string_input_and_instructions() -> None:
    conv = translate(input="Hello", instructions="Be brief.").conversation
    assert conv.system == "Be brief."
    assert [(m.role, m.blocks) for m in conv.messages] == [("user", [TextBlock("Hello")])]


def test_leading_developer_messages_join_the_system_prompt_later_ones_stay_in_place() -> None:
    conv = translate(
        instructions="Base.",
        input=[
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Dev."}],
            },
            {"role": "system", "content": "Sys."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": "Reminder."},
        ],
    ).conversation
    assert conv.system == "Base.\n\nDev.\n\nSys."
    assert len(conv.messages) == 1
    assert conv.messages[0].blocks == [TextBlock("Hi"), TextBlock("Reminder.")]


def test_function_call_round_trip_forms_alternating_turns() -> None:
    conv = translate(
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Oslo"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "snow"},
        ],
    ).conversation
    assert [m.role for m in conv.messages] == ["user", "assistant", "user"]
    assert conv.messages[1].blocks == [
        TextBlock("Checking."),
        ToolUseBlock("call_1", "get_weather", {"city": "Oslo"}),
    ]
    assert conv.messages[2].blocks == [ToolResultBlock("call_1", "snow")]


def test_tool_output_parts_keep_text_and_images() -> None:
    conv = translate(
        input=[
            {"type": "function_call", "call_id": "c", "name": "shot", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c",
                "output": [
                    {"type": "input_text", "text": "a"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                    {"type": "input_text", "text": "b"},
                ],
            },
        ]
    ).conversation
    result = conv.messages[-1].blocks[0]
    assert isinstance(result, ToolResultBlock)
    assert result.content == "a\n\nb"
    assert result.images == [ImageBlock("image/png", PNG)]


def test_user_images_by_data_url_and_http_url() -> None:
    conv = translate(
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Compare"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                    {"type": "input_image", "image_url": "https://example.com/a.png"},
                ],
            }
        ]
    ).conversation
    assert conv.messages[0].blocks[1:] == [
        ImageBlock("image/png", PNG),
        ImageUrlBlock("https://example.com/a.png"),
    ]


def test_custom_tools_take_one_string_input_and_their_history_replays() -> None:
    grammar = 'start: "*** Begin Patch" /.+/'
    translation = translate(
        tools=[
            {
                "type": "custom",
                "name": "apply_patch",
                "description": "Edit files.",
                "format": {"type": "grammar", "syntax": "lark", "definition": grammar},
            }
        ],
        input=[
            {"role": "user", "content": "Fix it"},
            {"type": "custom_tool_call", "call_id": "p1", "name": "apply_patch", "input": "PATCH"},
            {"type": "custom_tool_call_output", "call_id": "p1", "output": "Done"},
        ],
    )
    (tool,) = translation.conversation.tools
    assert tool.name == "apply_patch"
    assert tool.input_schema["required"] == ["input"]
    assert tool.input_schema["properties"]["input"]["type"] == "string"
    assert grammar in tool.description and "Edit files." in tool.description
    assert translation.tools.identity("apply_patch") == ToolIdentity("custom", "apply_patch")
    messages = translation.conversation.messages
    assert messages[1].blocks == [ToolUseBlock("p1", "apply_patch", {"input": "PATCH"})]
    assert messages[2].blocks == [ToolResultBlock("p1", "Done")]


def test_namespace_tools_are_flattened_and_mapped_back() -> None:
    translation = translate(
        input="hi",
        tools=[
            {
                "type": "namespace",
                "name": "agents",
                "description": "Sub-agents",
                "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}],
            },
        ],
    )
    assert [t.name for t in translation.conversation.tools] == ["agents__spawn"]
    assert translation.tools.identity("agents__spawn") == ToolIdentity(
        "function", "spawn", "agents"
    )
    history = translate(
        input=[
            {
                "type": "function_call",
                "call_id": "c",
                "name": "spawn",
                "namespace": "agents",
                "arguments": "{}",
            }
        ]
    ).conversation
    assert history.messages[0].blocks == [ToolUseBlock("c", "agents__spawn", {})]


def test_hosted_tools_are_left_out_without_error() -> None:
    translation = translate(
        input="hi",
        tools=[
            {"type": "web_search", "external_web_access": False},
            {"type": "local_shell"},
            {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
        ],
    )
    assert [t.name for t in translation.conversation.tools] == ["f"]
    assert translation.tools.left_out == ["web_search", "local_shell"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, ToolChoice()),
        ("auto", ToolChoice()),
        ("none", ToolChoice(type="none")),
        ("required", ToolChoice(type="any")),
        ({"type": "function", "name": "f"}, ToolChoice(type="tool", name="f")),
        ({"type": "custom", "name": "f"}, ToolChoice(type="tool", name="f")),
        ({"type": "allowed_tools", "mode": "required", "tools": []}, ToolChoice(type="any")),
        ({"type": "web_search"}, ToolChoice()),
    ],
)
def test_tool_choice(choice: Any, expected: ToolChoice) -> None:
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    assert (
        translate(input="x", tools=tools, tool_choice=choice).conversation.tool_choice == expected
    )


@pytest.mark.parametrize(
    ("effort", "enabled", "adaptive"),
    [
        (None, False, None),
        ("none", False, None),
        ("minimal", False, None),
        ("low", True, "low"),
        ("medium", True, "medium"),
        ("high", True, "high"),
        ("xhigh", True, "high"),
    ],
)
def test_reasoning_effort(effort: str | None, enabled: bool, adaptive: str | None) -> None:
    thinking = translate(
        input="x", reasoning={"effort": effort, "summary": "auto"}
    ).conversation.thinking
    assert (thinking.enabled, thinking.adaptive_effort) == (enabled, adaptive)


def test_accepted_fields_and_limits() -> None:
    conv = translate(
        input="x",
        max_output_tokens=77,
        temperature=0.2,
        top_p=0.9,
        store=False,
        metadata={"a": "b"},
        parallel_tool_calls=False,
        include=["reasoning.encrypted_content"],
        text={"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}},
        user="u",
        truncation="auto",
        prompt_cache_key="session-1",
        client_metadata={"x": "y"},
    ).conversation
    assert conv.max_tokens == 77
    assert conv.session_hint == "session-1"
    assert conv.parallel_tool_calls is False
    assert translate(input="x").conversation.parallel_tool_calls is True
    assert "JSON schema named 'out'" in conv.output_instruction


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0"),
        ({"input": []}, "input"),
        ({"input": [{"type": "mystery"}]}, "input.0.type"),
        ({"input": [{"role": "critic", "content": "x"}]}, "input.0.role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input.0.content.0",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input.0.content.0.image_url",
        ),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input.0.call_id"),
        ({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"input": "x", "tool_choice": 7}, "tool_choice"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools.0.name"),
    ],
)
def test_bad_input_names_the_field(body: dict[str, Any], param: str) -> None:
    assert refused(**body).param == param


def test_missing_model_and_bad_json_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_responses_request(b'{"input": "x"}')
    assert info.value.param == "model"
    with pytest.raises(InvalidRequestError):
        parse_responses_request(b"{not json")


_item = st.one_of(
    st.builds(lambda t: {"role": "user", "content": t}, st.text(min_size=1, max_size=20)),
    st.builds(
        lambda t: {"role": "assistant", "content": [{"type": "output_text", "text": t}]},
        st.text(min_size=1, max_size=20),
    ),
    st.builds(
        lambda i: {"type": "function_call", "call_id": f"c{i}", "name": "f", "arguments": "{}"},
        st.integers(0, 5),
    ),
    st.builds(
        lambda i: {"type": "function_call_output", "call_id": f"c{i}", "output": "ok"},
        st.integers(0, 5),
    ),
    st.just({"type": "reasoning", "summary": []}),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_item, min_size=1, max_size=12))
def test_any_item_sequence_gives_alternating_turns_with_every_block_kept(
    items: list[dict[str, Any]],
) -> None:
    conv = translate(input=items).conversation
    roles = [m.role for m in conv.messages]
    assert all(a != b for a, b in itertools.pairwise(roles))
    kept = sum(len(m.blocks) for m in conv.messages)
    assert kept == sum(1 for item in items if item.get("type") != "reasoning")
