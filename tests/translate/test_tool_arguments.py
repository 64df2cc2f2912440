import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.translate.tool_arguments import JsonObjectPrefix, finish_arguments


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
