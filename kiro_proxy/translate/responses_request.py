"""OpenAI Responses request (`POST /v1/responses`) → neutral Conversation (pure).

Choices:
* Nothing is stored (Codex sends `store: false` and the whole conversation every turn), so
  `previous_response_id` and `item_reference` items are refused with a 400 that says so.
* `instructions` and the leading system/developer messages become the system prompt; a later
  system/developer message stays in place as user text (as on the chat route).
* `reasoning` items are dropped: their content (often encrypted) cannot be replayed to Kiro.
* Items of OpenAI's hosted tools (web search, shell, MCP, computer use, …) become short text
  notes or are dropped; `responses_history.py` has the mapping. `additional_tools` and
  `tool_search_output` items add their function and custom tools to the declared tools.
* Assistant-side items (messages, function and custom tool calls) that follow each other form one
  assistant turn; tool outputs and user messages that follow each other form one user turn.
* `reasoning.effort` turns thinking on (adaptive); `minimal` and `none` keep it off.
* `text.format` json_object / json_schema becomes an output instruction, as on the chat route.
* `parallel_tool_calls: false` keeps only the first tool call of a reply, in the output items
  and in the event stream alike (the assembler drops the rest), and is echoed back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import Field

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import (
    Block,
    Conversation,
    ImageBlock,
    ImageUrlBlock,
    Message,
    TextBlock,
    ThinkingConfig,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.openai_request import (
    ReasoningEffort,
    image_from_url,
    json_output_instruction,
    thinking_for_effort,
)
from kiro_proxy.translate.request_parsing import (
    LenientModel,
    load_json_object,
    parse_tool_arguments,
    validate_model,
)
from kiro_proxy.translate.responses_history import HOSTED_ITEM_KINDS, hosted_item_turn
from kiro_proxy.translate.responses_tools import (
    CUSTOM_INPUT,
    ToolCatalog,
    add_tools,
    build_tool_catalog,
    qualified_name,
    tool_choice_from,
)


class ReasoningOptions(LenientModel):
    effort: ReasoningEffort | None = None
    summary: str | None = None


class ResponsesRequest(LenientModel):
    model: str
    input: str | list[Any] = Field(default_factory=list)
    instructions: str | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    reasoning: ReasoningOptions | None = None
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    include: list[str] | None = None
    text: dict[str, Any] | None = None
    user: str | None = None
    truncation: str | None = None
    prompt_cache_key: str | None = None


@dataclass(slots=True)
class ResponsesTranslation:
    conversation: Conversation
    tools: ToolCatalog


# Input items that declare tools rather than add to the conversation.
_TOOL_ITEMS = ("additional_tools", "tool_search_output")


def parse_responses_request(body: bytes | str) -> ResponsesRequest:
    """Raw JSON body → validated request; InvalidRequestError (with `param`) on bad input."""
    req = validate_model(ResponsesRequest, load_json_object(body))
    if req.previous_response_id:
        raise InvalidRequestError(
            "previous_response_id: this gateway stores no responses; send the whole "
            "conversation in `input` (as Codex does with store: false)",
            param="previous_response_id",
        )
    if isinstance(req.input, list) and not req.input:
        raise InvalidRequestError("input: at least one input item is required", param="input")
    if isinstance(req.input, str) and not req.input:
        raise InvalidRequestError("input: the input text is empty", param="input")
    return req


def responses_to_conversation(req: ResponsesRequest) -> ResponsesTranslation:
    catalog = build_tool_catalog(req.tools)
    items: list[Any] = (
        [{"type": "message", "role": "user", "content": req.input}]
        if isinstance(req.input, str)
        else req.input
    )
    system_parts = [req.instructions] if req.instructions else []
    turns = _Turns()
    leading = True
    for index, item in enumerate(items):
        param = f"input.{index}"
        if not isinstance(item, dict):
            raise InvalidRequestError(f"{param}: an input item must be an object", param=param)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message" and item.get("role") in ("system", "developer"):
            text = _message_text(item, param)
            if leading:
                system_parts.append(text)
            else:
                turns.add("user", [TextBlock(text)])
            continue
        if kind == "reasoning":
            continue
        if kind in HOSTED_ITEM_KINDS:
            turn = hosted_item_turn(kind, item, param)
            if turn is not None:
                leading = False
                turns.add(*turn)
            continue
        if kind in _TOOL_ITEMS:
            tools = item.get("tools")
            if not isinstance(tools, list):
                raise InvalidRequestError(
                    f"{param}.tools: expected a list of tools", param=f"{param}.tools"
                )
            add_tools(catalog, tools, f"{param}.tools")
            continue
        leading = False
        turns.add(*_item_turn(kind, item, param))
    return ResponsesTranslation(
        conversation=Conversation(
            system="\n\n".join(part for part in system_parts if part),
            messages=turns.messages,
            tools=catalog.definitions,
            tool_choice=tool_choice_from(req.tool_choice, catalog),
            parallel_tool_calls=req.parallel_tool_calls is not False,
            thinking=_thinking(req.reasoning),
            max_tokens=req.max_output_tokens,
            output_instruction=_output_instruction(req.text),
            session_hint=req.prompt_cache_key,
        ),
        tools=catalog,
    )


class _Turns:
    """Consecutive blocks of the same role join one message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def add(self, role: str, blocks: list[Block]) -> None:
        if self.messages and self.messages[-1].role == role:
            self.messages[-1].blocks.extend(blocks)
        else:
            self.messages.append(Message("user" if role == "user" else "assistant", blocks))


def _item_turn(kind: Any, item: dict[str, Any], param: str) -> tuple[str, list[Block]]:
    if kind == "message":
        role = item.get("role")
        if role == "user":
            return "user", _user_content(item.get("content"), f"{param}.content")
        if role == "assistant":
            return "assistant", [TextBlock(_message_text(item, param))]
        raise InvalidRequestError(
            f"{param}.role: unsupported role {role!r}; expected user, assistant, system or "
            "developer",
            param=f"{param}.role",
        )
    if kind == "function_call":
        name = qualified_name(_string(item, "name", param), _namespace(item))
        arguments = parse_tool_arguments(item.get("arguments"))
        return "assistant", [ToolUseBlock(_string(item, "call_id", param), name, arguments)]
    if kind == "custom_tool_call":
        name = qualified_name(_string(item, "name", param), _namespace(item))
        raw = item.get("input")
        arguments = {CUSTOM_INPUT: raw if isinstance(raw, str) else ""}
        return "assistant", [ToolUseBlock(_string(item, "call_id", param), name, arguments)]
    if kind in ("function_call_output", "custom_tool_call_output"):
        call_id = _string(item, "call_id", param)
        text, images = _tool_output(item.get("output"), f"{param}.output")
        return "user", [ToolResultBlock(call_id, text, images=images)]
    if kind == "item_reference":
        raise InvalidRequestError(
            f"{param}: item_reference is not supported: this gateway stores no items; send the "
            "items themselves",
            param=param,
        )
    if kind == "compaction_trigger":
        raise InvalidRequestError(
            f"{param}: compaction_trigger is not supported: this gateway cannot compact a "
            "conversation; send it uncompacted",
            param=param,
        )
    raise InvalidRequestError(
        f"{param}.type: unsupported input item type {kind!r}: not an input item of the "
        "Responses API (message, function_call, function_call_output, custom_tool_call, "
        "custom_tool_call_output, reasoning, or a hosted tool's item)",
        param=f"{param}.type",
    )


def _string(item: dict[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{param}.{key}: field required", param=f"{param}.{key}")
    return value


def _namespace(item: dict[str, Any]) -> str | None:
    namespace = item.get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text")


def _message_text(item: dict[str, Any], param: str) -> str:
    """A system, developer or assistant message's content as text (refusals included)."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"{param}.content: expected a string or a list of content parts",
            param=f"{param}.content",
        )
    texts: list[str] = []
    for k, part in enumerate(content):
        part_param = f"{param}.content.{k}"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        else:
            raise InvalidRequestError(
                f"{part_param}: unsupported content part {kind!r} in this message; expected "
                "input_text, output_text or refusal",
                param=part_param,
            )
    return "\n\n".join(texts)


def _user_content(content: Any, param: str) -> list[Block]:
    if isinstance(content, str):
        return [TextBlock(content)]
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"{param}: expected a string or a list of content parts", param=param
        )
    blocks: list[Block] = []
    for k, part in enumerate(content):
        blocks.append(_user_part(part, f"{param}.{k}"))
    return blocks


def _user_part(part: Any, param: str) -> TextBlock | ImageBlock | ImageUrlBlock:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
        return TextBlock(part["text"])
    if kind == "input_image":
        url = part.get("image_url")
        if isinstance(url, str) and url:
            return image_from_url(url, f"{param}.image_url")
        raise InvalidRequestError(
            f"{param}.image_url: give the image as a data: URL or an http(s) URL "
            "(uploaded file_id images are not supported)",
            param=f"{param}.image_url",
        )
    raise InvalidRequestError(
        f"{param}: unsupported content part {kind!r}; expected input_text or input_image "
        "(input_file and input_audio are not supported)",
        param=param,
    )


def _tool_output(output: Any, param: str) -> tuple[str, list[ImageBlock | ImageUrlBlock]]:
    """A tool output: a string, or content parts whose text is joined and images kept."""
    if output is None:
        return "", []
    if isinstance(output, str):
        return output, []
    if not isinstance(output, list):
        return orjson.dumps(output).decode(), []
    texts: list[str] = []
    images: list[ImageBlock | ImageUrlBlock] = []
    for k, part in enumerate(output):
        block = _user_part(part, f"{param}.{k}")
        if isinstance(block, TextBlock):
            texts.append(block.text)
        else:
            images.append(block)
    return "\n\n".join(texts), images


def _thinking(reasoning: ReasoningOptions | None) -> ThinkingConfig:
    effort = reasoning.effort if reasoning is not None else None
    # `minimal` keeps thinking off here (the chat route reads it as low).
    return ThinkingConfig() if effort == "minimal" else thinking_for_effort(effort)


def _output_instruction(text: dict[str, Any] | None) -> str:
    fmt = text.get("format") if text else None
    if not isinstance(fmt, dict):
        return ""
    if fmt.get("type") == "json_object":
        return json_output_instruction(None)
    if fmt.get("type") == "json_schema":
        return json_output_instruction(
            fmt.get("schema"), name=fmt.get("name"), description=fmt.get("description")
        )
    return ""
