"""/v1/responses driven by the official `openai` SDK (`client.responses`), wired to the Kiro
simulator: text, streams, function and custom tool round trips, reasoning, images, the output
budget, errors in OpenAI's shape and the usage rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from kiro_proxy.simulator.script import (
    ExceptionFrame,
    Metadata,
    Metering,
    Reasoning,
    Reply,
    Text,
    ToolUse,
)
from tests.e2e.conftest import assert_all_valid, current_user_input
from tests.e2e.stack import LiveStack
from tests.e2e.test_anthropic_sdk import tiny_png
from tests.translate.test_responses_response import without_sdk_parsing

MODEL = "claude-sonnet-4.5"

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": False,
}
PATCH_TOOL = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch to the files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" /.+/s'},
}


def usage_steps(output_tokens: int = 5) -> list[object]:
    return [Metering(0.01), Metadata(uncached_input_tokens=90, output_tokens=output_tokens)]


def current_message(stack: LiveStack) -> dict[str, Any]:
    return current_user_input(stack.generate_requests()[-1].body)


@pytest.fixture
def client(stack: LiveStack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stack.url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_create_returns_text_usage_and_echoed_settings(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    stack.enqueue(Reply([Text("Hi "), Text("there."), *usage_steps()]))
    response = client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input="Hello",
        temperature=0.3,
        top_p=0.8,
        metadata={"ticket": "42"},
        store=True,
        include=["reasoning.encrypted_content"],
        truncation="auto",
        user="someone",
    )
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == MODEL
    assert response.output_text == "Hi there."
    assert (response.instructions, response.temperature, response.top_p) == ("Be brief.", 0.3, 0.8)
    assert response.metadata == {"ticket": "42"}
    assert response.store is False  # nothing is kept, whatever the client asked
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (90, 5)
    assert response.usage.total_tokens == 95
    sent = stack.generate_requests()[-1].body
    assert "Be brief." in json.dumps(sent)
    assert_all_valid(stack)


def test_stream_text_events_and_final_response(stack: LiveStack, client: openai.OpenAI) -> None:
    parts = [f"w{i} " for i in range(12)]
    stack.enqueue(Reply([*(Text(p) for p in parts), *usage_steps()]))
    events = list(client.responses.create(model=MODEL, input="Count", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "".join(parts)
    assert len(deltas) >= 2
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "".join(parts)
    assert final.usage is not None and final.usage.output_tokens == 5


def test_stream_helper_final_response_equals_the_non_streaming_answer(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    steps = [
        Reasoning("Think first."),
        Text("Checking."),
        ToolUse("tooluse_w", "get_weather", {"city": "Rome"}, fragments=3),
        *usage_steps(),
    ]
    request: dict[str, Any] = {
        "model": MODEL,
        "input": "Rome?",
        "tools": [WEATHER_TOOL],
        "reasoning": {"effort": "high"},
    }
    stack.enqueue(Reply(steps))
    plain = client.responses.create(**request)
    stack.enqueue(Reply(steps))
    with client.responses.stream(**request) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()

    def comparable(response: Any) -> dict[str, Any]:
        """Everything but the ids and timestamps, which differ between two replies."""
        dump = without_sdk_parsing(response.model_dump())
        for item in dump["output"]:
            item.pop("id")
        return {k: v for k, v in dump.items() if k not in ("id", "created_at")}

    assert comparable(final) == comparable(plain)
    assert [item.type for item in plain.output] == ["reasoning", "message", "function_call"]
    assert final.usage == plain.usage and final.status == plain.status == "completed"


def test_function_tool_round_trip(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(
        Reply([Text("Let me check."), ToolUse("tooluse_a", "get_weather", {"city": "Oslo"})])
    )
    first = client.responses.create(model=MODEL, input="Oslo weather?", tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather" and call.id and call.id.startswith("fc_")
    assert json.loads(call.arguments) == {"city": "Oslo"}
    sent_tools = current_message(stack)["userInputMessageContext"]["tools"]
    assert [t["toolSpecification"]["name"] for t in sent_tools] == ["get_weather"]

    history: list[Any] = [{"role": "user", "content": "Oslo weather?"}]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "snow"})
    stack.enqueue(Reply([Text("Snowy."), *usage_steps()]))
    second = client.responses.create(model=MODEL, input=history, tools=[WEATHER_TOOL])
    assert second.output_text == "Snowy."
    result = current_message(stack)["userInputMessageContext"]["toolResults"][0]
    assert result["toolUseId"] == call.call_id
    assert result["content"][0]["text"] == "snow"
    assert_all_valid(stack)


def test_custom_tool_call_streams_its_raw_input(stack: LiveStack, client: openai.OpenAI) -> None:
    patch = '*** Begin Patch\n*** Add File: a.txt\n+h\u00e9llo \U0001f600 "q"\n*** End Patch'
    # json.dumps writes é and the emoji as \\u escapes (a surrogate pair): 40 fragments cut some
    arguments = json.dumps({"input": patch})
    assert "\\ud83d\\ude00" in arguments
    stack.enqueue(Reply([ToolUse("tooluse_p", "apply_patch", arguments, fragments=40)]))
    events = list(
        client.responses.create(
            model=MODEL,
            input="Add a.txt",
            tools=[PATCH_TOOL, {"type": "web_search"}],
            stream=True,
        )
    )
    deltas = [e.delta for e in events if e.type == "response.custom_tool_call_input.delta"]
    assert len(deltas) > 1  # decoded as Kiro's fragments arrive, not in one piece at the end
    assert "".join(deltas) == patch
    done = [e for e in events if e.type == "response.output_item.done"]
    item = done[-1].item  # type: ignore[union-attr]
    assert item.type == "custom_tool_call"
    assert (item.name, item.call_id, item.input) == ("apply_patch", "tooluse_p", patch)
    sent = current_message(stack)["userInputMessageContext"]["tools"]
    assert [t["toolSpecification"]["name"] for t in sent] == ["apply_patch"]  # web_search left out

    history: list[Any] = [
        {"role": "user", "content": "Add a.txt"},
        item.model_dump(exclude_none=True),
    ]
    history.append({"type": "custom_tool_call_output", "call_id": "tooluse_p", "output": "Done!"})
    stack.enqueue(Reply([Text("Added."), *usage_steps()]))
    second = client.responses.create(model=MODEL, input=history, tools=[PATCH_TOOL])
    assert second.output_text == "Added."
    body = json.dumps(stack.generate_requests()[-1].body)
    assert "Done!" in body and "Add File: a.txt" in body
    assert_all_valid(stack)


def two_weather_calls() -> Reply:
    return Reply(
        [
            Text("Checking both."),
            ToolUse("tooluse_a", "get_weather", {"city": "Oslo"}, fragments=2),
            ToolUse("tooluse_b", "get_weather", {"city": "Rome"}, fragments=2),
            *usage_steps(),
        ]
    )


def test_parallel_tool_calls_false_keeps_only_the_first_call(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    request: dict[str, Any] = {"model": MODEL, "input": "Oslo and Rome?", "tools": [WEATHER_TOOL]}
    stack.enqueue(two_weather_calls())
    both = client.responses.create(**request)
    assert [i.call_id for i in both.output if i.type == "function_call"] == [
        "tooluse_a",
        "tooluse_b",
    ]
    assert both.parallel_tool_calls is True

    stack.enqueue(two_weather_calls())
    plain = client.responses.create(**request, parallel_tool_calls=False)
    assert [item.type for item in plain.output] == ["message", "function_call"]
    call = plain.output[1]
    assert call.type == "function_call"
    assert (call.call_id, json.loads(call.arguments)) == ("tooluse_a", {"city": "Oslo"})
    assert plain.parallel_tool_calls is False
    assert plain.usage is not None and plain.usage.output_tokens == 5
    assert "Call at most one tool in this response." in json.dumps(
        stack.generate_requests()[-1].body
    )

    stack.enqueue(two_weather_calls())
    events = list(client.responses.create(**request, parallel_tool_calls=False, stream=True))
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [item.type for item in added] == ["message", "function_call"]
    arguments = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta"
    )
    assert json.loads(arguments) == {"city": "Oslo"}
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.parallel_tool_calls is False
    assert [i.type for i in final.response.output] == ["message", "function_call"]
    assert_all_valid(stack)


def test_replayed_history_of_hosted_tools_becomes_notes(
    stack: LiveStack, client: openai.OpenAI
) -> None:
    """A conversation that used OpenAI's hosted tools, replayed here: the items turn into text
    notes (or are dropped) and Kiro gets a well-formed request."""
    history: list[Any] = [
        {"role": "user", "content": "What changed in the repo, and is the CI green?"},
        {
            "type": "web_search_call",
            "id": "ws_1",
            "status": "completed",
            "action": {"type": "search", "query": "ci status"},
        },
        {
            "type": "local_shell_call",
            "id": "lsh_1",
            "call_id": "call_sh",
            "status": "completed",
            "action": {"type": "exec", "command": ["git", "status"], "env": {}},
        },
        {"type": "local_shell_call_output", "id": "call_sh", "output": "modified: app.py"},
        {
            "type": "mcp_call",
            "id": "mcp_1",
            "server_label": "ci",
            "name": "latest_run",
            "arguments": '{"branch": "main"}',
            "output": "run 88: passed",
        },
        {"type": "mcp_list_tools", "id": "ml_1", "server_label": "ci", "tools": []},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "app.py changed; CI passed."}],
        },
        {"type": "function_call", "call_id": "call_w", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_w", "output": "sunny"},
        {"role": "user", "content": "Thanks. Summarise."},
    ]
    stack.enqueue(Reply([Text("Summary."), *usage_steps()]))
    response = client.responses.create(model=MODEL, input=history, tools=[WEATHER_TOOL])
    assert response.output_text == "Summary."
    body = stack.generate_requests()[-1].body
    state = body["conversationState"]
    sent = json.dumps(body)
    assert "[shell call call_sh: git status]" in sent
    assert "[output of shell call call_sh]\\nmodified: app.py" in sent
    assert "[MCP tool ci.latest_run called with" in sent and "run 88: passed" in sent
    assert "ci status" not in sent  # the web search item carried nothing to keep
    roles = [next(iter(turn)) for turn in state["history"]]
    assert roles == [
        "userInputMessage",
        "assistantResponseMessage",
        "userInputMessage",
        "assistantResponseMessage",
    ]
    assert current_message(stack)["userInputMessageContext"]["toolResults"][0]["toolUseId"] == (
        "call_w"
    )
    assert_all_valid(stack)

    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input=[{"type": "hologram_call", "id": "h"}])
    assert info.value.body["param"] == "input.0.type"  # type: ignore[index]
    assert "'hologram_call'" in info.value.body["message"]  # type: ignore[index]


def test_reasoning_becomes_a_summary_item(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Reasoning("Weighing options."), Text("Pick B."), *usage_steps()]))
    response = client.responses.create(model=MODEL + "-thinking", input="A or B?")
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert [s.text for s in reasoning.summary] == ["Weighing options."]
    assert response.output_text == "Pick B."
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens > 0
    assert "<thinking_mode>" in json.dumps(stack.generate_requests()[-1].body)

    stack.enqueue(Reply([Reasoning("Hmm."), Text("A."), *usage_steps()]))
    events = list(
        client.responses.create(
            model=MODEL, input="A or B?", reasoning={"effort": "medium"}, stream=True
        )
    )
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary == "Hmm."
    assert "<thinking_mode>" in json.dumps(stack.generate_requests()[-1].body)


def test_minimal_effort_keeps_thinking_off(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Text("Quick."), *usage_steps()]))
    client.responses.create(model=MODEL, input="x", reasoning={"effort": "minimal"})
    assert "<thinking_mode>" not in json.dumps(stack.generate_requests()[-1].body)


def test_image_input(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Text("A pixel."), *usage_steps()]))
    response = client.responses.create(
        model=MODEL,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is it?"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64," + tiny_png(),
                        "detail": "auto",
                    },
                ],
            }
        ],
    )
    assert response.output_text == "A pixel."
    assert current_message(stack)["images"][0]["format"] == "png"
    assert_all_valid(stack)


def test_max_output_tokens_gives_incomplete(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Text("word " * 400), Metadata(output_tokens=400)]))
    response = client.responses.create(model=MODEL, input="Talk", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 16
    assert response.usage is not None and response.usage.output_tokens == 16

    stack.enqueue(Reply([Text("word " * 400), Metadata(output_tokens=400)]))
    events = list(
        client.responses.create(model=MODEL, input="Talk", max_output_tokens=16, stream=True)
    )
    assert events[-1].type == "response.incomplete"


def test_mid_stream_failure_is_response_failed(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(
        Reply([Text("partial"), ExceptionFrame("InternalServerException", "upstream broke")])
    )
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert events[-1].type == "response.failed"
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.status == "failed"
    assert failed.error is not None and "upstream broke" in failed.error.message


# --- errors ---------------------------------------------------------------------------------


def _post(stack: LiveStack, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        stack.url + "/v1/responses",
        content=content,
        headers={"content-type": "application/json", **headers},
    )


def test_bad_json_is_an_openai_400(stack: LiveStack) -> None:
    answer = _post(stack, b"{not json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "not valid JSON" in error["message"]


def test_missing_model_names_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/responses", body={"input": "x"}, cast_to=object)
    assert info.value.body["param"] == "model"  # type: ignore[index]


def test_previous_response_id_is_refused_with_a_reason(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="x", previous_response_id="resp_abc")
    body: dict[str, Any] = info.value.body  # type: ignore[assignment]
    assert body["param"] == "previous_response_id"
    assert "whole conversation" in body["message"]


def test_item_reference_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input=[{"type": "item_reference", "id": "msg_1"}])
    assert info.value.body["param"] == "input.0"  # type: ignore[index]


def test_wrong_key_is_authentication_error(stack: LiveStack) -> None:
    assert stack.settings is not None
    stack.settings.require_api_key = True
    stack.settings.api_key = "sk-good"
    try:
        with openai.OpenAI(base_url=stack.url + "/v1", api_key="sk-bad", max_retries=0) as bad:
            with pytest.raises(openai.AuthenticationError) as info:
                bad.responses.create(model=MODEL, input="x")
        stack.enqueue(Reply([Text("ok"), *usage_steps()]))
        with openai.OpenAI(base_url=stack.url + "/v1", api_key="sk-good", max_retries=0) as good:
            assert good.responses.create(model=MODEL, input="x").output_text == "ok"
    finally:
        stack.settings.require_api_key = False
        stack.settings.api_key = None
    assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]


def test_too_large_body_is_413(stack: LiveStack, client: openai.OpenAI) -> None:
    assert stack.settings is not None
    old = stack.settings.max_body_bytes
    stack.settings.max_body_bytes = 1000
    try:
        with pytest.raises(openai.APIStatusError) as info:
            client.responses.create(model=MODEL, input="x" * 3000)
    finally:
        stack.settings.max_body_bytes = old
    assert info.value.status_code == 413


def test_alias_without_v1(stack: LiveStack) -> None:
    stack.enqueue(Reply([Text("aliased"), *usage_steps()]))
    with openai.OpenAI(base_url=stack.url, api_key="unused", max_retries=0) as bare:
        assert bare.responses.create(model=MODEL, input="x").output_text == "aliased"


def test_usage_rows_carry_the_route_label(stack: LiveStack, client: openai.OpenAI) -> None:
    stack.enqueue(Reply([Text("counted"), *usage_steps(output_tokens=6)]))
    raw = client.responses.with_raw_response.create(model=MODEL, input="count me")
    request_id = raw.headers["x-request-id"]
    assert raw.parse().output_text == "counted"

    async def rows() -> list[dict[str, Any]]:
        await stack.runtime.recorder.flush()
        return await stack.runtime.usage.recent(200)  # type: ignore[no-any-return]

    deadline = time.monotonic() + 5
    mine: list[dict[str, Any]] = []
    while not mine and time.monotonic() < deadline:
        mine = [row for row in stack.run(rows()) if row["request_id"] == request_id]
        if not mine:
            time.sleep(0.1)
    assert len(mine) == 1
    row = mine[0]
    assert (row["route"], row["status"], row["model"]) == ("/v1/responses", "success", MODEL)
    assert (row["input_tokens"], row["output_tokens"]) == (90, 6)
    metrics = httpx.get(stack.url + "/metrics").text
    assert 'route="/v1/responses"' in metrics
