import pytest

from kiro_proxy.kiro.events import (
    ContextUsageEvent,
    ErrorEvent,
    ExceptionEvent,
    MetadataEvent,
    MeteringEvent,
    ReasoningSignatureEvent,
    ReasoningTextEvent,
    RedactedReasoningEvent,
    TextEvent,
    ToolUseEvent,
    UnknownEvent,
)
from kiro_proxy.translate.assembler import ReplyAssembler, UpstreamStreamFailure
from kiro_proxy.translate.output import (
    Finish,
    RedactedThinking,
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)


def run(events, **kwargs):
    assembler = ReplyAssembler(**kwargs)
    out = [o for e in events for o in assembler.feed(e)]
    return out + assembler.finish(), assembler


def tool(id_, name=None, input_="", stop=False):
    return ToolUseEvent(id_, name, input_, stop)


def test_first_text_chunk_passes_straight_through():
    assembler = ReplyAssembler(thinking=True, stop_sequences=["STOP"])
    assert assembler.feed(TextEvent("Hello")) == [TextDelta("Hello")]
    assert assembler.feed(TextEvent(", world")) == [TextDelta(", world")]


def test_thinking_off_leaves_tags_as_text():
    out, _ = run([TextEvent("<thinking>x</thinking>\n\ny")])
    assert out[:-1] == [TextDelta("<thinking>x</thinking>\n\ny")]


def test_inline_thinking_becomes_thinking_events():
    out, _ = run(
        [TextEvent("<think"), TextEvent("ing>\nplan"), TextEvent("</thinking>\n\nanswer")],
        thinking=True,
    )
    assert out[:-1] == [ThinkingDelta("plan"), ThinkingEnd(), TextDelta("answer")]


def test_empty_inline_thinking_produces_no_block():
    out, _ = run([TextEvent("<thinking></thinking>\n\nhi")], thinking=True)
    assert out[:-1] == [TextDelta("hi")]


def test_native_reasoning_with_signature():
    out, _ = run(
        [
            ReasoningTextEvent("a"),
            ReasoningTextEvent("b"),
            ReasoningSignatureEvent("sig"),
            TextEvent("done"),
        ]
    )
    assert out[:-1] == [
        ThinkingDelta("a"),
        ThinkingDelta("b"),
        ThinkingEnd("sig"),
        TextDelta("done"),
    ]


def test_native_reasoning_without_signature_is_closed_before_text_and_tools():
    out, _ = run(
        [
            ReasoningTextEvent("a"),
            TextEvent("t"),
            ReasoningTextEvent("b"),
            tool("t1", "X", "{}", True),
        ]
    )
    kinds = [type(o) for o in out]
    assert kinds == [
        ThinkingDelta,
        ThinkingEnd,
        TextDelta,
        ThinkingDelta,
        ThinkingEnd,
        ToolCallStart,
        ToolCallDelta,
        ToolCallEnd,
        Finish,
    ]


def test_redacted_reasoning_passes_as_redacted_thinking():
    out, _ = run([RedactedReasoningEvent("b64")])
    assert out[0] == RedactedThinking("b64")


def test_tool_call_streams_fragments_and_restores_name():
    assembler = ReplyAssembler(tool_name_map={"mcp__short": "mcp__server__very_long_tool"})
    assert assembler.feed(tool("t1", "mcp__short")) == [
        ToolCallStart(0, "t1", "mcp__server__very_long_tool")
    ]
    assert assembler.feed(tool("t1", None, '{"a": ')) == [ToolCallDelta(0, '{"a": ')]
    assert assembler.feed(tool("t1", None, '"b"}')) == [ToolCallDelta(0, '"b"}')]
    assert assembler.feed(tool("t1", None, "", True)) == [ToolCallEnd(0, {"a": "b"})]
    finish = assembler.finish()
    assert finish[-1].stop_reason == "tool_use"


def test_new_tool_id_closes_the_previous_call():
    out, _ = run([tool("t1", "A", '{"x":1}'), tool("t2", "B", '{"y":2}', True)])
    assert out[:-1] == [
        ToolCallStart(0, "t1", "A"),
        ToolCallDelta(0, '{"x":1}'),
        ToolCallEnd(0, {"x": 1}),
        ToolCallStart(1, "t2", "B"),
        ToolCallDelta(1, '{"y":2}'),
        ToolCallEnd(1, {"y": 2}),
    ]


def test_single_tool_call_drops_every_later_call_whole():
    events = [
        tool("t1", "A", '{"x":1}'),
        tool("t2", "B", '{"y":'),  # starts before t1's stop: t1 ends there, t2 is dropped
        tool("t2", None, "2}"),
        tool("t2", None, "", True),
        TextEvent("Done."),
        tool("t3", "C", "{}", True),
        MetadataEvent(output_tokens=7),
    ]
    out, _ = run(events, single_tool_call=True)
    assert out[:-1] == [
        ToolCallStart(0, "t1", "A"),
        ToolCallDelta(0, '{"x":1}'),
        ToolCallEnd(0, {"x": 1}),
        TextDelta("Done."),
    ]
    assert out[-1].stop_reason == "tool_use"
    assert out[-1].usage.output_tokens == 7  # the stream was read to its end
    everything, _ = run(events)
    assert [o.name for o in everything if isinstance(o, ToolCallStart)] == ["A", "B", "C"]


def test_tool_without_arguments_gets_empty_object():
    out, _ = run([tool("t1", "A", "", True)])
    assert out[1] == ToolCallEnd(0, {}, "{}", False)


def test_truncated_tool_arguments_are_repaired_and_marked():
    out, _ = run(
        [
            tool("t1", "Write", '{"path": "a", "content": "lo'),
            MetadataEvent(stop_reason="MAX_TOKENS"),
        ]
    )
    end = out[-2]
    assert end == ToolCallEnd(0, {"path": "a", "content": "lo"}, '"}', True)
    assert out[-1].stop_reason == "max_tokens"  # the cut-off call must not be run as if whole


def test_unrepairable_arguments_fall_back_to_empty_marked():
    out, _ = run([tool("t1", "A", "oops", True)])
    assert out[:-1] == [ToolCallStart(0, "t1", "A"), ToolCallEnd(0, {}, "{}", True)]


def test_duplicate_tool_call_with_same_id_is_dropped():
    events = [tool("t1", "A", '{"x":1}', True), tool("t1", "A", '{"x":1}', True)]
    out, _ = run(events)
    assert [type(o) for o in out] == [ToolCallStart, ToolCallDelta, ToolCallEnd, Finish]


def test_fragments_before_the_name_are_held_until_it_arrives():
    out, _ = run([tool("t1", None, '{"x"'), tool("t1", "A", ":1}", True)])
    assert out[:-1] == [
        ToolCallStart(0, "t1", "A"),
        ToolCallDelta(0, '{"x"'),
        ToolCallDelta(0, ":1}"),
        ToolCallEnd(0, {"x": 1}),
    ]


def test_text_after_tool_call_closes_it():
    out, _ = run([tool("t1", "A", "{}"), TextEvent("after")])
    assert [type(o) for o in out] == [ToolCallStart, ToolCallDelta, ToolCallEnd, TextDelta, Finish]


def test_long_identical_consecutive_chunks_are_deduplicated():
    chunk = "This sentence is repeated."
    out, _ = run([TextEvent(chunk), TextEvent(chunk), TextEvent("\n"), TextEvent("\n")])
    assert out[:-1] == [TextDelta(chunk), TextDelta("\n"), TextDelta("\n")]


def test_repeats_separated_by_other_events_are_kept():
    chunk = "This sentence is repeated."
    out, _ = run([TextEvent(chunk), MeteringEvent(0.1), TextEvent(chunk)])
    # metering does not end a text run, so this is still the consecutive duplicate quirk
    assert out[:-1] == [TextDelta(chunk)]
    out, _ = run([TextEvent(chunk), ReasoningTextEvent("r"), TextEvent(chunk)])
    assert [o.text for o in out if isinstance(o, TextDelta)] == [chunk, chunk]


def test_stop_sequence_cuts_text_and_sets_done():
    assembler = ReplyAssembler(stop_sequences=["###"])
    assert assembler.feed(TextEvent("abc #")) == [TextDelta("abc ")]
    assert assembler.feed(TextEvent("## rest")) == []
    assert assembler.done
    assert assembler.feed(TextEvent("more")) == []
    assert assembler.finish() == [Finish("stop_sequence", assembler.usage, "###")]


def test_held_stop_prefix_is_flushed_before_a_tool_call():
    out, _ = run([TextEvent("see #"), tool("t1", "A", "{}", True)], stop_sequences=["###"])
    assert out[:2] == [TextDelta("see "), TextDelta("#")]


def test_usage_from_metadata_is_reported_honestly():
    events = [
        TextEvent("hi"),
        MeteringEvent(0.25),
        MeteringEvent(0.5),
        MetadataEvent(
            input_tokens=1200,
            output_tokens=40,
            cache_read_input_tokens=1000,
            cache_write_input_tokens=100,
        ),
    ]
    out, assembler = run(events, estimated_input_tokens=7)
    usage = out[-1].usage
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (1200, 40, 1000, 100)
    assert usage.credits == pytest.approx(0.75)
    assert assembler.usage == usage


def test_input_from_context_percentage_then_estimate():
    out, _ = run([ContextUsageEvent(12.5)], context_window=200_000, estimated_input_tokens=7)
    assert out[-1].usage.input_tokens == 25_000
    out, _ = run([TextEvent("x")], estimated_input_tokens=7)
    usage = out[-1].usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (7, 0, 0)


def test_output_tokens_counted_over_text_thinking_and_arguments():
    counted: list[str] = []

    def count(text: str) -> int:
        counted.append(text)
        return 99

    out, _ = run(
        [ReasoningTextEvent("think"), TextEvent("say"), tool("t", "A", '{"k":1}', True)],
        count_tokens=count,
    )
    assert out[-1].usage.output_tokens == 99
    assert counted[-1] == 'thinksay{"k":1}'
    out, _ = run([TextEvent("12345678")])
    assert out[-1].usage.output_tokens == 2  # len/4 fallback


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("MAX_TOKENS", "max_tokens"),
        ("CONTENT_FILTERED", "content_filter"),
        ("MODEL_CONTEXT_WINDOW_EXCEEDED", "max_tokens"),
        ("END_TURN", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_stop_reason_from_metadata(stop, expected):
    out, _ = run([TextEvent("x"), MetadataEvent(stop_reason=stop)])
    assert out[-1].stop_reason == expected


def test_content_length_exception_means_max_tokens():
    out, _ = run([TextEvent("x"), ExceptionEvent("ContentLengthExceededException", "too long")])
    assert out[-1].stop_reason == "max_tokens"


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (ExceptionEvent("ThrottlingException", "slow down"), "ThrottlingException"),
        (ErrorEvent("InvalidState", "bad"), "InvalidState"),
    ],
)
def test_upstream_failures_raise_typed_exception(event, kind):
    assembler = ReplyAssembler()
    assembler.feed(TextEvent("partial"))
    with pytest.raises(UpstreamStreamFailure) as info:
        assembler.feed(event)
    assert info.value.kind == kind


def test_unknown_events_are_ignored_and_finish_is_emitted_once():
    assembler = ReplyAssembler(thinking=True)
    assert assembler.feed(UnknownEvent("newEvent", b"{}")) == []
    assert assembler.feed(TextEvent("<thinking>cut")) == [ThinkingDelta("cut")]
    out = assembler.finish()
    assert out[0] == ThinkingEnd() and isinstance(out[-1], Finish)
    assert assembler.finish() == []


# --- max_tokens: Kiro ignores it, the gateway enforces it ---------------------------------------


def _word_tokens(text: str) -> int:
    return len(text.split())


def _run(assembler: ReplyAssembler, chunks: list[str]) -> tuple[str, Finish]:
    events = []
    for chunk in chunks:
        events += assembler.feed(TextEvent(chunk))
        if assembler.done:
            break
    events += assembler.finish()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, next(e for e in events if isinstance(e, Finish))


def test_max_tokens_cuts_output_with_max_tokens_stop() -> None:
    assembler = ReplyAssembler(count_tokens=_word_tokens, max_output_tokens=5)
    text, finish = _run(assembler, ["one two three ", "four five six ", "seven eight "])
    assert _word_tokens(text) <= 5
    assert text.startswith("one two three four")
    assert finish.stop_reason == "max_tokens"
    assert finish.usage.output_tokens == 5
    assert assembler.done


def test_output_under_max_tokens_is_untouched() -> None:
    assembler = ReplyAssembler(count_tokens=_word_tokens, max_output_tokens=100)
    text, finish = _run(assembler, ["a b c ", "d e f"])
    assert text == "a b c d e f"
    assert finish.stop_reason == "end_turn"


def test_max_tokens_does_not_count_until_output_could_reach_it() -> None:
    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return _word_tokens(text)

    # 5 chunks of 11 characters cannot reach 1000 tokens: the tokenizer is never called.
    # (The usage figure at finish may count once; the streaming path must not.)
    assembler = ReplyAssembler(count_tokens=counting, max_output_tokens=1000)
    for _ in range(5):
        assembler.feed(TextEvent("short reply"))
    assert calls == []
    # With a limit those characters could reach, counting starts while streaming.
    assembler = ReplyAssembler(count_tokens=counting, max_output_tokens=20)
    for _ in range(5):
        assembler.feed(TextEvent("short reply"))
    assert calls


def test_max_tokens_applies_to_thinking_too() -> None:
    assembler = ReplyAssembler(count_tokens=_word_tokens, max_output_tokens=3)
    events = assembler.feed(ReasoningTextEvent("w1 w2 w3 w4 w5 w6 "))
    events += assembler.finish()
    thought = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert 0 < _word_tokens(thought) <= 3
    assert isinstance(events[-1], Finish) and events[-1].stop_reason == "max_tokens"
