"""OpenAI Responses `tools` and `tool_choice` → neutral tool definitions (pure).

Choices:
* `function` tools map one to one.
* `custom` (freeform) tools — Codex's `apply_patch` — take raw text, which Kiro has no slot for:
  each becomes a Kiro tool with one string parameter `input`; its grammar or syntax, if any, goes
  into the description so the model knows the format. Calls come back as `custom_tool_call`.
* `namespace` tools group function/custom tools; Kiro has no namespaces, so each member is
  declared as `<namespace>__<name>` and calls are split back into `namespace` and `name`.
* Hosted tools Kiro cannot run (web_search, file_search, computer use, code interpreter, image
  generation, mcp, local_shell, …) are left out of the upstream request. Codex sends some by
  default, so they are not an error; the caller logs what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import ToolChoice, ToolDef
from kiro_proxy.translate.openai_request import tool_choice_for_mode

NAMESPACE_SEPARATOR = "__"
CUSTOM_INPUT = "input"  # the one parameter of a custom tool's Kiro declaration

ToolKind = Literal["function", "custom"]


@dataclass(slots=True, frozen=True)
class ToolIdentity:
    """How a declared tool name is rendered back in the Responses output."""

    kind: ToolKind
    name: str
    namespace: str | None = None


@dataclass(slots=True)
class ToolCatalog:
    """The neutral definitions sent upstream, and what each declared name is to the client."""

    definitions: list[ToolDef] = field(default_factory=list)
    identities: dict[str, ToolIdentity] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # hosted tool types not sent upstream

    def identity(self, declared_name: str) -> ToolIdentity:
        known = self.identities.get(declared_name)
        return known if known is not None else ToolIdentity("function", declared_name)


def qualified_name(name: str, namespace: str | None) -> str:
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def custom_tool_schema(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {CUSTOM_INPUT: {"type": "string", "description": description}},
        "required": [CUSTOM_INPUT],
        "additionalProperties": False,
    }


def build_tool_catalog(tools: list[Any] | None) -> ToolCatalog:
    catalog = ToolCatalog()
    add_tools(catalog, tools or [], "tools")
    return catalog


def add_tools(catalog: ToolCatalog, tools: list[Any], where: str) -> None:
    """Declare `tools` (request `tools`, or the tools an input item adds) in `catalog`; `where`
    is their parameter path for errors. A name declared twice keeps its first definition."""
    for index, tool in enumerate(tools):
        param = f"{where}.{index}"
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise InvalidRequestError(f"{param}: a tool must be an object with a type", param=param)
        kind = tool["type"]
        if kind == "namespace":
            namespace = _required_name(tool, param)
            members = tool.get("tools")
            if not isinstance(members, list):
                raise InvalidRequestError(
                    f"{param}.tools: a namespace needs a list of tools", param=f"{param}.tools"
                )
            for k, member in enumerate(members):
                _declare(catalog, member, f"{param}.tools.{k}", namespace)
        elif kind in ("function", "custom"):
            _declare(catalog, tool, param, None)
        else:
            catalog.left_out.append(kind)


def _declare(catalog: ToolCatalog, tool: Any, param: str, namespace: str | None) -> None:
    if not isinstance(tool, dict) or tool.get("type") not in ("function", "custom"):
        raise InvalidRequestError(
            f"{param}: namespace members must be function or custom tools", param=param
        )
    name = _required_name(tool, param)
    declared = qualified_name(name, namespace)
    if declared in catalog.identities:
        return  # declared twice (an input item repeats a request tool): the first one stands
    description = tool.get("description")
    description = description if isinstance(description, str) else ""
    if tool["type"] == "function":
        parameters = tool.get("parameters")
        schema = parameters if isinstance(parameters, dict) else {"type": "object"}
        catalog.definitions.append(ToolDef(declared, description, schema))
        catalog.identities[declared] = ToolIdentity("function", name, namespace)
        return
    input_note = _custom_input_note(tool.get("format"))
    full = "\n\n".join(part for part in (description, input_note) if part)
    catalog.definitions.append(ToolDef(declared, full, custom_tool_schema(input_note)))
    catalog.identities[declared] = ToolIdentity("custom", name, namespace)


def _required_name(tool: dict[str, Any], param: str) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"{param}.name: field required", param=f"{param}.name")
    return name


def _custom_input_note(fmt: Any) -> str:
    """What the `input` string must look like, from the custom tool's format."""
    plain = "The raw text input of this tool, passed as the `input` string."
    if not isinstance(fmt, dict) or fmt.get("type") != "grammar":
        return plain
    syntax = fmt.get("syntax") or "grammar"
    definition = fmt.get("definition")
    if not isinstance(definition, str) or not definition.strip():
        return plain
    return f"{plain} It must match this {syntax} grammar:\n{definition.strip()}"


def tool_choice_from(choice: Any, catalog: ToolCatalog) -> ToolChoice:
    """auto / none / required / a named function or custom tool; hosted-tool choices and
    allowed_tools (in auto mode) leave the choice to the model."""
    mode = tool_choice_for_mode(choice)
    if mode is not None:
        return mode
    if isinstance(choice, dict) and isinstance(choice.get("type"), str):
        kind = choice["type"]
        if kind in ("function", "custom"):
            name = choice.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidRequestError(
                    "tool_choice.name: field required", param="tool_choice.name"
                )
            namespace = choice.get("namespace")
            declared = qualified_name(name, namespace if isinstance(namespace, str) else None)
            return ToolChoice(type="tool", name=declared)
        if kind == "allowed_tools":
            return ToolChoice(type="any") if choice.get("mode") == "required" else ToolChoice()
        return ToolChoice()  # a hosted tool: not offered upstream, so nothing to force
    raise InvalidRequestError(
        "tool_choice: expected auto, none, required or a tool object", param="tool_choice"
    )
