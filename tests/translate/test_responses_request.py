"""Responses request → Conversation: items, tools, tool_choice, reasoning, refusals."""

from __future__ import annotations

import base64
import itertools
import typing
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses.response_input_item_param import ResponseInputItemParam

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.simulator.validation import validate_generate_body
from kiro_proxy.translate.conversation import (
    ImageBlock,
    ImageUrlBlock,
    Message,
    TextBlock,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.kiro_request import build_kiro_request
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
    with pytest.raises(InvalidRequestError) as info:
        translate(**body)
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


def test_an_unknown_effort_is_refused_with_the_accepted_values() -> None:
    error = refused(input="x", reasoning={"effort": "extreme"})
    assert error.param == "reasoning.effort"
    assert all(value in str(error) for value in ("none", "minimal", "xhigh"))


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


# --- items of OpenAI's hosted tools ---------------------------------------------------------------

SHOT = f"data:image/png;base64,{PNG}"
# One item of every hosted-tool type, in the SDK's shapes (ResponseInputItemParam), with the side
# its note lands on (None: dropped) and text the note must carry.
HOSTED: dict[str, tuple[dict[str, Any], str | None, list[str]]] = {
    "web_search_call": (
        {
            "type": "web_search_call",
            "id": "ws_1",
            "status": "completed",
            "action": {"type": "search", "query": "kiro pricing"},
        },
        None,
        [],
    ),
    "file_search_call": (
        {
            "type": "file_search_call",
            "id": "fs_1",
            "status": "completed",
            "queries": ["refund policy", "returns"],
            "results": [{"file_id": "file_1", "filename": "policy.md", "text": "30 days."}],
        },
        "assistant",
        ["[file search: refund policy; returns]", "policy.md: 30 days."],
    ),
    "computer_call": (
        {
            "type": "computer_call",
            "id": "cu_1",
            "call_id": "call_cu",
            "status": "completed",
            "pending_safety_checks": [],
            "action": {"type": "click", "button": "left", "x": 10, "y": 20},
        },
        "assistant",
        ['[computer action call_cu: {"button":"left","type":"click","x":10,"y":20}]'],
    ),
    "computer_call_output": (
        {
            "type": "computer_call_output",
            "call_id": "call_cu",
            "output": {"type": "computer_screenshot", "image_url": SHOT},
        },
        "user",
        ["[screenshot after computer action call_cu]"],
    ),
    "image_generation_call": (
        {
            "type": "image_generation_call",
            "id": "ig_1",
            "status": "completed",
            "result": "aGVsbG8=",
            "revised_prompt": "A red fox in snow",
        },
        "assistant",
        ["[image generation completed: A red fox in snow]"],
    ),
    "code_interpreter_call": (
        {
            "type": "code_interpreter_call",
            "id": "ci_1",
            "status": "completed",
            "container_id": "cntr_1",
            "code": "print(6 * 7)",
            "outputs": [
                {"type": "logs", "logs": "42"},
                {"type": "image", "url": "https://example.com/plot.png"},
            ],
        },
        "assistant",
        [
            "[code interpreter run]\nprint(6 * 7)\n[output]\n42\n[image: https://example.com/plot.png]"
        ],
    ),
    "local_shell_call": (
        {
            "type": "local_shell_call",
            "id": "ls_1",
            "call_id": "call_sh",
            "status": "completed",
            "action": {
                "type": "exec",
                "command": ["ls", "-la"],
                "env": {},
                "working_directory": "/repo",
            },
        },
        "assistant",
        ["[shell call call_sh: ls -la (in /repo)]"],
    ),
    "local_shell_call_output": (
        {
            "type": "local_shell_call_output",
            "id": "call_sh",
            "output": '{"output": "a.txt\\nb.txt", "metadata": {"exit_code": 0}}',
        },
        "user",
        ['[output of shell call call_sh]\n{"output": "a.txt\\nb.txt"'],
    ),
    "shell_call": (
        {
            "type": "shell_call",
            "call_id": "call_sh2",
            "action": {"commands": ["cd src", "pytest -q"], "timeout_ms": 1000},
        },
        "assistant",
        ["[shell call call_sh2]\ncd src\npytest -q"],
    ),
    "shell_call_output": (
        {
            "type": "shell_call_output",
            "call_id": "call_sh2",
            "output": [
                {
                    "stdout": "1 passed",
                    "stderr": "warning",
                    "outcome": {"type": "exit", "exit_code": 0},
                }
            ],
        },
        "user",
        ["[output of shell call call_sh2]\n1 passed\n[stderr]\nwarning\n[exit code 0]"],
    ),
    "apply_patch_call": (
        {
            "type": "apply_patch_call",
            "call_id": "call_ap",
            "status": "completed",
            "operation": {"type": "update_file", "path": "a.py", "diff": "-x\n+y"},
        },
        "assistant",
        ["[apply_patch call_ap: update_file a.py]\n-x\n+y"],
    ),
    "apply_patch_call_output": (
        {
            "type": "apply_patch_call_output",
            "call_id": "call_ap",
            "status": "failed",
            "output": "hunk 1 did not apply",
        },
        "user",
        ["[result of apply_patch call_ap: failed]\nhunk 1 did not apply"],
    ),
    "mcp_call": (
        {
            "type": "mcp_call",
            "id": "mcp_1",
            "server_label": "github",
            "name": "search_issues",
            "arguments": '{"q": "bug"}',
            "output": "3 issues",
            "status": "completed",
        },
        "assistant",
        ['[MCP tool github.search_issues called with {"q": "bug"}]\n[output]\n3 issues'],
    ),
    "mcp_list_tools": (
        {
            "type": "mcp_list_tools",
            "id": "ml_1",
            "server_label": "github",
            "tools": [{"name": "search_issues", "input_schema": {"type": "object"}}],
        },
        None,
        [],
    ),
    "mcp_approval_request": (
        {
            "type": "mcp_approval_request",
            "id": "mr_1",
            "server_label": "github",
            "name": "close_issue",
            "arguments": '{"n": 7}',
        },
        "assistant",
        ['[approval requested for MCP tool github.close_issue with {"n": 7}]'],
    ),
    "mcp_approval_response": (
        {
            "type": "mcp_approval_response",
            "approval_request_id": "mr_1",
            "approve": False,
            "reason": "not now",
        },
        "user",
        ["[MCP tool call declined: not now]"],
    ),
    "program": (
        {
            "type": "program",
            "id": "pg_1",
            "call_id": "call_pg",
            "code": "await tools.f()",
            "fingerprint": "fp",
        },
        "assistant",
        ["[program call_pg]\nawait tools.f()"],
    ),
    "program_output": (
        {
            "type": "program_output",
            "id": "po_1",
            "call_id": "call_pg",
            "result": "ok",
            "status": "completed",
        },
        "user",
        ["[result of program call_pg (completed)]\nok"],
    ),
    "tool_search_call": (
        {"type": "tool_search_call", "arguments": {"query": "calendar"}, "call_id": "ts_1"},
        None,
        [],
    ),
    "configuration_update": (
        {"type": "configuration_update", "reasoning": {"effort": "low"}},
        None,
        [],
    ),
    "compaction": ({"type": "compaction", "encrypted_content": "opaque"}, None, []),
}


def texts(blocks: list[Any]) -> str:
    return "\n".join(b.text for b in blocks if isinstance(b, TextBlock))


@pytest.mark.parametrize("kind", sorted(HOSTED))
def test_hosted_tool_item_becomes_a_note_or_is_dropped(kind: str) -> None:
    item, side, expected = HOSTED[kind]
    messages = translate(
        input=[{"role": "user", "content": "Go"}, item, {"role": "user", "content": "Next"}]
    ).conversation.messages
    roles = [m.role for m in messages]
    if side is None:
        assert roles == ["user"]
        assert messages[0].blocks == [TextBlock("Go"), TextBlock("Next")]
        return
    note = texts(messages[1].blocks if side == "assistant" else messages[0].blocks)
    assert roles == (["user", "assistant", "user"] if side == "assistant" else ["user"])
    for text in expected:
        assert text in note


def test_a_screenshot_output_keeps_the_image_and_names_an_uploaded_one() -> None:
    item = HOSTED["computer_call_output"][0]
    blocks = translate(input=[item]).conversation.messages[0].blocks
    assert blocks[1:] == [ImageBlock("image/png", PNG)]
    uploaded = {**item, "output": {"type": "computer_screenshot", "file_id": "file_9"}}
    (block,) = translate(input=[uploaded]).conversation.messages[0].blocks
    assert block == TextBlock(
        "[screenshot after computer action call_cu: uploaded file file_9, not available here]"
    )


def test_hosted_items_without_their_useful_parts_are_dropped_or_still_readable() -> None:
    bare_search = {k: v for k, v in HOSTED["file_search_call"][0].items() if k != "results"}
    messages = translate(
        input=[{"role": "user", "content": "x"}, bare_search]
    ).conversation.messages
    assert messages == [Message("user", [TextBlock("x")])]
    failed_mcp = {
        "type": "mcp_call",
        "id": "m",
        "server_label": "s",
        "name": "t",
        "arguments": "{}",
        "error": {"type": "http_error", "code": 500, "message": "down"},
    }
    (message,) = translate(input=[failed_mcp]).conversation.messages
    assert texts(message.blocks) == (
        '[MCP tool s.t called with {}]\n[error]\n{"code":500,"message":"down","type":"http_error"}'
    )
    timeout = {
        "type": "shell_call_output",
        "call_id": "c",
        "output": [{"stdout": "", "stderr": "", "outcome": {"type": "timeout"}}],
    }
    assert texts(translate(input=[timeout]).conversation.messages[0].blocks) == (
        "[output of shell call c]\n[timed out]"
    )


def test_every_input_item_type_of_the_sdk_is_handled_or_refused_with_a_reason() -> None:
    """A new item type in the SDK shows up here, so its mapping gets decided."""
    sdk_kinds: set[str] = set()
    for shape in typing.get_args(ResponseInputItemParam):
        sdk_kinds.update(_literals(typing.get_type_hints(shape)["type"]))
    handled = {"message", "function_call", "function_call_output", "custom_tool_call"}
    handled |= {"custom_tool_call_output", "reasoning", "additional_tools", "tool_search_output"}
    refused_kinds = {"item_reference", "compaction_trigger"}
    assert sdk_kinds == set(HOSTED) | handled | refused_kinds
    for kind in refused_kinds:
        error = refused_item({"type": kind, "id": "x"})
        assert error.param == "input.0" and kind in str(error)


def _literals(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [value for arg in typing.get_args(annotation) for value in _literals(arg)]


def refused_item(item: dict[str, Any]) -> InvalidRequestError:
    return refused(input=[item])


def test_an_item_type_outside_the_sdk_is_refused_by_name() -> None:
    error = refused_item({"type": "hologram_call", "id": "h"})
    assert error.param == "input.0.type"
    assert "'hologram_call'" in str(error)


def test_items_that_add_tools_declare_their_function_and_custom_tools() -> None:
    translation = translate(
        tools=[{"type": "function", "name": "base", "parameters": {"type": "object"}}],
        input=[
            {"role": "user", "content": "Plan my week"},
            {
                "type": "additional_tools",
                "role": "developer",
                "tools": [
                    {"type": "function", "name": "calendar", "parameters": {"type": "object"}},
                    {"type": "web_search"},
                ],
            },
            HOSTED["tool_search_call"][0],
            {
                "type": "tool_search_output",
                "call_id": "ts_1",
                "tools": [
                    {
                        "type": "namespace",
                        "name": "mail",
                        "description": "Mail",
                        "tools": [{"type": "custom", "name": "draft"}],
                    },
                    {"type": "function", "name": "base", "parameters": {"type": "object"}},
                ],
            },
            {"type": "function_call", "call_id": "c1", "name": "calendar", "arguments": "{}"},
        ],
    )
    conv = translation.conversation
    assert [t.name for t in conv.tools] == ["base", "calendar", "mail__draft"]
    assert translation.tools.identity("mail__draft") == ToolIdentity("custom", "draft", "mail")
    assert translation.tools.left_out == ["web_search"]
    assert [m.role for m in conv.messages] == ["user", "assistant"]
    assert conv.system == ""  # the developer role of additional_tools is not a message
    payload = build_kiro_request(
        conv, model_id="claude-sonnet-4.5", thinking=False, conversation_id="c"
    ).to_payload()
    assert validate_generate_body(payload) is None
    bad = refused(input=[{"type": "additional_tools", "role": "developer", "tools": "calendar"}])
    assert bad.param == "input.0.tools"


_hosted_item = st.sampled_from([item for item, _, _ in HOSTED.values()])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_item, _hosted_item), min_size=1, max_size=14))
def test_any_history_with_hosted_items_stays_a_valid_kiro_request(
    items: list[dict[str, Any]],
) -> None:
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    conv = translate(input=items, tools=tools).conversation
    roles = [m.role for m in conv.messages]
    assert all(a != b for a, b in itertools.pairwise(roles))
    payload = build_kiro_request(
        conv, model_id="claude-sonnet-4.5", thinking=False, conversation_id="c"
    ).to_payload()
    assert validate_generate_body(payload) is None
