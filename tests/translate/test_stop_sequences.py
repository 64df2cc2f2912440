from hypothesis import given
from hypothesis import strategies as st

from kiro_proxy.translate.stop_sequences import StopSequenceMatcher


def run(chunks: list[str], stops: list[str]) -> tuple[str, str | None]:
    matcher = StopSequenceMatcher(stops)
    out = [matcher.feed(c) for c in chunks]
    out.append(matcher.flush())
    return "".join(out), matcher.matched


def test_no_sequences_pass_through():
    matcher = StopSequenceMatcher([])
    assert not matcher.active
    assert matcher.feed("abc") == "abc"


def test_text_without_partial_tail_is_not_held():
    matcher = StopSequenceMatcher(["END"])
    assert matcher.feed("hello world") == "hello world"


def test_only_the_partial_tail_is_held():
    matcher = StopSequenceMatcher(["END"])
    assert matcher.feed("hello E") == "hello "
    assert matcher.feed("N") == ""
    assert matcher.feed("x") == "ENx"


def test_match_split_across_chunks_cuts_and_stops():
    matcher = StopSequenceMatcher(["</answer>"])
    assert matcher.feed("result: 42</ans") == "result: 42"
    assert matcher.feed("wer> trailing") == ""
    assert matcher.matched == "</answer>"
    assert matcher.feed("more") == ""
    assert matcher.flush() == ""


def test_earliest_match_wins():
    assert run(["a STOP b HALT"], ["HALT", "STOP"]) == ("a ", "STOP")


def test_flush_releases_held_tail():
    assert run(["the EN"], ["END"]) == ("the EN", None)


@given(
    text=st.text(alphabet="abE ND", max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
)
def test_any_split_gives_the_unsplit_result(text: str, cuts: list[int]):
    stops = ["END", "bb"]
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]
    expected_text, expected_match = run([text], stops)
    assert run(chunks, stops) == (expected_text, expected_match)
    if expected_match is None:
        assert expected_text == text
    else:
        assert text.startswith(expected_text + expected_match)
