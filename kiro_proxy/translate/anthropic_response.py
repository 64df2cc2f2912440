"""Neutral OutputEvents → Anthropic Messages API: SSE stream and non-streaming message.

Claude Code and the anthropic SDK are strict about the event grammar: message_start, then per
content block content_block_start / content_block_delta* / content_block_stop with consecutive
indexes and one block open at a time, then message_delta (stop reason, final usage) and
message_stop. `_BlockPlanner` owns that grammar once; the stream renderer turns its steps into
bytes and the message builder into a content list, so both always agree.
"""

from __future__ import annotations

from typing import Any

import orjson

from kiro_proxy.api.sse import event_prefix, named_event
from kiro_proxy.translate.output import (
    THINKING_TAGS,
    Finish,
    OutputEvent,
    RedactedThinking,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from kiro_proxy.translate.truncation import truncation_note

THINKING_FORMATS = ("native", "thinking", "think", "reasoning_content")

# Anthropic has no "content_filter" stop reason; a filtered reply is a refusal.
_STOP_REASONS: dict[StopReason, str] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "content_filter": "refusal",
}

_TEXT, _THINKING, _TOOL, _OTHER = "text", "thinking", "tool_use", "other"


def anthropic_usage(usage: Usage) -> dict[str, int]:
    """Anthropic's `input_tokens` excludes cached tokens (its three input buckets add up)."""
    cached = usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    return {
        "input_tokens": max(0, usage.input_tokens - cached),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
    }


class _BlockPlanner:
    """Turns OutputEvents into content-block steps; subclasses say what a step produces."""

    def __init__(self, thinking_format: str) -> None:
        if thinking_format not in THINKING_FORMATS:
            raise ValueError(f"unknown Anthropic thinking format {thinking_format!r}")
        self._format = thinking_format
        self._tags = THINKING_TAGS.get(thinking_format)
        self._open_kind: str | None = None
        self._open_index = -1
        self._next_index = 0
        self._in_text_thinking = False  # inside tags/plain reasoning written as text
        self._tool_names: dict[int, str] = {}

    # steps, implemented by subclasses
    def _start(self, index: int, block: dict[str, Any]) -> None:
        raise NotImplementedError

    def _text(self, index: int, text: str) -> None:
        raise NotImplementedError

    def _thinking(self, index: int, text: str) -> None:
        raise NotImplementedError

    def _signature(self, index: int, signature: str) -> None:
        raise NotImplementedError

    def _json(self, index: int, fragment: str) -> None:
        raise NotImplementedError

    def _tool_input(self, index: int, value: dict[str, Any]) -> None:
        raise NotImplementedError

    def _stop(self, index: int) -> None:
        raise NotImplementedError

    def _finish(self, finish: Finish) -> None:
        raise NotImplementedError

    # grammar
    def _apply(self, event: OutputEvent) -> None:
        if isinstance(event, TextDelta):
            if event.text:
                self._text(self._ensure(_TEXT), event.text)
        elif isinstance(event, ThinkingDelta):
            self._on_thinking(event.text)
        elif isinstance(event, ToolCallDelta):
            if event.arguments_fragment and self._open_kind == _TOOL:
                self._json(self._open_index, event.arguments_fragment)
        elif isinstance(event, ToolCallStart):
            self._close()
            self._tool_names[event.index] = event.name
            block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            self._open(_TOOL, block)
        elif isinstance(event, ToolCallEnd):
            self._on_tool_end(event)
        elif isinstance(event, ThinkingEnd):
            self._on_thinking_end(event.signature)
        elif isinstance(event, RedactedThinking):
            if self._format == "native":
                self._close()
                self._open(_OTHER, {"type": "redacted_thinking", "data": event.data})
                self._close()
        elif isinstance(event, Finish):
            self._close()
            self._finish(event)

    def _open(self, kind: str, block: dict[str, Any]) -> int:
        index = self._next_index
        self._next_index += 1
        self._open_kind = kind
        self._open_index = index
        self._start(index, block)
        return index

    def _close(self) -> None:
        if self._open_kind is not None:
            self._stop(self._open_index)
            self._open_kind = None

    def _ensure(self, kind: str) -> int:
        if self._open_kind == kind:
            return self._open_index
        self._close()
        if kind == _THINKING:
            return self._open(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
        return self._open(_TEXT, {"type": "text", "text": ""})

    def _on_thinking(self, text: str) -> None:
        if self._format == "native":
            self._thinking(self._ensure(_THINKING), text)
            return
        index = self._ensure(_TEXT)
        if not self._in_text_thinking:
            self._in_text_thinking = True
            if self._tags is not None:
                self._text(index, self._tags[0])
        if text:
            self._text(index, text)

    def _on_thinking_end(self, signature: str | None) -> None:
        if self._format == "native":
            index = self._ensure(_THINKING)
            # Anthropic always closes a thinking block with its signature; Kiro's inline tags
            # have none, and an invented one would be a lie, so it is empty then.
            self._signature(index, signature or "")
            self._close()
            return
        if self._in_text_thinking:
            self._in_text_thinking = False
            self._text(self._ensure(_TEXT), self._tags[1] if self._tags else "\n\n")

    def _on_tool_end(self, event: ToolCallEnd) -> None:
        if self._open_kind != _TOOL:
            return
        if event.arguments_suffix:
            self._json(self._open_index, event.arguments_suffix)
        self._tool_input(self._open_index, event.input)
        self._close()
        if event.truncated:
            name = self._tool_names.get(event.index, "tool")
            self._text(self._ensure(_TEXT), truncation_note(name).lstrip("\n"))


_MESSAGE_START = event_prefix("message_start")
_BLOCK_START = event_prefix("content_block_start")
_DELTA_PREFIX = event_prefix("content_block_delta") + b'{"type":"content_block_delta","index":'
_TEXT_DELTA = b',"delta":{"type":"text_delta","text":'
_THINKING_DELTA = b',"delta":{"type":"thinking_delta","thinking":'
_SIGNATURE_DELTA = b',"delta":{"type":"signature_delta","signature":'
_JSON_DELTA = b',"delta":{"type":"input_json_delta","partial_json":'
_DELTA_END = b"}}\n\n"
_BLOCK_STOP = event_prefix("content_block_stop") + b'{"type":"content_block_stop","index":'
_MESSAGE_STOP = named_event("message_stop", {"type": "message_stop"})
_PING = named_event("ping", {"type": "ping"})


class AnthropicStreamRenderer(_BlockPlanner):
    def __init__(
        self, *, message_id: str, model: str, thinking_format: str, input_tokens: int
    ) -> None:
        super().__init__(thinking_format)
        self._message_id = message_id
        self._model = model
        self._input_tokens = input_tokens
        self._out: list[bytes] = []
        # Bytes before the escaped text of a text_delta in the open block (set by `_start`).
        self._text_head = b""

    def message_start(self, input_tokens: int | None = None) -> bytes:
        message = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._input_tokens if input_tokens is None else input_tokens,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return (
            _MESSAGE_START + orjson.dumps({"type": "message_start", "message": message}) + b"\n\n"
        )

    def render(self, event: OutputEvent) -> bytes:
        if isinstance(event, TextDelta) and self._open_kind == _TEXT:
            # Hot path, once per streamed chunk: the same bytes as `_text`, one concatenation.
            text = event.text
            return self._text_head + orjson.dumps(text) + _DELTA_END if text else b""
        self._apply(event)
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def error(self, kind: str, message: str) -> bytes:
        return named_event("error", {"type": "error", "error": {"type": kind, "message": message}})

    @staticmethod
    def ping() -> bytes:
        return _PING

    def _delta(self, index: int, kind: bytes, value: str) -> None:
        self._out.append(
            _DELTA_PREFIX + str(index).encode() + kind + orjson.dumps(value) + _DELTA_END
        )

    def _start(self, index: int, block: dict[str, Any]) -> None:
        payload = {"type": "content_block_start", "index": index, "content_block": block}
        self._out.append(_BLOCK_START + orjson.dumps(payload) + b"\n\n")
        self._text_head = _DELTA_PREFIX + str(index).encode() + _TEXT_DELTA

    def _text(self, index: int, text: str) -> None:
        self._delta(index, _TEXT_DELTA, text)

    def _thinking(self, index: int, text: str) -> None:
        self._delta(index, _THINKING_DELTA, text)

    def _signature(self, index: int, signature: str) -> None:
        self._delta(index, _SIGNATURE_DELTA, signature)

    def _json(self, index: int, fragment: str) -> None:
        self._delta(index, _JSON_DELTA, fragment)

    def _tool_input(self, index: int, value: dict[str, Any]) -> None:
        pass  # streaming clients build the input from the fragments

    def _stop(self, index: int) -> None:
        self._out.append(_BLOCK_STOP + str(index).encode() + b"}\n\n")

    def _finish(self, finish: Finish) -> None:
        payload = {
            "type": "message_delta",
            "delta": {
                "stop_reason": _STOP_REASONS[finish.stop_reason],
                "stop_sequence": finish.stop_sequence,
            },
            "usage": anthropic_usage(finish.usage),
        }
        self._out.append(named_event("message_delta", payload))
        self._out.append(_MESSAGE_STOP)


class AnthropicMessageBuilder(_BlockPlanner):
    """Non-streaming: collects the same blocks into one `message` object."""

    def __init__(self, *, message_id: str, model: str, thinking_format: str) -> None:
        super().__init__(thinking_format)
        self._message_id = message_id
        self._model = model
        self._blocks: list[dict[str, Any]] = []
        self._parts: dict[int, list[str]] = {}  # text/thinking pieces, joined once at build
        self._finish_event: Finish | None = None

    def add(self, event: OutputEvent) -> None:
        self._apply(event)

    def build(self) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, block in enumerate(self._blocks):
            block = dict(block)
            parts = self._parts.get(index)
            if block["type"] == "text":
                block["text"] = "".join(parts or ())
            elif block["type"] == "thinking":
                block["thinking"] = "".join(parts or ())
            content.append(block)
        finish = self._finish_event or Finish("end_turn", Usage())
        return {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": content,
            "stop_reason": _STOP_REASONS[finish.stop_reason],
            "stop_sequence": finish.stop_sequence,
            "usage": anthropic_usage(finish.usage),
        }

    def _start(self, index: int, block: dict[str, Any]) -> None:
        self._blocks.append(dict(block))
        self._parts[index] = []

    def _text(self, index: int, text: str) -> None:
        self._parts[index].append(text)

    _thinking = _text

    def _signature(self, index: int, signature: str) -> None:
        self._blocks[index]["signature"] = signature

    def _json(self, index: int, fragment: str) -> None:
        pass  # the finished input arrives with ToolCallEnd

    def _tool_input(self, index: int, value: dict[str, Any]) -> None:
        self._blocks[index]["input"] = value

    def _stop(self, index: int) -> None:
        pass

    def _finish(self, finish: Finish) -> None:
        self._finish_event = finish
