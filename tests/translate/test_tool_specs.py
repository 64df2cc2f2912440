"""Tool declarations: names, descriptions, placeholders (protocol doc §2.2 rules 6-8)."""

from __future__ import annotations

import re

import pytest

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import ToolDef
from kiro_proxy.translate.hygiene import HygieneLimits
from kiro_proxy.translate.tool_specs import (
    PLACEHOLDER_DESCRIPTION,
    check_forced_tool,
    declare_tools,
    fit_tool_description,
    shorten_tool_name,
)

KIRO_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
LIMITS = HygieneLimits()


@pytest.mark.parametrize(
    "name",
    [
        "mcp__github__create_pull_request_review_comment_with_suggestions_and_more_words",
        "mcp__server.with.dots__tool",
        "9starts_with_digit",
        "_leading_underscore",
        "has space",
        "ünïcödé",
        "",
    ],
)
def test_tool_names_kiro_rejects_are_shortened_deterministically(name: str) -> None:
    short = shorten_tool_name(name)
    assert KIRO_NAME.match(short), short
    assert shorten_tool_name(name) == short


def test_valid_tool_names_are_untouched() -> None:
    assert shorten_tool_name("Read") == "Read"
    assert shorten_tool_name("mcp__ide__getDiagnostics") == "mcp__ide__getDiagnostics"
    assert shorten_tool_name("a" * 64) == "a" * 64


def test_long_names_with_a_shared_prefix_do_not_collide() -> None:
    prefix = "mcp__server__" + "x" * 60
    assert shorten_tool_name(prefix + "_one") != shorten_tool_name(prefix + "_two")


def test_empty_description_becomes_tool_name() -> None:
    assert fit_tool_description("Read", "  ", LIMITS) == ("Tool: Read", None)


def test_over_long_description_moves_to_system_context_without_loss() -> None:
    text = "Intro paragraph.\n\n" + "detail " * 3000
    short, section = fit_tool_description("Bash", text, LIMITS)
    assert len(short) <= LIMITS.short_tool_description_length
    assert "## Tool: Bash" in short
    assert section == f"## Tool: Bash\n{text.strip()}"


def test_declared_tools_get_sanitised_schema_and_name_map() -> None:
    long_name = "mcp__" + "n" * 70
    out = declare_tools(
        [
            ToolDef(long_name, "d", {"$schema": "x", "type": "object", "properties": None}),
            ToolDef("Read", "", {}),
        ],
        [],
        only_history_tools=False,
        limits=LIMITS,
    )
    short = shorten_tool_name(long_name)
    assert [s.name for s in out.specs] == [short, "Read"]
    assert out.specs[0].input_schema == {"type": "object", "properties": {}}
    assert out.specs[1].description == "Tool: Read"
    assert out.name_map == {short: long_name}


def test_tools_used_in_history_but_not_declared_get_placeholders() -> None:
    out = declare_tools(
        [ToolDef("Read", "r", {})], ["Read", "OldTool"], only_history_tools=False, limits=LIMITS
    )
    assert [(s.name, s.description) for s in out.specs] == [
        ("Read", "r"),
        ("OldTool", PLACEHOLDER_DESCRIPTION),
    ]


def test_duplicate_tool_names_are_declared_once() -> None:
    out = declare_tools(
        [ToolDef("Read", "first", {}), ToolDef("read", "second", {})],
        [],
        only_history_tools=False,
        limits=LIMITS,
    )
    assert [s.description for s in out.specs] == ["first"]


def test_tool_choice_none_declares_only_what_history_needs() -> None:
    out = declare_tools(
        [ToolDef("Read", "r", {}), ToolDef("Write", "w", {})],
        ["Read"],
        only_history_tools=True,
        limits=LIMITS,
    )
    assert [s.name for s in out.specs] == ["Read"]


def test_forcing_an_unknown_tool_is_a_400() -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_forced_tool([ToolDef("Read", "", {})], "Write")
    assert info.value.param == "tool_choice.name"
    check_forced_tool([ToolDef("Read", "", {})], "Read")
