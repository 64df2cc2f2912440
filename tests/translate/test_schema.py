"""Tool JSON-schema sanitising: each case is a schema shape that made Kiro answer 400."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiro_proxy.translate.schema import sanitize_tool_schema

OBJECT_ROOT = {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("quirk", "schema", "expected"),
    [
        ("missing schema", None, OBJECT_ROOT),
        ("garbage schema", "not a schema", OBJECT_ROOT),
        ("empty schema from argument-less MCP tool", {}, OBJECT_ROOT),
        ("null type at root", {"type": None}, OBJECT_ROOT),
        ("non-object root", {"type": "string"}, OBJECT_ROOT),
        ("null properties", {"type": "object", "properties": None}, OBJECT_ROOT),
        ("null required", {"type": "object", "properties": {}, "required": None}, OBJECT_ROOT),
        ("empty required", {"type": "object", "properties": {}, "required": []}, OBJECT_ROOT),
        (
            "required with non-strings and duplicates",
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "required": ["a", 1, None, "a"],
            },
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        ),
        (
            "$schema declaration",
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "$id": "x",
                "type": "object",
                "properties": {},
            },
            OBJECT_ROOT,
        ),
        (
            "root combinator",
            {"type": "object", "anyOf": [{"required": ["a"]}], "properties": {}},
            OBJECT_ROOT,
        ),
        (
            "garbage additionalProperties",
            {"type": "object", "properties": {}, "additionalProperties": "yes"},
            OBJECT_ROOT,
        ),
    ],
)
def test_schema_quirks_are_repaired(quirk: str, schema: Any, expected: dict[str, Any]) -> None:
    assert sanitize_tool_schema(schema) == expected, quirk


def test_nested_schemas_are_cleaned_recursively_and_meaning_kept() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "$schema": "x",
                    "properties": {"old": {"type": "string", "description": "text"}, "n": None},
                    "required": None,
                },
            },
            "mode": {"enum": ["a", "b"], "default": "a"},
            "any": True,
            "never": False,
            "union": {"anyOf": [{"type": "string"}, None, {"$ref": "#/$defs/x"}]},
        },
        "$defs": {"x": {"type": "integer", "$comment": "c"}},
        "required": ["edits"],
    }
    assert sanitize_tool_schema(schema) == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"old": {"type": "string", "description": "text"}, "n": {}},
                },
            },
            "mode": {"enum": ["a", "b"], "default": "a"},
            "any": {},
            "never": {"not": {}},
            "union": {"anyOf": [{"type": "string"}, {}, {"$ref": "#/$defs/x"}]},
        },
        "$defs": {"x": {"type": "integer"}},
        "required": ["edits"],
    }


def test_hostile_deep_schema_is_bounded_without_recursion_error() -> None:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(500):
        node = {"type": "object", "properties": {"x": node}}
    out = sanitize_tool_schema(node, max_depth=24)
    depth = 0
    cursor = out
    while cursor.get("properties", {}).get("x"):
        cursor = cursor["properties"]["x"]
        depth += 1
    assert depth <= 24


def test_hostile_wide_schema_is_bounded_by_node_budget() -> None:
    schema = {
        "type": "object",
        "properties": {
            f"p{i}": {"type": "object", "properties": {"q": {"type": "string"}}}
            for i in range(3000)
        },
    }
    out = sanitize_tool_schema(schema, max_nodes=1000)
    emptied = sum(1 for value in out["properties"].values() if value == {})
    assert emptied >= 2000  # past the budget, sub-schemas become "any value" instead of crashing


def test_input_is_not_mutated() -> None:
    schema = {"type": "object", "properties": {"a": {"$schema": "x"}}, "required": []}
    sanitize_tool_schema(schema)
    assert schema == {"type": "object", "properties": {"a": {"$schema": "x"}}, "required": []}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "properties",
                    "required",
                    "items",
                    "anyOf",
                    "$schema",
                    "additionalProperties",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_becomes_an_object_root_schema(schema: Any) -> None:
    out = sanitize_tool_schema(schema)
    assert out["type"] == "object" and isinstance(out["properties"], dict)
    assert "$schema" not in out
    assert all(isinstance(name, str) for name in out.get("required", ["x"]))
