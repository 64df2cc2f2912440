"""Neutral output events: what a Kiro reply means, before it is rendered for a client API.

`translate/assembler.py` turns KiroEvents into these (thinking-tag parsing, tool-call assembly,
usage); `translate/anthropic_response.py` and `translate/openai_response.py` render them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "content_filter"]


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ThinkingDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ThinkingEnd:
    signature: str | None = None


@dataclass(slots=True, frozen=True)
class ToolCallStart:
    index: int  # 0-based among tool calls of this reply
    id: str
    name: str  # original (client-side) name, restored from the shortened one


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    index: int
    arguments_fragment: str


@dataclass(slots=True, frozen=True)
class ToolCallEnd:
    index: int
    input: dict[str, Any]


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    credits: float = 0.0


@dataclass(slots=True, frozen=True)
class Finish:
    stop_reason: StopReason
    usage: Usage
    stop_sequence: str | None = None


OutputEvent = TextDelta | ThinkingDelta | ThinkingEnd | ToolCallStart | ToolCallDelta | ToolCallEnd | Finish
