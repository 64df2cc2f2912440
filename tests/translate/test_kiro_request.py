"""build_kiro_request: layout rules, per-quirk tests, and a property test over random
conversations checked by a small structural checker (and the simulator's validator)."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiro_proxy.simulator.validation import validate_generate_body
from kiro_proxy.translate.anthropic_request import (
    anthropic_to_conversation,
    parse_anthropic_request,
)
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


# ---- property test ------------------------------------------------------------------------

NAME_OK = 64


def check_structure(payload: dict[str, Any]) -> None:
    """A small pure checker of protocol doc §2.2, independent of the simulator's."""
    st_ = payload["conversationState"]
    history = st_.get("history", [])
    cur = st_["currentMessage"]["userInputMessage"]
    assert len(history) % 2 == 0, "history must end with an assistant turn"
    pending: set[str] = set()
    used_names: set[str] = set()
    for i, entry in enumerate(history):
        if i % 2 == 0:
            msg = entry["userInputMessage"]
            results = {
                r["toolUseId"]
                for r in msg.get("userInputMessageContext", {}).get("toolResults", [])
            }
            assert results == pending, "results must answer exactly the previous tool uses"
            assert "tools" not in msg.get("userInputMessageContext", {})
        else:
            msg = entry["assistantResponseMessage"]
            pending = {u["toolUseId"] for u in msg.get("toolUses", [])}
            used_names |= {u["name"] for u in msg.get("toolUses", [])}
        assert msg["content"].strip(), f"history[{i}] content empty"
    assert cur["content"].strip()
    context = cur.get("userInputMessageContext", {})
    assert {r["toolUseId"] for r in context.get("toolResults", [])} == pending
    for r in context.get("toolResults", []):
        assert r["content"][0]["text"]
    declared = [t["toolSpecification"]["name"] for t in context.get("tools", [])]
    assert used_names <= set(declared)
    assert all(0 < len(n) <= NAME_OK for n in declared)
    assert len({n.lower() for n in declared}) == len(declared)


names = st.sampled_from(["Read", "Bash", "mcp__srv__" + "x" * 70, "bad name!", "9lives", ""])
ids = st.sampled_from(["t1", "t2", "t3", "call_0", ""])
texts = st.sampled_from(["", "  ", "hello", "x" * 50])
schemas = st.sampled_from(
    [None, {}, {"type": None}, {"properties": None, "required": None}, {"type": "object"}]
)

blocks = st.one_of(
    texts.map(TextBlock),
    st.builds(ToolUseBlock, ids, names, st.just({})),
    st.builds(ToolResultBlock, ids, texts, st.booleans(), st.just([])),
    st.builds(
        ToolResultBlock, ids, texts, st.booleans(), st.just([ImageBlock("image/png", PNG_B64)])
    ),
    st.just(ImageBlock("image/png", PNG_B64)),
    st.just(ThinkingBlock("t")),
)
messages = st.lists(
    st.builds(Message, st.sampled_from(["user", "assistant"]), st.lists(blocks, max_size=4)),
    max_size=8,
)
tools = st.lists(
    st.builds(ToolDef, names, st.sampled_from(["", "d", "y" * 11000]), schemas), max_size=4
)
choices = st.sampled_from([ToolChoice(), ToolChoice("any"), ToolChoice("none")])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages, tools, choices, texts, st.booleans())
def test_random_conversations_always_build_well_formed_kiro_requests(
    msgs: list[Message], tool_defs: list[ToolDef], choice: ToolChoice, system: str, thinking: bool
) -> None:
    conv = Conversation(system=system, messages=msgs, tools=tool_defs, tool_choice=choice)
    payload = build(conv, thinking=thinking)
    check_structure(payload)
    assert validate_generate_body(payload) is None


# ---- performance ----------------------------------------------------------------------------


def claude_code_sized_request() -> bytes:
    schema = {
        "type": "object",
        "$schema": "http://json-schema.org/draft-07/schema#",
        "additionalProperties": False,
        "properties": {
            f"arg{i}": {
                "type": "string",
                "description": "An argument that does something useful. " * 4,
            }
            for i in range(12)
        },
        "required": ["arg0", "arg1"],
    }
    tools = [
        {
            "name": f"Tool{i}" if i < 15 else f"mcp__server_{i}__" + "long_tool_name_" * 4,
            "description": "Does a thing. " * 60,
            "input_schema": schema,
        }
        for i in range(20)
    ]
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                {"type": "text", "text": "please fix the failing tests"},
            ],
        }
    ]
    for i in range(60):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {
                        "type": "tool_use",
                        "id": f"toolu_{i}",
                        "name": f"Tool{i % 15}",
                        "input": {"arg0": "src/app.py", "arg1": "x" * 40},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": f"toolu_{i}",
                        "content": "line of output\n" * 60,
                    }
                ],
            }
        )
    system = [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Instructions. " * 1500, "cache_control": {"type": "ephemeral"}},
    ]
    return orjson.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "system": system,
            "tools": tools,
            "messages": messages,
            "stream": True,
            "metadata": {"user_id": "user_x_account_y_session_1234abcd-0000"},
        }
    )


def test_claude_code_sized_request_translates_in_a_few_milliseconds() -> None:
    raw = claude_code_sized_request()
    assert len(raw) > 100_000
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        conv = anthropic_to_conversation(parse_anthropic_request(raw))
        request = build_kiro_request(
            conv, model_id="claude-sonnet-4.5", thinking=False, conversation_id=CID
        )
        request.to_json()
        best = min(best, time.perf_counter() - start)
    assert validate_generate_body(request.to_payload()) is None
    # Budget generous for a shared 2-core machine; typical figure is reported by the engineer.
    assert best < 0.05, f"{best * 1000:.1f} ms"


def test_openai_tool_loop_end_to_end_is_well_formed() -> None:
    from kiro_proxy.translate.openai_request import openai_to_conversation, parse_openai_request

    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "read_file", "arguments": '{"p": "a"}'},
    }
    data = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are Cline."},
            {"role": "user", "content": "read a"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "A"},
            {"role": "user", "content": "now summarise"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "read_file", "parameters": {"type": "object"}},
            }
        ],
    }
    conv = openai_to_conversation(parse_openai_request(orjson.dumps(data)))
    payload = build(conv)
    check_structure(payload)
    assert validate_generate_body(payload) is None
    assert current(payload)["content"] == "now summarise"
    results = current(payload)["userInputMessageContext"]["toolResults"]
    assert results == [{"toolUseId": "c1", "content": [{"text": "A"}], "status": "success"}]


def test_claude_code_interrupted_tool_result_with_text_is_well_formed() -> None:
    data = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": "sys",
        "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "run ls"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "is_error": True,
                        "content": "interrupted",
                    },
                    {"type": "text", "text": "[Request interrupted by user]"},
                ],
            },
            {"role": "user", "content": "do something else"},
        ],
    }
    payload = build(anthropic_to_conversation(parse_anthropic_request(orjson.dumps(data))))
    assert validate_generate_body(payload) is None
    assert current(payload)["content"] == "[Request interrupted by user]\n\ndo something else"
    assert current(payload)["userInputMessageContext"]["toolResults"][0]["status"] == "error"
