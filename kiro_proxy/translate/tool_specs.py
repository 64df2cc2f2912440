"""Tool declarations Kiro accepts (pure): names, descriptions, schemas, placeholders.

Kiro quirks handled here (protocol doc §2.2 rules 6-9):
* names must match `^[A-Za-z][A-Za-z0-9_-]{0,63}$` — MCP names like
  `mcp__github__create_pull_request_review_comment_...` overflow; they are shortened
  deterministically (prefix + 8 hex of sha256) and the short → original map travels on the
  KiroRequest so replies restore what the client declared;
* descriptions over the limit cause 400: the full text moves into the system context under
  `## Tool: <name>` and a short description points there; empty descriptions are rejected, so
  they become `Tool: <name>`;
* a tool used in history but not declared now gets a placeholder spec (Kiro rejects undeclared
  tool content); duplicate names are declared once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.kiro.request import KiroToolSpec
from kiro_proxy.translate.conversation import ToolDef
from kiro_proxy.translate.hygiene import HygieneLimits
from kiro_proxy.translate.schema import sanitize_tool_schema

_VALID_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
PLACEHOLDER_DESCRIPTION = "Tool used earlier in this conversation; not offered in this request."


@dataclass(slots=True)
class ToolDeclarations:
    specs: list[KiroToolSpec] = field(default_factory=list)
    short_names: dict[str, str] = field(default_factory=dict)  # original → name sent to Kiro
    system_sections: list[str] = field(default_factory=list)  # long descriptions, in full

    @property
    def name_map(self) -> dict[str, str]:
        """short → original, only for names that changed (restored in responses)."""
        return {short: orig for orig, short in self.short_names.items() if short != orig}


def shorten_tool_name(name: str, max_length: int = 64) -> str:
    """Same input → same output, so history renames stay consistent across turns."""
    if len(name) <= max_length and _VALID_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    cleaned = _INVALID_CHARS.sub("_", name)
    if not cleaned[:1].isascii() or not cleaned[:1].isalpha():
        cleaned = "t_" + cleaned
    return f"{cleaned[: max_length - 9]}_{digest}"


def fit_tool_description(
    name: str, description: str, limits: HygieneLimits
) -> tuple[str, str | None]:
    """(description to send, full-text section for the system context or None)."""
    text = description.strip()
    if not text:
        return f"Tool: {name}", None
    if len(text) <= limits.max_tool_description_length:
        return text, None
    pointer = f"… (full description in the system context under '## Tool: {name}')"
    head = text[: max(0, limits.short_tool_description_length - len(pointer))]
    cut = head.rfind("\n\n")
    if cut > len(head) // 2:
        head = head[:cut]
    return head.rstrip() + pointer, f"## Tool: {name}\n{text}"


def declare_tools(
    tools: list[ToolDef],
    used_in_history: list[str],
    *,
    only_history_tools: bool,
    limits: HygieneLimits,
) -> ToolDeclarations:
    """Specs for the client's tools (or, with tool_choice none, only those history needs) plus
    placeholders for history tools the client no longer declares."""
    out = ToolDeclarations()
    declared_lower: set[str] = set()
    needed = {name for name in used_in_history}
    for tool in tools:
        if only_history_tools and tool.name not in needed:
            continue
        short = _short_name(out, tool.name, limits)
        if short.lower() in declared_lower:
            continue  # a duplicate name is a 400; the first definition wins
        declared_lower.add(short.lower())
        description, section = fit_tool_description(short, tool.description, limits)
        if section is not None:
            out.system_sections.append(section)
        out.specs.append(KiroToolSpec(short, description, sanitize_tool_schema(tool.input_schema)))
    for name in used_in_history:
        short = _short_name(out, name, limits)
        if short.lower() in declared_lower:
            continue
        declared_lower.add(short.lower())
        placeholder_schema = {"type": "object", "properties": {}, "additionalProperties": True}
        out.specs.append(KiroToolSpec(short, PLACEHOLDER_DESCRIPTION, placeholder_schema))
    return out


def check_forced_tool(tools: list[ToolDef], name: str | None) -> None:
    if name is not None and all(tool.name != name for tool in tools):
        raise InvalidRequestError(
            f"tool_choice.name: no tool named {name!r} in tools", param="tool_choice.name"
        )


def _short_name(out: ToolDeclarations, name: str, limits: HygieneLimits) -> str:
    short = out.short_names.get(name)
    if short is None:
        short = shorten_tool_name(name, limits.max_tool_name_length)
        out.short_names[name] = short
    return short
