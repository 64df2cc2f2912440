"""Neutral OutputEvents → OpenAI Chat Completions: `chat.completion.chunk` stream and completion.

Chunk order: a role chunk, then content / reasoning_content / tool_calls deltas as they come
(a tool call opens with index, id, type and name with empty arguments, then argument fragments),
a chunk with finish_reason, a usage chunk when the client asked (stream_options.include_usage),
and `data: [DONE]` from `done()`.
"""

from __future__ import annotations

from typing import Any

import orjson

from kiro_proxy.api.sse import DONE, data_event
from kiro_proxy.translate.output import (
    THINKING_TAGS,
    Finish,
    OutputEvent,
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

THINKING_FORMATS = ("reasoning_content", "thinking", "think")

FINISH_REASONS: dict[StopReason, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "content_filter": "content_filter",
}

# Error `type` values OpenAI clients know, for our Anthropic-style kinds.
_ERROR_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "overloaded_error": "server_error",
    "api_error": "server_error",
}


def openai_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
    }


class _DeltaPlanner:
    """Maps OutputEvents to OpenAI delta steps; the stream and the builder implement them."""

    def __init__(self, thinking_format: str) -> None:
        if thinking_format not in THINKING_FORMATS:
            raise ValueError(f"unknown OpenAI thinking format {thinking_format!r}")
        self._tags = THINKING_TAGS.get(thinking_format)
        self._in_thinking = False
        self._tool_names: dict[int, str] = {}

    def _content(self, text: str) -> None:
        raise NotImplementedError

    def _reasoning(self, text: str) -> None:
        raise NotImplementedError

    def _tool_start(self, index: int, call_id: str, name: str) -> None:
        raise NotImplementedError

    def _tool_arguments(self, index: int, fragment: str) -> None:
        raise NotImplementedError

    def _finish(self, finish: Finish) -> None:
        raise NotImplementedError

    def _apply(self, event: OutputEvent) -> None:
        if isinstance(event, TextDelta):
            if event.text:
                self._content(event.text)
        elif isinstance(event, ThinkingDelta):
            if self._tags is None:
                if event.text:
                    self._reasoning(event.text)
                return
            if not self._in_thinking:
                self._in_thinking = True
                self._content(self._tags[0])
            if event.text:
                self._content(event.text)
        elif isinstance(event, ToolCallDelta):
            if event.arguments_fragment:
                self._tool_arguments(event.index, event.arguments_fragment)
        elif isinstance(event, ToolCallStart):
            self._tool_names[event.index] = event.name
            self._tool_start(event.index, event.id, event.name)
        elif isinstance(event, ToolCallEnd):
            if event.arguments_suffix:
                self._tool_arguments(event.index, event.arguments_suffix)
            if event.truncated:
                self._content(truncation_note(self._tool_names.get(event.index, "tool")))
        elif isinstance(event, ThinkingEnd):
            if self._tags is not None and self._in_thinking:
                self._in_thinking = False
                self._content(self._tags[1])
        elif isinstance(event, Finish):
            self._finish(event)
        # RedactedThinking has no OpenAI form: dropped.


class OpenAIStreamRenderer(_DeltaPlanner):
    def __init__(
        self,
        *,
        completion_id: str,
        model: str,
        created: int,
        thinking_format: str,
        include_usage: bool,
    ) -> None:
        super().__init__(thinking_format)
        self._include_usage = include_usage
        head = orjson.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
            }
        )
        # Every chunk shares this head; only the delta differs (hot path).
        self._head = b"data: " + head[:-1]
        self._choice = self._head + b',"choices":[{"index":0,"delta":'
        # delta JSON goes between _choice and _close_chunk
        self._close_chunk = b',"logprobs":null,"finish_reason":null}]}\n\n'
        # A content chunk is these two around the escaped text (hot path of `render`).
        self._content_head = self._choice + b'{"content":'
        self._content_tail = b"}" + self._close_chunk
        self._started = False
        self._out: list[bytes] = []

    def render(self, event: OutputEvent) -> bytes:
        if isinstance(event, TextDelta) and self._started:
            # Hot path, once per streamed chunk: the same bytes as `_content`, one concatenation.
            text = event.text
            return self._content_head + orjson.dumps(text) + self._content_tail if text else b""
        if not self._started:
            self._started = True
            self._delta(b'{"role":"assistant","content":""}')
        self._apply(event)
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def error(self, kind: str, message: str) -> bytes:
        # openai-python's Stream raises APIError when a data line holds an "error" object.
        error = {"message": message, "type": _ERROR_TYPES.get(kind, kind), "code": kind}
        return data_event({"error": error}) + DONE

    def done(self) -> bytes:
        return DONE

    def _delta(self, delta_json: bytes) -> None:
        self._out.append(self._choice + delta_json + self._close_chunk)

    def _content(self, text: str) -> None:
        self._out.append(self._content_head + orjson.dumps(text) + self._content_tail)

    def _reasoning(self, text: str) -> None:
        self._delta(b'{"reasoning_content":' + orjson.dumps(text) + b"}")

    def _tool_start(self, index: int, call_id: str, name: str) -> None:
        call = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        self._delta(orjson.dumps({"tool_calls": [call]}))

    def _tool_arguments(self, index: int, fragment: str) -> None:
        self._delta(
            b'{"tool_calls":[{"index":'
            + str(index).encode()
            + b',"function":{"arguments":'
            + orjson.dumps(fragment)
            + b"}}]}"
        )

    def _finish(self, finish: Finish) -> None:
        reason = orjson.dumps(FINISH_REASONS[finish.stop_reason])
        self._out.append(
            self._choice + b'{},"logprobs":null,"finish_reason":' + reason + b"}]}\n\n"
        )
        if self._include_usage:
            usage = orjson.dumps(openai_usage(finish.usage))
            self._out.append(self._head + b',"choices":[],"usage":' + usage + b"}\n\n")


class OpenAICompletionBuilder(_DeltaPlanner):
    """Non-streaming: one `chat.completion` with text AND tool calls (Kiro-Go dropped the text)."""

    def __init__(
        self, *, completion_id: str, model: str, created: int, thinking_format: str
    ) -> None:
        super().__init__(thinking_format)
        self._id = completion_id
        self._model = model
        self._created = created
        self._content_parts: list[str] = []
        self._reasoning_parts: list[str] = []
        self._calls: list[dict[str, Any]] = []
        self._arguments: dict[int, list[str]] = {}
        self._finish_event: Finish | None = None

    def add(self, event: OutputEvent) -> None:
        self._apply(event)

    def build(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if self._content_parts:
            message["content"] = "".join(self._content_parts)
        if self._reasoning_parts:
            message["reasoning_content"] = "".join(self._reasoning_parts)
        if self._calls:
            for call in self._calls:
                call["function"]["arguments"] = "".join(self._arguments[call["_index"]])
            message["tool_calls"] = [
                {k: v for k, v in call.items() if k != "_index"} for call in self._calls
            ]
        finish = self._finish_event or Finish("end_turn", Usage())
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": FINISH_REASONS[finish.stop_reason],
                }
            ],
            "usage": openai_usage(finish.usage),
        }

    def _content(self, text: str) -> None:
        self._content_parts.append(text)

    def _reasoning(self, text: str) -> None:
        self._reasoning_parts.append(text)

    def _tool_start(self, index: int, call_id: str, name: str) -> None:
        self._arguments[index] = []
        self._calls.append(
            {
                "_index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
        )

    def _tool_arguments(self, index: int, fragment: str) -> None:
        self._arguments[index].append(fragment)

    def _finish(self, finish: Finish) -> None:
        self._finish_event = finish
