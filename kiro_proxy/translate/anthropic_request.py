"""Anthropic Messages request → neutral Conversation (pure).

Choices a Claude Code user would expect:
* `cache_control` is accepted anywhere and ignored (Kiro has no cache points).
* Server tools (`web_search_20250305`, `web_fetch_*`, `code_execution_*`, any typed non-custom
  tool) cannot run on Kiro. Next to custom tools they are dropped, so an agent's normal turn
  still works. When they are the *only* tools (Claude Code's WebSearch sub-request) the request
  is refused with a 400 that says so: answering from memory would pass off invented results as a
  search, while an error lets the agent fall back to another tool and tells the user why.
* `document` blocks (PDFs, text documents) are refused: Kiro has no document input.
* Prior `thinking`/`redacted_thinking` blocks are parsed and later dropped (Kiro has no slot).
* `tool_choice.disable_parallel_tool_use` keeps only the first tool call of a reply (the
  assembler drops the rest) and asks the model for one call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import (
    Block,
    Conversation,
    ImageBlock,
    ImageUrlBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ThinkingConfig,
    ToolChoice,
    ToolDef,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.image_format import image_from_base64
from kiro_proxy.translate.request_parsing import (
    LenientModel,
    load_json_object,
    parse_tool_arguments,
    session_hint_from_user_id,
    validate_model,
)


class TextContent(LenientModel):
    type: Literal["text"]
    text: str


class Base64Source(LenientModel):
    type: Literal["base64"]
    media_type: str = ""
    data: str


class UrlSource(LenientModel):
    type: Literal["url"]
    url: str


class FileSource(LenientModel):
    type: Literal["file"]
    file_id: str = ""


ImageSource = Annotated[Base64Source | UrlSource | FileSource, Field(discriminator="type")]


class ImageContent(LenientModel):
    type: Literal["image"]
    source: ImageSource


class DocumentContent(LenientModel):
    type: Literal["document"]


class ToolUseContent(LenientModel):
    type: Literal["tool_use"]
    id: str
    name: str
    input: Any = None


ToolResultPart = Annotated[
    TextContent | ImageContent | DocumentContent, Field(discriminator="type")
]


class ToolResultContent(LenientModel):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[ToolResultPart] | None = None
    is_error: bool = False


class ThinkingContent(LenientModel):
    type: Literal["thinking"]
    thinking: str = ""
    signature: str | None = None


class RedactedThinkingContent(LenientModel):
    type: Literal["redacted_thinking"]
    data: str = ""


ContentBlock = Annotated[
    TextContent
    | ImageContent
    | DocumentContent
    | ToolUseContent
    | ToolResultContent
    | ThinkingContent
    | RedactedThinkingContent,
    Field(discriminator="type"),
]


class AnthropicMessage(LenientModel):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class AnthropicTool(LenientModel):
    name: str
    type: str | None = None  # absent or "custom" for client tools; anything else is a server tool
    description: str | None = None
    input_schema: Any = None


class AnthropicToolChoice(LenientModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class AnthropicThinking(LenientModel):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(default=None, ge=0)


class AnthropicOutputConfig(LenientModel):
    effort: Literal["low", "medium", "high", "max"] | None = None


class AnthropicMetadata(LenientModel):
    user_id: str | None = None


class AnthropicRequest(LenientModel):
    model: str
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage]
    system: str | list[TextContent] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: AnthropicMetadata | None = None
    thinking: AnthropicThinking | None = None
    output_config: AnthropicOutputConfig | None = None
    stream: bool = False


def parse_anthropic_request(body: bytes | str) -> AnthropicRequest:
    """Raw JSON body → validated request; InvalidRequestError (with `param`) on bad input."""
    req = validate_model(AnthropicRequest, load_json_object(body))
    if not req.messages:
        raise InvalidRequestError("messages: at least one message is required", param="messages")
    return req


def anthropic_to_conversation(req: AnthropicRequest) -> Conversation:
    return Conversation(
        system=_system_text(req.system),
        messages=[_message(i, m) for i, m in enumerate(req.messages)],
        tools=_tools(req.tools),
        tool_choice=_tool_choice(req.tool_choice),
        parallel_tool_calls=not (req.tool_choice and req.tool_choice.disable_parallel_tool_use),
        thinking=_thinking(req.thinking, req.output_config),
        max_tokens=req.max_tokens,
        stop_sequences=list(req.stop_sequences or []),
        session_hint=session_hint_from_user_id(req.metadata.user_id if req.metadata else None),
    )


def _system_text(system: str | list[TextContent] | None) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    # Claude Code sends several system blocks (identity line, main prompt); keep them apart.
    return "\n\n".join(block.text for block in system if block.text)


def _message(index: int, message: AnthropicMessage) -> Message:
    if isinstance(message.content, str):
        return Message(role=message.role, blocks=[TextBlock(message.content)])
    blocks: list[Block] = []
    for j, block in enumerate(message.content):
        param = f"messages.{index}.content.{j}"
        converted = _block(block, message.role, param)
        if converted is not None:
            blocks.append(converted)
    return Message(role=message.role, blocks=blocks)


def _block(block: Any, role: str, param: str) -> Block | None:
    if isinstance(block, TextContent):
        return TextBlock(block.text)
    if isinstance(block, ImageContent):
        return _image(block, f"{param}.source")
    if isinstance(block, DocumentContent):
        raise _document_error(param)
    if isinstance(block, ToolUseContent):
        if role != "assistant":
            raise InvalidRequestError(
                f"{param}: tool_use blocks belong in assistant messages", param=param
            )
        return ToolUseBlock(id=block.id, name=block.name, input=parse_tool_arguments(block.input))
    if isinstance(block, ToolResultContent):
        if role != "user":
            raise InvalidRequestError(
                f"{param}: tool_result blocks belong in user messages", param=param
            )
        return _tool_result(block, param)
    if isinstance(block, ThinkingContent):
        return ThinkingBlock(thinking=block.thinking, signature=block.signature)
    return None  # redacted_thinking: opaque to anyone but Anthropic, nothing to keep


def _image(block: ImageContent, param: str) -> ImageBlock | ImageUrlBlock:
    source = block.source
    if isinstance(source, Base64Source):
        return image_from_base64(source.data, source.media_type, param=f"{param}.data")
    if isinstance(source, UrlSource):
        if not source.url.lower().startswith(("http://", "https://")):
            if source.url.lower().startswith("data:"):
                return image_from_base64(source.url, None, param=f"{param}.url")
            raise InvalidRequestError(
                f"{param}.url: image URL must be http(s)", param=f"{param}.url"
            )
        return ImageUrlBlock(source.url)
    raise InvalidRequestError(
        f"{param}: file-id image sources need the Anthropic Files API, which Kiro does not have;"
        " send the image as base64",
        param=param,
    )


def _tool_result(block: ToolResultContent, param: str) -> ToolResultBlock:
    content = block.content
    if content is None or isinstance(content, str):
        return ToolResultBlock(block.tool_use_id, content or "", is_error=block.is_error)
    texts: list[str] = []
    images: list[ImageBlock | ImageUrlBlock] = []
    for k, part in enumerate(content):
        if isinstance(part, TextContent):
            texts.append(part.text)
        elif isinstance(part, ImageContent):
            images.append(_image(part, f"{param}.content.{k}.source"))
        else:
            raise _document_error(f"{param}.content.{k}")
    return ToolResultBlock(block.tool_use_id, "\n\n".join(texts), block.is_error, images)


def _document_error(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{param}: document blocks (PDFs, text documents) are not supported by Kiro; "
        "send the document's text as a text block instead",
        param=param,
    )


def _tools(tools: list[AnthropicTool] | None) -> list[ToolDef]:
    if not tools:
        return []
    custom = [t for t in tools if t.type in (None, "custom")]
    if not custom:
        kinds = ", ".join(sorted({t.type or "" for t in tools}))
        raise InvalidRequestError(
            f"tools: server tools ({kinds}) are not supported by Kiro: it cannot run web search,"
            " web fetch or code execution; use a client-side tool instead",
            param="tools",
        )
    return [
        ToolDef(
            t.name, t.description or "", t.input_schema if isinstance(t.input_schema, dict) else {}
        )
        for t in custom
    ]


def _tool_choice(choice: AnthropicToolChoice | None) -> ToolChoice:
    if choice is None:
        return ToolChoice()
    if choice.type == "tool" and not choice.name:
        raise InvalidRequestError(
            "tool_choice.name: required when tool_choice.type is 'tool'", param="tool_choice.name"
        )
    return ToolChoice(type=choice.type, name=choice.name if choice.type == "tool" else None)


def _thinking(
    thinking: AnthropicThinking | None, output_config: AnthropicOutputConfig | None
) -> ThinkingConfig:
    if thinking is None or thinking.type == "disabled":
        return ThinkingConfig()
    if thinking.type == "adaptive":
        effort = output_config.effort if output_config and output_config.effort else "high"
        return ThinkingConfig(enabled=True, adaptive_effort="high" if effort == "max" else effort)
    return ThinkingConfig(enabled=True, budget_tokens=thinking.budget_tokens)
