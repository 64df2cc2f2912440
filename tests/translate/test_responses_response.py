"""OutputEvents → Responses object and SSE events, checked through the official SDK's parsers."""

from __future__ import annotations

import itertools
import json
from typing import Any

import openai
import orjson
import pytest

from kiro_proxy.translate.output import (
    Finish,
    OutputEvent,
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from kiro_proxy.translate.responses_request import parse_responses_request
from kiro_proxy.translate.responses_response import ResponsesRenderer, response_envelope
from kiro_proxy.translate.responses_tools import ToolCatalog, build_tool_catalog
from tests.translate.test_anthropic_response import parse_sse
from tests.translate.test_openai_response import sdk_client

USAGE = Usage(input_tokens=1500, output_tokens=42, cache_read_input_tokens=1000)
TOOLS = [
    {"type": "function", "name": "read_file", "parameters": {"type": "object"}},
    {"type": "custom", "name": "apply_patch", "description": "Patch files."},
    {
        "type": "namespace",
        "name": "agents",
        "description": "Sub-agents",
        "tools": [{"type": "function", "name": "spawn"}],
    },
]

SCRIPT: list[OutputEvent] = [
    ThinkingDelta("Let me "),
    ThinkingDelta("think."),
    ThinkingEnd(),
    TextDelta("Reading "),
    TextDelta("files."),
    ToolCallStart(0, "call_1", "read_file"),
    ToolCallDelta(0, '{"path": '),
    ToolCallDelta(0, '"a.py"'),
    ToolCallEnd(0, {"path": "a.py"}, "}"),
    ToolCallStart(1, "call_2", "apply_patch"),
    ToolCallDelta(1, '{"input": "*** Begin'),
    ToolCallEnd(1, {"input": "*** Begin Patch"}, ' Patch"}'),
    ToolCallStart(2, "call_3", "agents__spawn"),
    ToolCallEnd(2, {}, "{}"),
    Finish("tool_use", USAGE),
]


def words(text: str) -> int:
    return len(text.split())


def renderer(*, stream: bool, tools: list[Any] | None = TOOLS) -> ResponsesRenderer:
    counter = itertools.count()
    request = parse_responses_request(
        orjson.dumps({"model": "claude-sonnet-4.5", "input": "hi", "tools": tools})
    )
    envelope = response_envelope(
        request, response_id="resp_1", created_at=1700000000, model="claude-sonnet-4.5"
    )
    catalog: ToolCatalog = build_tool_catalog(tools)
    return ResponsesRenderer(
        envelope,
        catalog,
        stream=stream,
        count_tokens=words,
        item_id=lambda prefix: f"{prefix}_{next(counter)}",
    )


def built(events: list[OutputEvent]) -> dict[str, Any]:
    r = renderer(stream=False)
    for event in events:
        r.add(event)
    return r.build()


def streamed(events: list[OutputEvent]) -> bytes:
    r = renderer(stream=True)
    return r.head() + b"".join(r.render(event) for event in events)


def without_sdk_parsing(node: Any) -> Any:
    """The stream helper's Parsed* models add `parsed` / `parsed_arguments` (None here)."""
    if isinstance(node, dict):
        return {
            k: without_sdk_parsing(v)
            for k, v in node.items()
            if k not in ("parsed", "parsed_arguments")
        }
    if isinstance(node, list):
        return [without_sdk_parsing(item) for item in node]
    return node


def test_response_object_items_in_order() -> None:
    response = built(SCRIPT)
    assert response["object"] == "response"
    assert response["status"] == "completed"
    assert response["store"] is False
    output = response["output"]
    assert [item["type"] for item in output] == [
        "reasoning",
        "message",
        "function_call",
        "custom_tool_call",
        "function_call",
    ]
    assert output[0]["summary"] == [{"type": "summary_text", "text": "Let me think."}]
    assert output[1]["content"] == [
        {"type": "output_text", "text": "Reading files.", "annotations": []}
    ]
    assert output[1]["role"] == "assistant"
    call = output[2]
    assert (call["id"], call["call_id"], call["name"]) == ("fc_2", "call_1", "read_file")
    assert json.loads(call["arguments"]) == {"path": "a.py"}
    assert output[3]["input"] == "*** Begin Patch"
    assert (output[3]["name"], output[3]["call_id"]) == ("apply_patch", "call_2")
    assert (output[4]["namespace"], output[4]["name"]) == ("agents", "spawn")
    assert response["usage"] == {
        "input_tokens": 1500,
        "input_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 0},
        "output_tokens": 42,
        "output_tokens_details": {"reasoning_tokens": 3},  # "Let me think."
        "total_tokens": 1542,
    }


def test_event_sequence_and_numbers() -> None:
    got = parse_sse(streamed(SCRIPT))
    names = [name for name, _ in got]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[2:7] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
    ]
    assert "response.custom_tool_call_input.delta" in names
    assert "response.custom_tool_call_input.done" in names
    # read_file: two fragments and the suffix; agents__spawn: its "{}" suffix
    assert names.count("response.function_call_arguments.delta") == 4
    assert (
        names.count("response.output_item.added") == names.count("response.output_item.done") == 5
    )
    assert names[-1] == "response.completed"
    assert [data["sequence_number"] for _, data in got] == list(range(len(got)))
    assert got[0][1]["response"]["status"] == "in_progress"
    assert got[0][1]["response"]["output"] == []


def test_sdk_stream_helper_final_response_equals_non_streaming_object() -> None:
    body = streamed(SCRIPT)
    with sdk_client(body).responses.stream(model="m", input="hi") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[-1] == "response.completed"
    expected = openai.types.responses.Response.model_validate(built(SCRIPT))
    assert without_sdk_parsing(final.model_dump()) == expected.model_dump()
    assert final.output_text == "Reading files."


def test_cut_reply_is_incomplete_with_reason() -> None:
    events: list[OutputEvent] = [TextDelta("partial"), Finish("max_tokens", USAGE)]
    response = built(events)
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    assert parse_sse(streamed(events))[-1][0] == "response.incomplete"


def test_failure_mid_stream_closes_the_open_item_and_fails() -> None:
    r = renderer(stream=True)
    body = r.head() + r.render(TextDelta("partial")) + r.error("api_error", "upstream broke")
    got = parse_sse(body)
    assert [name for name, _ in got][-2:] == ["response.output_item.done", "response.failed"]
    failed = got[-1][1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "upstream broke"}
    assert failed["output"][0]["content"][0]["text"] == "partial"
    rate = renderer(stream=True)
    limited = parse_sse(rate.head() + rate.error("rate_limit_error", "slow down"))
    assert limited[-1][1]["response"]["error"]["code"] == "rate_limit_exceeded"


def test_truncated_tool_call_gets_a_visible_note() -> None:
    events: list[OutputEvent] = [
        ToolCallStart(0, "c", "read_file"),
        ToolCallEnd(0, {}, "{}", truncated=True),
        Finish("tool_use", USAGE),
    ]
    output = built(events)["output"]
    assert [item["type"] for item in output] == ["function_call", "message"]
    assert "read_file" in output[1]["content"][0]["text"]


def test_custom_call_with_other_keys_keeps_them_as_json() -> None:
    events: list[OutputEvent] = [
        ToolCallStart(0, "c", "apply_patch"),
        ToolCallEnd(0, {"patch": "x"}, '{"patch": "x"}'),
        Finish("tool_use", USAGE),
    ]
    assert json.loads(built(events)["output"][0]["input"]) == {"patch": "x"}


@pytest.mark.parametrize("stream", [True, False])
def test_empty_reply_has_no_items(stream: bool) -> None:
    r = renderer(stream=stream)
    body = r.head() + r.render(Finish("end_turn", Usage()))
    response = r.build()
    assert response["output"] == [] and response["status"] == "completed"
    names = [name for name, _ in parse_sse(body)]
    expected = ["response.created", "response.in_progress", "response.completed"]
    assert names == (expected if stream else [])


def custom_deltas(events: list[OutputEvent]) -> tuple[list[str], str]:
    """(the custom input deltas of a stream, the input of its custom_tool_call item)."""
    got = parse_sse(streamed(events))
    deltas = [
        data["delta"] for name, data in got if name == "response.custom_tool_call_input.delta"
    ]
    (item,) = [
        data["item"]
        for name, data in got
        if name == "response.output_item.done" and data["item"]["type"] == "custom_tool_call"
    ]
    return deltas, item["input"]


def test_custom_input_streams_decoded_as_its_fragments_arrive() -> None:
    events: list[OutputEvent] = [
        ToolCallStart(0, "c", "apply_patch"),
        ToolCallDelta(0, '{"input": "*** Be'),
        ToolCallDelta(0, "gin\\nPatch \\u00"),  # an escape cut in the middle
        ToolCallDelta(0, "e9 \\ud83d"),  # the high half of a surrogate pair
        ToolCallDelta(0, '\\ude00 \\"ok\\""}'),
        ToolCallEnd(0, {"input": '*** Begin\nPatch \u00e9 \U0001f600 "ok"'}),
        Finish("tool_use", USAGE),
    ]
    deltas, final = custom_deltas(events)
    assert deltas == ["*** Be", "gin\nPatch ", "\u00e9 ", '\U0001f600 "ok"']
    assert "".join(deltas) == final == '*** Begin\nPatch \u00e9 \U0001f600 "ok"'
    assert built(events)["output"][0]["input"] == final


def test_custom_input_cut_off_ends_with_what_the_repair_added() -> None:
    events: list[OutputEvent] = [
        ToolCallStart(0, "c", "apply_patch"),
        ToolCallDelta(0, '{"input": "abc\\'),
        ToolCallEnd(0, {"input": "abc\\"}, '\\"}', truncated=True),
        Finish("tool_use", USAGE),
    ]
    deltas, final = custom_deltas(events)
    assert deltas == ["abc", "\\"]
    assert final == "abc\\"


def test_custom_input_in_another_shape_goes_out_whole_at_the_end() -> None:
    events: list[OutputEvent] = [
        ToolCallStart(0, "c", "apply_patch"),
        ToolCallDelta(0, '{"patch": '),
        ToolCallDelta(0, '"x"}'),
        ToolCallEnd(0, {"patch": "x"}),
        Finish("tool_use", USAGE),
    ]
    deltas, final = custom_deltas(events)
    assert deltas == [final] and json.loads(final) == {"patch": "x"}


def test_failure_mid_custom_call_keeps_the_decoded_input() -> None:
    r = renderer(stream=True)
    body = r.head()
    body += r.render(ToolCallStart(0, "c", "apply_patch"))
    body += r.render(ToolCallDelta(0, '{"input": "line 1\\nline'))
    body += r.error("api_error", "upstream broke")
    failed = parse_sse(body)[-1][1]["response"]
    assert failed["output"][0]["input"] == "line 1\nline"
    assert failed["output"][0]["status"] == "incomplete"
