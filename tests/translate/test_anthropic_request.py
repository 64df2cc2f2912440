"""Anthropic Messages parsing: every field, and the 400s a client should get for bad input."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.anthropic_request import (
    anthropic_to_conversation,
    parse_anthropic_request,
)
from kiro_proxy.translate.conversation import (
    Conversation,
    ImageBlock,
    ImageUrlBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
PNG_B64 = base64.b64encode(PNG).decode()
JPEG_B64 = base64.b64encode(JPEG).decode()


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }
    data.update(overrides)
    return data


def convert(data: dict[str, Any]) -> Conversation:
    return anthropic_to_conversation(parse_anthropic_request(orjson.dumps(data)))


def rejects(data: dict[str, Any] | bytes) -> InvalidRequestError:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    with pytest.raises(InvalidRequestError) as info:
        anthropic_to_conversation(parse_anthropic_request(raw))
    return info.value


def test_string_content_becomes_one_text_block() -> None:
    conv = convert(body())
    assert conv.messages[0].role == "user"
    assert conv.messages[0].blocks == [TextBlock("hi")]
    assert conv.max_tokens == 1024


def test_system_string_and_blocks_with_cache_control_tolerated() -> None:
    assert convert(body(system="be brief")).system == "be brief"
    blocks = [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Main prompt."},
    ]
    assert convert(body(system=blocks)).system == "You are Claude Code.\n\nMain prompt."


def test_every_content_block_type_is_parsed() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "tu1", "name": "Read", "input": {"path": "a"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "tu1",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "line1"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": PNG_B64,
                            },
                        },
                    ],
                },
                {"type": "tool_result", "tool_use_id": "tu2", "content": "plain"},
                {"type": "tool_result", "tool_use_id": "tu3"},
            ],
        },
    ]
    conv = convert(body(messages=messages))
    user, assistant, results = conv.messages
    assert user.blocks == [
        TextBlock("look"),
        ImageBlock("image/png", PNG_B64),
        ImageUrlBlock("https://example.com/a.png"),
    ]
    assert assistant.blocks == [
        ThinkingBlock("hmm", "sig"),
        TextBlock("calling"),
        ToolUseBlock("tu1", "Read", {"path": "a"}),
    ]
    assert results.blocks == [
        ToolResultBlock("tu1", "line1", True, [ImageBlock("image/png", PNG_B64)]),
        ToolResultBlock("tu2", "plain"),
        ToolResultBlock("tu3", ""),
    ]


def test_mislabelled_image_media_type_is_fixed_from_magic_bytes() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": JPEG_B64},
    }
    conv = convert(body(messages=[{"role": "user", "content": [image]}]))
    assert conv.messages[0].blocks == [ImageBlock("image/jpeg", JPEG_B64)]


@pytest.mark.parametrize(
    ("source", "param", "needle"),
    [
        (
            {"type": "base64", "media_type": "image/png", "data": "!!notbase64"},
            "messages.0.content.0.source.data",
            "base64",
        ),
        (
            {
                "type": "base64",
                "media_type": "image/bmp",
                "data": base64.b64encode(b"BM" + b"\x00" * 30).decode(),
            },
            "messages.0.content.0.source.data",
            "image/bmp",
        ),
        (
            {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(b"plain text").decode(),
            },
            "messages.0.content.0.source.data",
            "not a valid PNG",
        ),
        ({"type": "file", "file_id": "file_1"}, "messages.0.content.0.source", "base64"),
        ({"type": "url", "url": "ftp://x/y.png"}, "messages.0.content.0.source.url", "http"),
    ],
)
def test_bad_images_are_rejected_with_field_path(
    source: dict[str, Any], param: str, needle: str
) -> None:
    error = rejects(
        body(messages=[{"role": "user", "content": [{"type": "image", "source": source}]}])
    )
    assert error.param == param
    assert needle in error.message


def test_document_block_rejected_with_clear_message() -> None:
    doc = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
    }
    error = rejects(body(messages=[{"role": "user", "content": [doc]}]))
    assert error.param == "messages.0.content.0"
    assert "not supported by Kiro" in error.message and "PDF" in error.message


def test_document_inside_tool_result_rejected() -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": "a",
        "content": [{"type": "document", "source": {}}],
    }
    assert (
        rejects(body(messages=[{"role": "user", "content": [result]}])).param
        == "messages.0.content.0.content.0"
    )


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        (body(messages=[]), "messages"),
        (body(messages="hello"), "messages"),
        (body(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
        (body(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
        (body(messages=[{"role": "user", "content": [{"type": "video"}]}]), "messages.0.content.0"),
        (
            body(messages=[{"role": "user", "content": [{"type": "text"}]}]),
            "messages.0.content.0.text",
        ),
        (body(max_tokens=0), "max_tokens"),
        (body(temperature=3), "temperature"),
        (body(tool_choice={"type": "sometimes"}), "tool_choice.type"),
        (body(tool_choice={"type": "tool"}), "tool_choice.name"),
        (body(thinking={"type": "enabled", "budget_tokens": "lots"}), "thinking.budget_tokens"),
        (
            body(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "tool_use", "id": "a", "name": "b", "input": {}}],
                    }
                ]
            ),
            "messages.0.content.0",
        ),
        (
            body(
                messages=[
                    {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "a"}]}
                ]
            ),
            "messages.0.content.0",
        ),
    ],
)
def test_wrong_types_and_missing_fields_name_the_field(data: dict[str, Any], param: str) -> None:
    assert rejects(data).param == param


def test_invalid_json_and_non_object_body_are_400() -> None:
    assert "JSON" in rejects(b"{not json").message
    assert "object" in rejects(b"[1, 2]").message


def test_unknown_fields_are_ignored() -> None:
    conv = convert(
        body(some_future_field={"x": 1}, messages=[{"role": "user", "content": "x", "extra": 1}])
    )
    assert conv.messages[0].blocks == [TextBlock("x")]


def test_custom_tools_kept_and_server_tools_dropped_alongside_them() -> None:
    tools = [
        {
            "name": "Read",
            "description": "read a file",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "custom", "name": "Write", "input_schema": None},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    ]
    conv = convert(body(tools=tools))
    assert [(t.name, t.description) for t in conv.tools] == [("Read", "read a file"), ("Write", "")]
    assert conv.tools[1].input_schema == {}


def test_server_tools_only_request_is_rejected_so_claude_code_web_search_fails_honestly() -> None:
    error = rejects(body(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    assert error.param == "tools"
    assert "web_search_20250305" in error.message


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, ("auto", None)),
        ({"type": "any"}, ("any", None)),
        ({"type": "tool", "name": "Read"}, ("tool", "Read")),
        ({"type": "none"}, ("none", None)),
        ({"type": "auto", "disable_parallel_tool_use": True}, ("auto", None)),
    ],
)
def test_tool_choice_variants(choice: dict[str, Any], expected: tuple[str, str | None]) -> None:
    conv = convert(body(tool_choice=choice))
    assert (conv.tool_choice.type, conv.tool_choice.name) == expected


@pytest.mark.parametrize(
    ("extra", "enabled", "budget", "effort"),
    [
        ({}, False, None, None),
        ({"thinking": {"type": "disabled"}}, False, None, None),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, True, 4096, None),
        ({"thinking": {"type": "adaptive"}}, True, None, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, True, None, "low"),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}},
            True,
            None,
            "high",
        ),
    ],
)
def test_thinking_field_is_honoured(
    extra: dict[str, Any], enabled: bool, budget: int | None, effort: str | None
) -> None:
    thinking = convert(body(**extra)).thinking
    assert (thinking.enabled, thinking.budget_tokens, thinking.adaptive_effort) == (
        enabled,
        budget,
        effort,
    )


def test_sampling_fields_stop_sequences_and_stream_are_accepted() -> None:
    data = body(stop_sequences=["END"], temperature=0.5, top_p=0.9, top_k=40, stream=True)
    req = parse_anthropic_request(orjson.dumps(data))
    assert req.stream is True and req.top_k == 40
    assert anthropic_to_conversation(req).stop_sequences == ["END"]


@pytest.mark.parametrize(
    ("user_id", "hint"),
    [
        (
            "user_abc_account_11111111-2222-3333-4444-555555555555_session_aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        ),
        ('{"session_id": "s-1", "device": "x"}', "s-1"),
        ("plain-user", "plain-user"),
        (None, None),
    ],
)
def test_metadata_user_id_becomes_session_hint(user_id: str | None, hint: str | None) -> None:
    assert convert(body(metadata={"user_id": user_id})).session_hint == hint


def test_tool_use_input_given_as_json_string_is_decoded() -> None:
    assistant = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "a", "name": "b", "input": '{"x": 1}'}],
    }
    conv = convert(body(messages=[{"role": "user", "content": "q"}, assistant]))
    assert conv.messages[1].blocks == [ToolUseBlock("a", "b", {"x": 1})]


@pytest.mark.parametrize(
    ("choice", "parallel"),
    [
        (None, True),
        ({"type": "auto"}, True),
        ({"type": "auto", "disable_parallel_tool_use": False}, True),
        ({"type": "any", "disable_parallel_tool_use": True}, False),
    ],
)
def test_disable_parallel_tool_use_reaches_the_conversation(
    choice: dict[str, Any] | None, parallel: bool
) -> None:
    data = body() if choice is None else body(tool_choice=choice)
    assert convert(data).parallel_tool_calls is parallel
