"""load_json_object's nesting limit: the quick bracket count never changes what is accepted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.request_parsing import MAX_NESTING, load_json_object


def _nested(depth: int) -> str:
    """A JSON object whose containers (the object included) nest `depth` levels deep."""
    return '{"a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("as_bytes", [False, True])
def test_the_deepest_accepted_body_and_one_level_more(as_bytes: bool) -> None:
    deepest, too_deep = _nested(MAX_NESTING), _nested(MAX_NESTING + 1)
    assert load_json_object(deepest.encode() if as_bytes else deepest)["a"]
    with pytest.raises(InvalidRequestError, match="nested too deeply"):
        load_json_object(too_deep.encode() if as_bytes else too_deep)


def test_many_brackets_that_do_not_nest_deeply_are_accepted() -> None:
    """Brackets inside strings and side by side count for the quick check but not for depth:
    the exact check then runs and lets the body through."""
    in_strings = '{"text": "' + "[{" * 500 + '", "list": [' + "[], " * 300 + "[]]}"
    data = load_json_object(in_strings.encode())
    assert data["text"] == "[{" * 500
    assert len(data["list"]) == 301


def test_a_deep_body_with_few_brackets_cannot_exist() -> None:
    """The quick check's premise: every level needs its own opening bracket."""
    body = _nested(MAX_NESTING + 1)
    assert body.count("{") + body.count("[") == MAX_NESTING + 1


@settings(max_examples=200, deadline=None)
@given(
    objects=st.lists(st.booleans(), min_size=0, max_size=MAX_NESTING + 2),
    bracket_padding=st.integers(0, MAX_NESTING + 5),
    as_bytes=st.booleans(),
)
def test_accepted_exactly_when_nested_at_most_the_limit(
    objects: list[bool], bracket_padding: int, as_bytes: bool
) -> None:
    """Any mix of objects and arrays, with or without enough brackets in a string to defeat the
    quick count: the body is refused exactly when its containers nest deeper than MAX_NESTING."""
    levels = [True, *objects]  # the outermost container is an object
    body = "".join('{"k":' if is_object else "[" for is_object in levels)
    body += '"' + "[" * bracket_padding + '"'
    body += "".join("}" if is_object else "]" for is_object in reversed(levels))
    if len(levels) <= MAX_NESTING:
        assert isinstance(load_json_object(body.encode() if as_bytes else body), dict)
    else:
        with pytest.raises(InvalidRequestError, match="nested too deeply"):
            load_json_object(body.encode() if as_bytes else body)
