"""Tool input-schema sanitising (pure). Kiro answers 400 "Improperly formed request" for schemas
peers see every day from MCP servers: `required: null`, `properties: null`, a non-object root,
`$schema` declarations (protocol doc §2.2 rule 9). We keep everything meaningful and repair or
drop only what is known to break; hostile (deep / huge) schemas are bounded instead of crashing.
"""

from __future__ import annotations

from typing import Any

# Keys that are metadata only and that peers report breaking the request.
_DROPPED_KEYS = frozenset({"$schema", "$id", "$comment", "cache_control"})
# Keywords whose value is one sub-schema.
_SCHEMA_KEYS = frozenset(
    {"items", "additionalItems", "not", "if", "then", "else", "contains", "propertyNames"}
)
# Keywords whose value is a list of sub-schemas.
_SCHEMA_LIST_KEYS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
# Keywords whose value maps names to sub-schemas.
_SCHEMA_MAP_KEYS = frozenset({"properties", "patternProperties", "$defs", "definitions"})

MAX_SCHEMA_DEPTH = 24
MAX_SCHEMA_NODES = 4000


class _Budget:
    __slots__ = ("nodes",)

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes


def sanitize_tool_schema(
    schema: Any, *, max_depth: int = MAX_SCHEMA_DEPTH, max_nodes: int = MAX_SCHEMA_NODES
) -> dict[str, Any]:
    """A JSON schema Kiro accepts, with an object root. Never raises."""
    budget = _Budget(max_nodes)
    cleaned = _sanitize_node(schema, 0, max_depth, budget) if isinstance(schema, dict) else {}
    return force_object_root(cleaned)


def force_object_root(schema: dict[str, Any]) -> dict[str, Any]:
    """Tool input is always a JSON object; Kiro rejects other roots (and MCP servers send
    `{}` or `{"type": null}` for argument-less tools)."""
    root = dict(schema)
    if root.get("type") != "object":
        root["type"] = "object"
    if not isinstance(root.get("properties"), dict):
        root["properties"] = {}
    for key in ("anyOf", "oneOf", "allOf", "not"):
        # A combinator at the root would let the model produce a non-object; keep the object shape.
        root.pop(key, None)
    return root


def _sanitize_node(node: dict[str, Any], depth: int, max_depth: int, budget: _Budget) -> Any:
    budget.nodes -= 1
    if depth >= max_depth or budget.nodes < 0:
        # Too deep or too big: accept anything here rather than fail the whole request.
        return {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if not isinstance(key, str) or key in _DROPPED_KEYS or value is None:
            continue
        if key in _SCHEMA_MAP_KEYS:
            if isinstance(value, dict):
                out[key] = {
                    str(name): _sanitize_sub(sub, depth + 1, max_depth, budget)
                    for name, sub in value.items()
                }
        elif key in _SCHEMA_LIST_KEYS:
            if isinstance(value, list):
                subs = [_sanitize_sub(sub, depth + 1, max_depth, budget) for sub in value]
                if subs:
                    out[key] = subs
        elif key in _SCHEMA_KEYS:
            if isinstance(value, dict | bool):
                out[key] = _sanitize_sub(value, depth + 1, max_depth, budget)
            elif key == "items" and isinstance(value, list):  # draft-4 tuple form
                out[key] = [_sanitize_sub(sub, depth + 1, max_depth, budget) for sub in value]
        elif key == "additionalProperties":
            if isinstance(value, bool):
                out[key] = value
            elif isinstance(value, dict):
                out[key] = _sanitize_sub(value, depth + 1, max_depth, budget)
        elif key == "required":
            names = _clean_required(value)
            if names:
                out[key] = names
        elif key == "type":
            if isinstance(value, str) or (
                isinstance(value, list) and value and all(isinstance(t, str) for t in value)
            ):
                out[key] = value
        else:
            out[key] = value
    return out


def _sanitize_sub(sub: Any, depth: int, max_depth: int, budget: _Budget) -> Any:
    if isinstance(sub, dict):
        return _sanitize_node(sub, depth, max_depth, budget)
    if sub is False:
        return {"not": {}}
    return {}  # true, null or garbage: "any value"


def _clean_required(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    seen: dict[str, None] = {}
    for item in value:
        if isinstance(item, str):
            seen.setdefault(item, None)
    return list(seen)
