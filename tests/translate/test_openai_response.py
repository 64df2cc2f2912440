import openai
import orjson
import pytest

from kiro_proxy.translate.openai_response import OpenAICompletionBuilder, OpenAIStreamRenderer
from kiro_proxy.translate.output import (
    Finish,
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from tests.translate.sdk_mock import sse_http_client

USAGE = Usage(
    input_tokens=1500,
    output_tokens=42,
    cache_read_input_tokens=1000,
    cache_creation_input_tokens=200,
)

SCRIPT = [
    ThinkingDelta("hmm"),
    ThinkingEnd(),
    TextDelta("Reading "),
    TextDelta("files."),
    ToolCallStart(0, "call_1", "read_file"),
    ToolCallDelta(0, '{"path": '),
    ToolCallDelta(0, '"a.py"}'),
    ToolCallEnd(0, {"path": "a.py"}),
    ToolCallStart(1, "call_2", "list_dir"),
    ToolCallEnd(1, {}, "{}"),
    Finish("tool_use", USAGE),
]


def renderer(fmt="reasoning_content", include_usage=True) -> OpenAIStreamRenderer:
    return OpenAIStreamRenderer(
        completion_id="chatcmpl-1",
        model="claude-sonnet-4.5",
        created=1700000000,
        thinking_format=fmt,
        include_usage=include_usage,
    )


def render(events, **kwargs) -> bytes:
    r = renderer(**kwargs)
    return b"".join(r.render(e) for e in events) + r.done()


def chunks(body: bytes) -> list[dict]:
    frames = [f for f in body.decode().split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    return [orjson.loads(f.removeprefix("data: ")) for f in frames[:-1]]


def sdk_client(body: bytes) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="test",
        base_url="http://127.0.0.1:9/v1",
        http_client=sse_http_client(body),
        max_retries=0,
    )


def sdk_stream(body: bytes) -> list:
    client = sdk_client(body)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return list(stream)


def test_exact_chunk_sequence():
    got = chunks(render(SCRIPT))
    for chunk in got:
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "chatcmpl-1",
            "chat.completion.chunk",
            1700000000,
            "claude-sonnet-4.5",
        )
    deltas = [c["choices"][0]["delta"] if c["choices"] else None for c in got]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "hmm"},
        {"content": "Reading "},
        {"content": "files."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"path": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"a.py"}'}}]},
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "list_dir", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {},
        None,
    ]
    assert [c["choices"][0]["finish_reason"] for c in got[:-1]] == [None] * 9 + ["tool_calls"]
    assert got[-1]["choices"] == []
    assert got[-1]["usage"] == {
        "prompt_tokens": 1500,
        "completion_tokens": 42,
        "total_tokens": 1542,
        "prompt_tokens_details": {"cached_tokens": 1000},
    }


def test_openai_sdk_parses_and_accumulates():
    parsed = sdk_stream(render(SCRIPT))
    content = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert content == "Reading files."
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in parsed if c.choices
    )
    assert reasoning == "hmm"
    calls: dict[int, dict] = {}
    for c in parsed:
        if not c.choices:
            continue
        for tc in c.choices[0].delta.tool_calls or []:
            call = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = tc.id or call["id"]
            call["name"] += tc.function.name or ""
            call["arguments"] += tc.function.arguments or ""
    assert {i: (c["id"], c["name"], orjson.loads(c["arguments"])) for i, c in calls.items()} == {
        0: ("call_1", "read_file", {"path": "a.py"}),
        1: ("call_2", "list_dir", {}),
    }
    assert parsed[-2].choices[0].finish_reason == "tool_calls"
    assert parsed[-1].usage.prompt_tokens == 1500
    assert parsed[-1].usage.prompt_tokens_details.cached_tokens == 1000


def test_sdk_stream_helper_accumulates_final_completion():
    client = sdk_client(render(SCRIPT))
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Reading files."
    assert [(t.id, t.function.name, t.function.arguments) for t in message.tool_calls] == [
        ("call_1", "read_file", '{"path": "a.py"}'),
        ("call_2", "list_dir", "{}"),
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def test_usage_chunk_only_when_asked():
    got = chunks(render(SCRIPT, include_usage=False))
    assert all(c["choices"] for c in got)
    assert "usage" not in got[-1]


@pytest.mark.parametrize(
    ("fmt", "tags"),
    [("thinking", ("<thinking>", "</thinking>")), ("think", ("<think>", "</think>"))],
)
def test_tag_thinking_formats(fmt, tags):
    parsed = sdk_stream(render(SCRIPT, fmt=fmt))
    content = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert content == f"{tags[0]}hmm{tags[1]}\n\nReading files."


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("content_filter", "content_filter"),
        ("tool_use", "tool_calls"),
    ],
)
def test_finish_reason_mapping(stop, reason):
    got = chunks(render([TextDelta("x"), Finish(stop, Usage())]))
    assert got[-2]["choices"][0]["finish_reason"] == reason


def test_truncated_tool_call_adds_visible_note():
    events = [
        ToolCallStart(0, "call_1", "write"),
        ToolCallDelta(0, '{"text": "ab'),
        ToolCallEnd(0, {"text": "ab"}, '"}', True),
        Finish("max_tokens", Usage()),
    ]
    parsed = sdk_stream(render(events))
    args = "".join(
        tc.function.arguments or ""
        for c in parsed
        if c.choices
        for tc in c.choices[0].delta.tool_calls or []
    )
    assert orjson.loads(args) == {"text": "ab"}
    content = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert "write" in content and "cut off" in content


def test_mid_stream_error_raises_in_the_sdk():
    r = renderer()
    body = r.render(TextDelta("partial")) + r.error(
        "rate_limit_error", "Kiro throttled the account"
    )
    assert body.endswith(b"data: [DONE]\n\n")
    client = sdk_client(body)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            seen.append(chunk)
    assert "Kiro throttled the account" in str(info.value)
    assert seen[-1].choices[0].delta.content == "partial"


def test_completion_builder_keeps_text_and_tool_calls():
    builder = OpenAICompletionBuilder(
        completion_id="chatcmpl-1",
        model="claude-sonnet-4.5",
        created=1700000000,
        thinking_format="reasoning_content",
    )
    for event in SCRIPT:
        builder.add(event)
    built = builder.build()
    completion = openai.types.chat.ChatCompletion.model_validate(built)
    message = completion.choices[0].message
    assert message.content == "Reading files."
    assert built["choices"][0]["message"]["reasoning_content"] == "hmm"
    assert [
        (t.id, t.function.name, orjson.loads(t.function.arguments)) for t in message.tool_calls
    ] == [
        ("call_1", "read_file", {"path": "a.py"}),
        ("call_2", "list_dir", {}),
    ]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage.total_tokens == 1542
    assert completion.usage.prompt_tokens_details.cached_tokens == 1000
    assert (built["id"], built["object"], built["created"]) == (
        "chatcmpl-1",
        "chat.completion",
        1700000000,
    )


def test_completion_without_text_has_null_content():
    builder = OpenAICompletionBuilder(
        completion_id="c", model="m", created=1, thinking_format="think"
    )
    for event in [
        ToolCallStart(0, "c1", "f"),
        ToolCallEnd(0, {}, "{}"),
        Finish("tool_use", Usage()),
    ]:
        builder.add(event)
    message = builder.build()["choices"][0]["message"]
    assert message["content"] is None and "reasoning_content" not in message
