"""OpenAI Chat Completions request → neutral Conversation (pure).

Choices:
* Leading system/developer messages become the system prompt; a system message later in the
  conversation (some agents inject reminders) stays where it is, as user text, so the prompt at
  the start of history does not change between turns.
* `reasoning_effort` turns thinking on in adaptive mode (minimal → low, xhigh → high);
  `none` keeps it off.
* `response_format` json_object / json_schema becomes an `output_instruction` (Kiro has no
  structured-output switch).
* Legacy `functions` / `function_call` / role `function` map onto tools, with ids derived from the
  message position so they stay stable across turns.
* `parallel_tool_calls: false` keeps only the first tool call of a reply (the assembler drops the
  rest) and asks the model for at most one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
    ToolChoice,
    ToolDef,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.image_format import parse_data_url
from kiro_proxy.translate.request_parsing import (
    LenientModel,
    load_json_object,
    parse_tool_arguments,
    validate_model,
)


class TextPart(LenientModel):
    type: Literal["text"]
    text: str


class RefusalPart(LenientModel):
    type: Literal["refusal"]
    refusal: str


class ImageUrl(LenientModel):
    url: str
    detail: str | None = None


class ImageUrlPart(LenientModel):
    type: Literal["image_url"]
    image_url: ImageUrl


UserPart = Annotated[TextPart | ImageUrlPart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]


class FunctionCall(LenientModel):
    name: str
    arguments: str | dict[str, Any] | None = None


class ToolCall(LenientModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(LenientModel):
    role: Literal["system", "developer"]
    content: str | list[TextPart]


class UserMessage(LenientModel):
    role: Literal["user"]
    content: str | list[UserPart]


class AssistantMessage(LenientModel):
    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None


class ToolMessage(LenientModel):
    role: Literal["tool"]
    tool_call_id: str
    content: str | list[TextPart] | None = None


class FunctionMessage(LenientModel):
    role: Literal["function"]
    name: str
    content: str | None = None


ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


class FunctionDef(LenientModel):
    name: str
    description: str | None = None
    parameters: Any = None


class FunctionTool(LenientModel):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(LenientModel):
    name: str


class NamedToolChoice(LenientModel):
    type: Literal["function"]
    function: NamedFunction


class StreamOptions(LenientModel):
    include_usage: bool = False


class JsonSchemaFormat(LenientModel):
    name: str | None = None
    description: str | None = None
    schema_: Any = Field(default=None, alias="schema")


class ResponseFormat(LenientModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


class OpenAIChatRequest(LenientModel):
    model: str
    messages: list[ChatMessage]
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    functions: list[FunctionDef] | None = None
    function_call: Literal["auto", "none"] | NamedFunction | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    n: int | None = None
    reasoning_effort: ReasoningEffort | None = None
    response_format: ResponseFormat | None = None
    prompt_cache_key: str | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def parse_openai_request(body: bytes | str) -> OpenAIChatRequest:
    """Raw JSON body → validated request; InvalidRequestError (with `param`) on bad input."""
    req = validate_model(OpenAIChatRequest, load_json_object(body))
    if not req.messages:
        raise InvalidRequestError("messages: at least one message is required", param="messages")
    if req.n is not None and req.n > 1:
        raise InvalidRequestError(
            "n: only one choice per request is supported (Kiro returns a single answer)", param="n"
        )
    return req


def openai_to_conversation(req: OpenAIChatRequest) -> Conversation:
    system_parts: list[str] = []
    messages: list[Message] = []
    legacy_calls: dict[str, list[str]] = {}  # function name → ids of unanswered legacy calls
    leading = True
    for index, message in enumerate(req.messages):
        param = f"messages.{index}"
        if isinstance(message, SystemMessage):
            text = _joined_text(message.content)
            if leading:
                system_parts.append(text)
            else:
                messages.append(Message("user", [TextBlock(text)]))
            continue
        leading = False
        if isinstance(message, UserMessage):
            messages.append(Message("user", _user_blocks(message.content, param)))
        elif isinstance(message, AssistantMessage):
            messages.append(_assistant(message, index, legacy_calls))
        elif isinstance(message, ToolMessage):
            text = "" if message.content is None else _joined_text(message.content)
            messages.append(Message("user", [ToolResultBlock(message.tool_call_id, text)]))
        else:
            pending = legacy_calls.get(message.name) or []
            call_id = pending.pop(0) if pending else f"call_fn_{index}"
            messages.append(Message("user", [ToolResultBlock(call_id, message.content or "")]))
    tools = [_tool_def(t.function) for t in req.tools or []]
    tools += [_tool_def(f) for f in req.functions or []]
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    return Conversation(
        system="\n\n".join(part for part in system_parts if part),
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(req),
        parallel_tool_calls=req.parallel_tool_calls is not False,
        thinking=thinking_for_effort(req.reasoning_effort),
        max_tokens=req.max_completion_tokens or req.max_tokens,
        stop_sequences=stop,
        output_instruction=_output_instruction(req.response_format),
        session_hint=req.prompt_cache_key,
    )


def _joined_text(content: str | list[TextPart]) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(part.text for part in content)


def _user_blocks(content: str | list[Any], param: str) -> list[Block]:
    if isinstance(content, str):
        return [TextBlock(content)]
    blocks: list[Block] = []
    for k, part in enumerate(content):
        if isinstance(part, TextPart):
            blocks.append(TextBlock(part.text))
        else:
            blocks.append(image_from_url(part.image_url.url, f"{param}.content.{k}.image_url.url"))
    return blocks


def image_from_url(url: str, param: str) -> ImageBlock | ImageUrlBlock:
    """A data: URL becomes inline bytes; an http(s) URL is fetched later by the API layer."""
    lowered = url[:8].lower()
    if lowered.startswith("data:"):
        return parse_data_url(url, param=param)
    if lowered.startswith(("http://", "https://")):
        return ImageUrlBlock(url)
    raise InvalidRequestError(
        f"{param}: image_url must be a data: URL or an http(s) URL", param=param
    )


def _assistant(
    message: AssistantMessage, index: int, legacy_calls: dict[str, list[str]]
) -> Message:
    blocks: list[Block] = []
    content = message.content
    if isinstance(content, str):
        blocks.append(TextBlock(content))
    elif content:
        blocks.extend(
            TextBlock(part.text if isinstance(part, TextPart) else part.refusal) for part in content
        )
    for call in message.tool_calls or []:
        args = parse_tool_arguments(call.function.arguments)
        blocks.append(ToolUseBlock(call.id, call.function.name, args))
    if message.function_call is not None:
        call_id = f"call_fn_{index}"
        legacy_calls.setdefault(message.function_call.name, []).append(call_id)
        args = parse_tool_arguments(message.function_call.arguments)
        blocks.append(ToolUseBlock(call_id, message.function_call.name, args))
    return Message("assistant", blocks)


def _tool_def(function: FunctionDef) -> ToolDef:
    schema = function.parameters if isinstance(function.parameters, dict) else {}
    return ToolDef(function.name, function.description or "", schema)


def _tool_choice(req: OpenAIChatRequest) -> ToolChoice:
    choice: Any = req.tool_choice if req.tool_choice is not None else req.function_call
    mode = tool_choice_for_mode(choice)
    if mode is not None:
        return mode
    name = choice.function.name if isinstance(choice, NamedToolChoice) else choice.name
    return ToolChoice(type="tool", name=name)


def tool_choice_for_mode(choice: Any) -> ToolChoice | None:
    """OpenAI's string tool_choice (None is auto) → ToolChoice; None when `choice` is not one of
    auto, none or required (a named tool, or something the caller checks)."""
    if choice is None or choice == "auto":
        return ToolChoice()
    if choice == "none":
        return ToolChoice(type="none")
    if choice == "required":
        return ToolChoice(type="any")
    return None


_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}


def thinking_for_effort(effort: str | None) -> ThinkingConfig:
    """OpenAI reasoning effort → thinking: off for none (and no effort), adaptive otherwise."""
    if effort is None or effort == "none":
        return ThinkingConfig()
    return ThinkingConfig(enabled=True, adaptive_effort=_EFFORT[effort])


def _output_instruction(response_format: ResponseFormat | None) -> str:
    if response_format is None or response_format.type == "text":
        return ""
    spec = response_format.json_schema
    if response_format.type == "json_object" or spec is None:
        return json_output_instruction(None)
    return json_output_instruction(spec.schema_, name=spec.name, description=spec.description)


def json_output_instruction(
    schema: Any, *, name: str | None = None, description: str | None = None
) -> str:
    """The instruction that stands in for structured output (Kiro has no switch for it): any
    JSON object when `schema` is None, else JSON matching the schema."""
    base = (
        "Answer with a single valid JSON value only: no prose, no Markdown code fences, "
        "nothing before or after the JSON."
    )
    if schema is None:
        return base.replace("a single valid JSON value", "a single valid JSON object")
    text = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
    named = f" named {name!r}" if name else ""
    about = f" ({description})" if description else ""
    return f"{base} The JSON must match this JSON schema{named}{about}:\n{text}"
