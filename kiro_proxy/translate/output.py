"""Neutral output events: what a Kiro reply means, before it is rendered for a client API.

`translate/assembler.py` turns KiroEvents into these (thinking-tag parsing, tool-call assembly,
usage); `translate/anthropic_response.py` and `translate/openai_response.py` render them.

Ordering contract the assembler guarantees (renderers rely on it):
- thinking (ThinkingDelta*, ThinkingEnd) is never interleaved with a tool call;
- a tool call is ToolCallStart, ToolCallDelta*, ToolCallEnd with nothing else in between;
- Finish is the last event and comes exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "content_filter"]

# Opening and closing text of reasoning rendered inline, for the "thinking" and "think" thinking
# formats of both renderers.
THINKING_TAGS = {
    "thinking": ("<thinking>", "</thinking>\n\n"),
    "think": ("<think>", "</think>\n\n"),
}


# The per-chunk events (text, thinking, argument fragments) are plain slotted dataclasses, the
# rest frozen: a frozen dataclass's __init__ goes through object.__setattr__ per field, ~1,100
# more instructions per object (callgrind), paid on every streamed chunk. Nothing changes them.


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ThinkingDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ThinkingEnd:
    signature: str | None = None


@dataclass(slots=True, frozen=True)
class RedactedThinking:
    """Opaque redacted reasoning (Anthropic `redacted_thinking` block); other formats drop it."""

    data: str


@dataclass(slots=True, frozen=True)
class ToolCallStart:
    index: int  # 0-based among tool calls of this reply
    id: str
    name: str  # original (client-side) name, restored from the shortened one


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments_fragment: str


@dataclass(slots=True, frozen=True)
class ToolCallEnd:
    """End of a tool call.

    Invariant: the concatenated `ToolCallDelta` fragments followed by `arguments_suffix` are JSON
    that parses to `input`. Renderers stream the suffix as one last fragment, so a client that
    accumulates fragments (Claude Code, the SDKs) sees the same arguments as `input`.
    `truncated` means Kiro cut the arguments off (it does so for very large tool inputs) and they
    were repaired by closing open strings/containers, or replaced by `{}`: renderers add a
    visible note so the user and the model know the call is incomplete.
    """

    index: int
    input: dict[str, Any]
    arguments_suffix: str = ""
    truncated: bool = False


@dataclass(slots=True)
class Usage:
    """Token usage of one reply.

    `input_tokens` is the whole prompt, cached parts included (uncached + cache read + cache
    write); the Anthropic renderer subtracts the cache buckets because Anthropic's
    `input_tokens` counts only the uncached part. Cache figures are 0 unless Kiro reported them.
    """

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


OutputEvent = (
    TextDelta
    | ThinkingDelta
    | ThinkingEnd
    | RedactedThinking
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Finish
)
