"""The assembler's plain-text path (no thinking splitter, no open tool or thinking block) against
a reference model: duplicate chunks dropped, a stop sequence cuts the text where it first occurs,
the output budget changes nothing while it is not reached, no empty TextDelta."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.kiro.events import MetadataEvent, TextEvent, ToolUseEvent
from kiro_proxy.translate.assembler import MIN_DUPLICATE_CHUNK, ReplyAssembler
from kiro_proxy.translate.output import (
    Finish,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)

# Few letters, so chunks repeat (duplicates) and stop sequences actually occur.
chunks_st = st.lists(st.text(alphabet="ab#\n", min_size=1, max_size=16), min_size=1, max_size=25)
stops_st = st.lists(st.text(alphabet="ab#\n", min_size=1, max_size=4), max_size=3)


def reference(chunks: list[str], stops: list[str]) -> tuple[str, str | None]:
    """The text a client gets, and the stop sequence that ended it. Streaming: a stop sequence
    ends the reply as soon as the text so far contains it (earliest, then longest)."""
    text = ""
    last = ""
    for chunk in chunks:
        if chunk == last and len(chunk) >= MIN_DUPLICATE_CHUNK:
            continue
        last = chunk
        text += chunk
        hits = [(text.find(s), -len(s), s) for s in stops if text.find(s) >= 0]
        if hits:
            position, _, stop = min(hits)
            return text[:position], stop
    return text, None


@settings(max_examples=400, deadline=None)
@given(chunks=chunks_st, stops=stops_st, budget=st.sampled_from([None, 10_000]))
def test_plain_text_matches_the_reference(
    chunks: list[str], stops: list[str], budget: int | None
) -> None:
    assembler = ReplyAssembler(stop_sequences=stops, max_output_tokens=budget)
    out = [o for chunk in chunks for o in assembler.feed(TextEvent(chunk))]
    out += assembler.finish()
    text, stop = reference(chunks, stops)
    deltas = [o for o in out if isinstance(o, TextDelta)]
    assert all(d.text for d in deltas)
    assert "".join(d.text for d in deltas) == text
    finish = out[-1]
    assert isinstance(finish, Finish)
    assert finish.stop_sequence == stop
    assert finish.stop_reason == ("stop_sequence" if stop is not None else "end_turn")
    assert assembler.done == (stop is not None)


def test_text_after_a_tool_call_takes_the_closing_path_then_the_plain_one() -> None:
    assembler = ReplyAssembler()
    out = assembler.feed(ToolUseEvent("t1", "Read", '{"a":1}', False))
    out += assembler.feed(TextEvent("after"))
    out += assembler.feed(TextEvent("more"))
    assert [type(o) for o in out] == [
        ToolCallStart,
        ToolCallDelta,
        ToolCallEnd,
        TextDelta,
        TextDelta,
    ]
    assert [o.text for o in out if isinstance(o, TextDelta)] == ["after", "more"]


def test_plain_text_counts_toward_the_output_estimate() -> None:
    assembler = ReplyAssembler(count_tokens=len)
    for chunk in ("abc", "defg"):
        assembler.feed(TextEvent(chunk))
    assert assembler.usage.output_tokens == 7
    assembler.feed(MetadataEvent(output_tokens=3))
    assert assembler.usage.output_tokens == 3
