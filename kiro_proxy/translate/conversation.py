"""The neutral conversation both client APIs are parsed into before the Kiro request is built.

Anthropic and OpenAI requests become a `Conversation`; the shared hygiene rules and
`build_kiro_request` work on it, so neither API carries its own copy of the Kiro quirks.
Pure data: no I/O. Remote images are fetched by the API layer before translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(slots=True)
class TextBlock:
    text: str


@dataclass(slots=True)
class ImageBlock:
    media_type: str  # e.g. image/png
    data: str  # base64, no data: prefix


@dataclass(slots=True)
class ImageUrlBlock:
    """An image given by http(s) URL. api/image_fetch.py turns it into an ImageBlock before the
    Kiro request is built (Kiro only takes inline bytes); a leftover one becomes a text note."""

    url: str


@dataclass(slots=True)
class ToolUseBlock:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(slots=True)
class ToolResultBlock:
    tool_use_id: str
    content: str
    is_error: bool = False
    images: list[ImageBlock | ImageUrlBlock] = field(default_factory=list)


@dataclass(slots=True)
class ThinkingBlock:
    """Prior reasoning sent back by the client; Kiro has no slot for it."""

    thinking: str
    signature: str | None = None


Block = TextBlock | ImageBlock | ImageUrlBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock


@dataclass(slots=True)
class Message:
    role: Literal["user", "assistant"]
    blocks: list[Block] = field(default_factory=list)


@dataclass(slots=True)
class ToolDef:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(slots=True)
class ThinkingConfig:
    """Thinking requested by the client (suffix, `thinking` field or `reasoning_effort`)."""

    enabled: bool = False
    budget_tokens: int | None = None
    adaptive_effort: str | None = None  # low | medium | high for adaptive / reasoning_effort


@dataclass(slots=True)
class ToolChoice:
    """`auto` (default), `any` (must call some tool), `tool` (must call `name`), `none`."""

    type: Literal["auto", "any", "tool", "none"] = "auto"
    name: str | None = None


@dataclass(slots=True)
class Conversation:
    system: str = ""
    messages: list[Message] = field(default_factory=list)
    tools: list[ToolDef] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    # False: at most one tool call per reply (OpenAI parallel_tool_calls: false, Anthropic
    # disable_parallel_tool_use); the assembler drops every call after the first.
    parallel_tool_calls: bool = True
    thinking: ThinkingConfig = field(default_factory=ThinkingConfig)
    max_tokens: int | None = None
    stop_sequences: list[str] = field(default_factory=list)
    # Free-form instruction appended by the client API (e.g. OpenAI response_format json_object).
    output_instruction: str = ""
    session_hint: str | None = None  # stable id for conversationId reuse (Anthropic metadata)
