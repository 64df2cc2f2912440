"""build_kiro_request: layout rules and per-quirk tests (property test and performance in
test_kiro_request_properties.py)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson

from kiro_proxy.translate.conversation import (
    Conversation,
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ThinkingConfig,
    ToolChoice,
    ToolDef,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.hygiene import (
    EMPTY_TEXT,
    EMPTY_TOOL_RESULT,
    TOOL_RESULTS_ONLY_TEXT,
    TOOL_USE_ONLY_TEXT,
)
from kiro_proxy.translate.kiro_request import (
    build_kiro_request,
    conversation_id_for,
    kiro_request_size,
)
from kiro_proxy.translate.tool_specs import shorten_tool_name

CID = "00000000-0000-4000-8000-000000000000"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8).decode()


def build(conv: Conversation, thinking: bool = False) -> dict[str, Any]:
    return build_kiro_request(
        conv, model_id="claude-sonnet-4.5", thinking=thinking, conversation_id=CID
    ).to_payload()


def state(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["conversationState"]


def current(payload: dict[str, Any]) -> dict[str, Any]:
    return state(payload)["currentMessage"]["userInputMessage"]


def first_user_content(payload: dict[str, Any]) -> str:
    history = state(payload).get("history")
    return history[0]["userInputMessage"]["content"] if history else current(payload)["content"]


def loop_conversation(rounds: int) -> Conversation:
    messages = [Message("user", [TextBlock("fix the bug")])]
    for i in range(rounds):
        messages.append(Message("assistant", [ToolUseBlock(f"t{i}", "Read", {"path": f"f{i}"})]))
        messages.append(Message("user", [ToolResultBlock(f"t{i}", f"content {i}")]))
    return Conversation(
        system="You are a coding agent.", messages=messages, tools=[ToolDef("Read", "read", {})]
    )


# ---- layout rules ----------------------------------------------------------------------


def test_system_prompt_is_sent_once_at_the_start_and_stays_identical_across_a_tool_loop() -> None:
    turns = [build(loop_conversation(n)) for n in range(4)]
    firsts = {first_user_content(p) for p in turns}
    assert firsts == {"You are a coding agent.\n\nfix the bug"}
    last = turns[-1]
    bodies = orjson.dumps(last).decode()
    assert bodies.count("You are a coding agent.") == 1
    assert "You are a coding agent." not in current(last)["content"]


def test_nothing_is_injected_that_the_client_did_not_ask_for() -> None:
    payload = build(Conversation(messages=[Message("user", [TextBlock("hello")])]))
    assert current(payload)["content"] == "hello"
    assert "history" not in state(payload)
    assert "userInputMessageContext" not in current(payload)


def test_thinking_tags_go_in_front_of_the_system_prompt() -> None:
    conv = Conversation(
        system="sys",
        messages=[Message("user", [TextBlock("q")])],
        thinking=ThinkingConfig(True, 4096),
    )
    assert current(build(conv))["content"] == (
        "<thinking_mode>enabled</thinking_mode><max_thinking_length>4096</max_thinking_length>\n\nsys\n\nq"
    )


def test_thinking_from_model_suffix_uses_default_budget_and_adaptive_uses_effort() -> None:
    conv = Conversation(messages=[Message("user", [TextBlock("q")])])
    assert (
        "<max_thinking_length>16000</max_thinking_length>"
        in current(build(conv, thinking=True))["content"]
    )
    conv.thinking = ThinkingConfig(True, None, "medium")
    assert current(build(conv))["content"].startswith(
        "<thinking_mode>adaptive</thinking_mode><thinking_effort>medium</thinking_effort>"
    )


def test_prefill_goes_to_history_and_current_is_continue() -> None:
    conv = Conversation(
        messages=[Message("user", [TextBlock("q")]), Message("assistant", [TextBlock("{")])]
    )
    payload = build(conv)
    assert state(payload)["history"][-1] == {"assistantResponseMessage": {"content": "{"}}
    assert current(payload)["content"] == "Continue"


def test_empty_contents_get_placeholders_because_kiro_rejects_empty_strings() -> None:
    conv = Conversation(
        messages=[
            Message("user", [TextBlock("")]),
            Message("assistant", [ToolUseBlock("t1", "Read", {})]),
            Message("user", [ToolResultBlock("t1", "")]),
            Message("assistant", [ThinkingBlock("only thinking")]),
            Message("user", [ToolResultBlock("zz", "orphan")]),
        ],
        tools=[ToolDef("Read", "r", {})],
    )
    history = state(build(conv))["history"]
    assert history[0]["userInputMessage"]["content"] == EMPTY_TEXT
    assert history[1]["assistantResponseMessage"]["content"] == TOOL_USE_ONLY_TEXT
    assert history[2]["userInputMessage"]["content"] == TOOL_RESULTS_ONLY_TEXT
    result = history[2]["userInputMessage"]["userInputMessageContext"]["toolResults"][0]
    assert result["content"] == [{"text": EMPTY_TOOL_RESULT}]
    assert history[3]["assistantResponseMessage"]["content"] == EMPTY_TEXT


def test_tool_choice_any_tool_and_none_become_instructions_on_the_current_turn() -> None:
    base = Conversation(
        messages=[Message("user", [TextBlock("q")])], tools=[ToolDef("Read", "r", {})]
    )
    base.tool_choice = ToolChoice("any")
    assert "calling one or more of the available tools" in current(build(base))["content"]
    base.tool_choice = ToolChoice("tool", "Read")
    assert current(build(base))["content"].endswith("Respond by calling the tool `Read`.")
    base.tool_choice = ToolChoice("none")
    payload = build(base)
    assert current(payload)["content"] == "q"  # nothing declared → nothing to forbid
    assert "userInputMessageContext" not in current(payload)
    loop = loop_conversation(1)
    loop.tools.append(ToolDef("Write", "w", {}))
    loop.tool_choice = ToolChoice("none")
    payload = build(loop)
    assert "Do not call any tools" in current(payload)["content"]
    declared = current(payload)["userInputMessageContext"]["tools"]
    assert [t["toolSpecification"]["name"] for t in declared] == ["Read"]  # history needs it


def test_tool_choice_any_without_any_tools_adds_no_instruction() -> None:
    conv = Conversation(messages=[Message("user", [TextBlock("q")])], tool_choice=ToolChoice("any"))
    assert current(build(conv))["content"] == "q"


def test_output_instruction_is_on_the_current_turn_only() -> None:
    conv = loop_conversation(1)
    conv.output_instruction = "JSON please"
    payload = build(conv)
    assert current(payload)["content"].endswith("JSON please")
    assert "JSON please" not in orjson.dumps(state(payload)["history"]).decode()


def test_long_tool_names_are_renamed_in_specs_and_history_and_mapped_back() -> None:
    long_name = "mcp__very_long_server_name__" + "a" * 60
    conv = Conversation(
        messages=[
            Message("user", [TextBlock("q")]),
            Message("assistant", [ToolUseBlock("t1", long_name, {})]),
            Message("user", [ToolResultBlock("t1", "ok")]),
        ],
        tools=[ToolDef(long_name, "d", {})],
    )
    request = build_kiro_request(conv, model_id="m", thinking=False, conversation_id=CID)
    short = shorten_tool_name(long_name)
    assert request.tool_name_map == {short: long_name}
    payload = request.to_payload()
    assert state(payload)["history"][1]["assistantResponseMessage"]["toolUses"][0]["name"] == short
    assert (
        current(payload)["userInputMessageContext"]["tools"][0]["toolSpecification"]["name"]
        == short
    )


def test_long_tool_description_lands_in_the_system_context_under_a_heading() -> None:
    conv = Conversation(
        system="sys",
        messages=[Message("user", [TextBlock("q")])],
        tools=[ToolDef("Bash", "x" * 12000, {})],
    )
    payload = build(conv)
    assert "## Tool: Bash\n" + "x" * 12000 in current(payload)["content"]
    spec = current(payload)["userInputMessageContext"]["tools"][0]["toolSpecification"]
    assert len(spec["description"]) <= 1000


def test_request_without_tools_turns_tool_history_into_text() -> None:
    conv = loop_conversation(2)
    conv.tools = []
    payload = build(conv)
    text = orjson.dumps(payload).decode()
    assert "toolUses" not in text and "toolResults" not in text and '"tools"' not in text
    assert "[called tool Read (id t0)" in text


def test_images_only_on_user_turns_with_kiro_format() -> None:
    conv = Conversation(
        messages=[Message("user", [TextBlock("see"), ImageBlock("image/jpeg", PNG_B64)])]
    )
    assert current(build(conv))["images"] == [{"format": "jpeg", "source": {"bytes": PNG_B64}}]


def test_conversation_id_is_stable_per_session_and_random_without_one() -> None:
    assert conversation_id_for("sess", CID) == conversation_id_for("sess", "other")
    assert uuid.UUID(conversation_id_for("sess", CID)).version == 5
    assert conversation_id_for(None, CID) == CID


def test_profile_arn_and_size_helper() -> None:
    request = build_kiro_request(
        loop_conversation(1), model_id="m", thinking=False, conversation_id=CID, profile_arn="arn:x"
    )
    assert request.to_payload()["profileArn"] == "arn:x"
    assert kiro_request_size(request) == len(request.to_json())


def test_parallel_tool_calls_off_asks_for_at_most_one_call() -> None:
    conv = Conversation(
        messages=[Message("user", [TextBlock("q")])],
        tools=[ToolDef("Read", "r", {})],
        parallel_tool_calls=False,
    )
    assert current(build(conv))["content"] == "q\n\nCall at most one tool in this response."
    conv.tool_choice = ToolChoice("any")
    assert current(build(conv))["content"].endswith("calling exactly one of the available tools.")
    conv.tool_choice = ToolChoice("none")
    assert current(build(conv))["content"] == "q"  # no tools sent: nothing to limit
    conv.tool_choice = ToolChoice()
    conv.tools = []
    assert current(build(conv))["content"] == "q"
