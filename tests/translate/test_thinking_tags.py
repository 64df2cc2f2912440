from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.translate.output import TextDelta, ThinkingDelta, ThinkingEnd
from kiro_proxy.translate.thinking_tags import ThinkingTagSplitter


def split(chunks: list[str]) -> tuple[str, str, int]:
    """(thinking, text, number of ThinkingEnd) with consecutive pieces merged."""
    splitter = ThinkingTagSplitter()
    events = [e for c in chunks for e in splitter.feed(c)] + splitter.flush()
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    ends = sum(isinstance(e, ThinkingEnd) for e in events)
    # thinking never follows text or its own end
    kinds = [type(e) for e in events]
    if ThinkingEnd in kinds:
        end_at = kinds.index(ThinkingEnd)
        assert TextDelta not in kinds[:end_at]
        assert ThinkingDelta not in kinds[end_at:]
    return thinking, text, ends


def test_plain_text_passes_through_immediately():
    splitter = ThinkingTagSplitter()
    assert splitter.feed("Hello") == [TextDelta("Hello")]
    assert splitter.feed(" <thinking>") == [TextDelta(" <thinking>")]


def test_leading_partial_tag_is_held_then_resolved():
    splitter = ThinkingTagSplitter()
    assert splitter.feed("\n<thi") == []
    assert splitter.feed("nk about it") == [TextDelta("\n<think about it")]


def test_basic_block():
    assert split(["<thinking>\nplan\n</thinking>\n\nanswer"]) == ("plan\n", "answer", 1)


def test_backticked_and_quoted_closing_tags_stay_thinking():
    raw = '<thinking>use `</thinking>` or "</thinking>" here\n</thinking>\n\nok'
    assert split([raw]) == ('use `</thinking>` or "</thinking>" here\n', "ok", 1)


def test_closing_tag_inside_prose_without_blank_line_stays_thinking():
    raw = "<thinking>the </thinking> tag ends it\n</thinking>\n\nok"
    assert split([raw]) == ("the </thinking> tag ends it\n", "ok", 1)


def test_closing_tag_at_end_of_stream_counts():
    assert split(["<thinking>x</thinking>\n"]) == ("x", "", 1)


def test_unclosed_thinking_is_closed_at_the_end():
    assert split(["<thinking>cut off mid"]) == ("cut off mid", "", 1)


def test_tags_later_in_the_reply_are_text():
    raw = "Use <thinking>…</thinking>\n\n tags"
    assert split([raw]) == ("", raw, 0)


def test_closing_tag_waits_for_the_blank_line():
    splitter = ThinkingTagSplitter()
    assert splitter.feed("<thinking>a") == [ThinkingDelta("a")]
    assert splitter.feed("</thinking>") == []
    assert splitter.feed("\n") == []
    assert splitter.feed("\nB") == [ThinkingEnd(), TextDelta("B")]
    assert splitter.feed("C") == [TextDelta("C")]


SAMPLES = [
    "<thinking>\nstep `</thinking>` one\nthe </thinking> tag\n</thinking>\n\nFinal `<thinking>` answer",
    "  \n<thinking>a</thinking>\n\n\nb</thinking>\n\nc",
    "<thinking></thinking>\n\nempty",
    "<thinking>x</thinking> y</thinking>\n\nz",
    "<thinkin>not a tag",
    "plain text only",
    "<thinking>never closed </thinking",
    "<thinking>ends</thinking>\n",
]


@settings(max_examples=300, deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=8),
)
def test_every_split_gives_the_unsplit_result(sample: str, cuts: list[int]):
    points = sorted({min(c, len(sample)) for c in cuts})
    chunks = [sample[i:j] for i, j in zip([0, *points], [*points, len(sample)], strict=True)]
    assert split(chunks) == split([sample])


def test_every_single_and_double_cut_position():
    for sample in SAMPLES:
        expected = split([sample])
        n = len(sample)
        for i in range(n + 1):
            for j in range(i, n + 1):
                assert split([sample[:i], sample[i:j], sample[j:]]) == expected, (sample, i, j)


# Text built from tag pieces, quotes and newlines: hits the ambiguous cases often.
_PIECES = [
    "<thinking>",
    "</thinking>",
    "<",
    "</",
    "think",
    "ing>",
    "`",
    '"',
    "\n",
    "\n\n",
    "a",
    " ",
]


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=16),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10),
)
def test_generated_text_any_split(pieces: list[str], cuts: list[int]):
    text = "".join(pieces)
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]
    assert split(chunks) == split([text])
    _thinking, rest, ends = split([text])
    if ends == 0:
        assert rest == text  # nothing is lost or invented when no block was found
