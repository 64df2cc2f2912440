import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.translate.tool_arguments import (
    JsonObjectPrefix,
    JsonStringDecoder,
    StringMemberDecoder,
    finish_arguments,
)


def close(text: str, chunk: int = 0) -> tuple[dict, str, bool, str]:
    prefix = JsonObjectPrefix()
    pieces = [text[i : i + chunk] for i in range(0, len(text), chunk)] if chunk else [text]
    streamed = "".join(prefix.feed(p) for p in pieces)
    value, suffix, truncated = finish_arguments(prefix)
    return value, suffix, truncated, streamed


def test_complete_object_needs_no_suffix():
    assert close('{"a": [1, 2.5e-3, "x\\"y"], "b": {"c": null}}') == (
        {"a": [1, 2.5e-3, 'x"y'], "b": {"c": None}},
        "",
        False,
        '{"a": [1, 2.5e-3, "x\\"y"], "b": {"c": null}}',
    )


def test_no_arguments_is_an_empty_object_not_a_truncation():
    assert close("") == ({}, "{}", False, "")
    assert close("  ") == ({}, "{}", False, "  ")


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (
            '{"path": "/tmp/a.py", "content": "print(1)\\nprin',
            {"path": "/tmp/a.py", "content": "print(1)\nprin"},
        ),
        ('{"a": "x\\', {"a": "x\\"}),
        ('{"a": "\\u00e', {"a": "\u00e0"}),
        ('{"a": tr', {"a": True}),
        ('{"a": -', {"a": 0}),
        ('{"a": 1.', {"a": 1.0}),
        ('{"a": 1e+', {"a": 1.0}),
        ('{"a": 12', {"a": 12}),
        ('{"a"', {"a": None}),
        ('{"a":', {"a": None}),
        ('{"a": [1, ', {"a": [1, None]}),
        ('{"a": [', {"a": []}),
        ('{"a": 1, ', {"a": 1, "": None}),
        ('{"a": {"b": [{"c": "d', {"a": {"b": [{"c": "d"}]}}),
        ("{", {}),
    ],
)
def test_truncated_arguments_are_closed(cut: str, expected: dict):
    value, suffix, truncated, streamed = close(cut)
    assert truncated
    assert streamed == cut
    assert value == expected
    assert orjson.loads(streamed + suffix) == value


def test_garbage_is_refused_and_marked():
    value, suffix, truncated, streamed = close('{"a": 1} trailing')
    assert (value, truncated, streamed) == ({"a": 1}, False, '{"a": 1} ')
    value, suffix, truncated, streamed = close("not json")
    assert (value, suffix, truncated, streamed) == ({}, "{}", True, "")
    value, suffix, truncated, streamed = close('{"a": "raw\ncontrol"}')
    assert streamed == '{"a": "raw' and truncated and value == {"a": "raw"}


def test_rejection_is_sticky_across_fragments():
    prefix = JsonObjectPrefix()
    assert prefix.feed('{"a": x') == '{"a": '
    assert prefix.feed('"fine"}') == ""
    assert prefix.rejected


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    obj=st.dictionaries(st.text(max_size=6), json_values, max_size=5),
    data=st.data(),
)
def test_every_prefix_of_real_json_streams_whole_and_closes(obj: dict, data: st.DataObject):
    pretty = data.draw(st.booleans())
    text = orjson.dumps(obj, option=orjson.OPT_INDENT_2 if pretty else 0).decode()
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    chunk = data.draw(st.integers(min_value=1, max_value=7))
    value, suffix, truncated, streamed = close(text[:cut], chunk)
    assert streamed == text[:cut]  # a valid prefix is never refused
    assert orjson.loads(streamed + suffix if streamed.strip() else suffix) == value
    assert truncated == (0 < cut < len(text))
    if cut == len(text):
        assert value == obj


# --- JsonStringDecoder / StringMemberDecoder -----------------------------------------------------

_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_SHORT |= {"\r": "\\r", "\t": "\\t"}


@st.composite
def json_string_body(draw: st.DrawFn) -> tuple[str, str]:
    """(a string, one of its many valid JSON encodings without the quotes): every character is
    written raw where JSON allows it, as a short escape, or as \\u escapes (astral characters as a
    surrogate pair), in either hex case."""
    text = draw(st.text(max_size=40))
    pieces: list[str] = []
    for char in text:
        code = ord(char)
        ways = ["unicode"]
        if char in _SHORT:
            ways.append("short")
        if code >= 0x20 and char not in '"\\':
            ways.append("raw")
        way = draw(st.sampled_from(ways))
        if way == "raw":
            pieces.append(char)
        elif way == "short":
            pieces.append(_SHORT[char])
        else:
            units = [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10)]
            if code >= 0x10000:
                units.append(0xDC00 + ((code - 0x10000) & 0x3FF))
            upper = draw(st.booleans())
            pieces += [f"\\u{unit:04X}" if upper else f"\\u{unit:04x}" for unit in units]
    return text, "".join(pieces)


def split(data: st.DataObject, text: str) -> list[str]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(encoded=json_string_body(), data=st.data())
def test_any_split_of_any_encoding_decodes_to_the_string(
    encoded: tuple[str, str], data: st.DataObject
) -> None:
    text, body = encoded
    assert orjson.loads(f'"{body}"') == text  # the strategy writes valid JSON
    decoder = JsonStringDecoder()
    pieces = [decoder.feed(fragment) for fragment in split(data, body + '"')]
    assert "".join(pieces) == text
    assert decoder.closed and not decoder.failed


@settings(max_examples=300, deadline=None)
@given(encoded=json_string_body(), data=st.data())
def test_a_cut_encoding_decodes_to_a_prefix_of_the_string(
    encoded: tuple[str, str], data: st.DataObject
) -> None:
    """What a cut-off stream gave out is never taken back: a held-back escape or surrogate half
    is not guessed at."""
    text, body = encoded
    cut = data.draw(st.integers(0, len(body)))
    decoder = JsonStringDecoder()
    decoded = "".join(decoder.feed(fragment) for fragment in split(data, body[:cut]))
    assert text.startswith(decoded)
    assert not decoder.closed


def test_escapes_split_across_fragments_are_held_back() -> None:
    decoder = JsonStringDecoder()
    assert decoder.feed("a\\") == "a"
    assert decoder.feed("n") == "\n"
    assert decoder.feed("\\u00") == ""
    assert decoder.feed("e9\\ud83d") == "\u00e9"  # the high surrogate waits for its pair
    assert decoder.feed("\\ude") == ""
    assert decoder.feed('00" ignored') == "\U0001f600"
    assert decoder.closed
    assert decoder.feed("more") == ""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('\\ud83dx"', "\ufffdx"),  # high surrogate, then a plain character
        ('\\ud83d\\n"', "\ufffd\n"),  # high surrogate, then another escape
        ('\\ud83d\\ud83d\\ude00"', "\ufffd\U0001f600"),  # two highs, the second paired
        ('\\ude00"', "\ufffd"),  # a low surrogate alone
        ('\\ud83d"', "\ufffd"),  # a high surrogate at the end of the string
    ],
)
def test_lone_surrogates_become_replacement_characters(body: str, expected: str) -> None:
    decoder = JsonStringDecoder()
    assert "".join(decoder.feed(ch) for ch in body) == expected
    assert decoder.closed


@pytest.mark.parametrize("body", ["\\x", "\\u12g4"])
def test_an_invalid_escape_stops_decoding(body: str) -> None:
    decoder = JsonStringDecoder()
    assert decoder.feed("ok" + body + 'more"') == "ok"
    assert decoder.failed and not decoder.closed
    assert decoder.feed("x") == ""


@settings(max_examples=300, deadline=None)
@given(encoded=json_string_body(), data=st.data())
def test_a_first_string_member_streams_its_decoded_value(
    encoded: tuple[str, str], data: st.DataObject
) -> None:
    text, body = encoded
    space = data.draw(st.sampled_from(["", " ", "\n  ", "\t"]))
    whole = f'{space}{{{space}"input"{space}:{space}"{body}"{space},"other": [1]}}'
    decoder = StringMemberDecoder("input")
    assert "".join(decoder.feed(fragment) for fragment in split(data, whole)) == text
    assert decoder.value is not None and decoder.value.closed
    assert not decoder.gave_up


@pytest.mark.parametrize(
    "whole",
    [
        '{"path": "a", "input": "b"}',  # another member first
        '{"input": 5}',  # not a string
        '{"in": "b"}',
        '{"\\u0069nput": "b"}',  # an escaped key is not recognised
        '["input"]',
        "",
    ],
)
def test_a_member_decoder_gives_up_on_other_shapes(whole: str) -> None:
    decoder = StringMemberDecoder("input")
    assert "".join(decoder.feed(ch) for ch in whole) == ""
    assert decoder.value is None
    assert decoder.gave_up == bool(whole)
