"""Neutral OutputEvents → OpenAI Responses: the `response` object and its SSE event stream (pure).

One state machine serves both: it builds the output items in order (reasoning, message,
function_call, custom_tool_call) and, when streaming, the events that build the same items, so
the SDK's accumulated final response equals the non-streaming answer.

Stream order: `response.created`, `response.in_progress` (the head, see `head()`), then per item
`response.output_item.added`, its part/delta/done events and `response.output_item.done`, and last
`response.completed` (or `response.incomplete` when the reply was cut at max_output_tokens or by
the content filter). A failure after the head is `response.failed` with an error object. Every
event carries an increasing `sequence_number`.

Custom tool calls: Kiro streams a custom call's arguments as fragments of the JSON object
`{"input": "..."}`; the string is decoded as it arrives (`StringMemberDecoder`) and each decoded
piece goes out as a `response.custom_tool_call_input.delta`, so a long patch streams. At the end
of the call whatever the decoder held back (an escape cut at the end of the stream, the repair of a
truncated call) follows as one last delta: the deltas add up to the item's `input`. A model that
answered in another shape (another first key, extra keys) streams nothing until the end and then
sends the whole input as one delta; only when the first key was `input` and other keys followed
can the streamed deltas differ from the final `input` (which then keeps every key as JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from kiro_proxy.api.sse import named_event
from kiro_proxy.translate.output import (
    Finish,
    OutputEvent,
    TextDelta,
    ThinkingDelta,
    ThinkingEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from kiro_proxy.translate.responses_request import ResponsesRequest
from kiro_proxy.translate.responses_tools import CUSTOM_INPUT, ToolCatalog
from kiro_proxy.translate.tool_arguments import StringMemberDecoder
from kiro_proxy.translate.truncation import truncation_note

ItemKind = Literal["reasoning", "message", "function_call", "custom_tool_call"]

# Error codes the Responses API (and Codex) know, for our error kinds.
_ERROR_CODES = {"rate_limit_error": "rate_limit_exceeded"}


def responses_usage(usage: Usage, reasoning_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": min(reasoning_tokens, usage.output_tokens)},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


@dataclass(slots=True)
class _OpenItem:
    kind: ItemKind
    index: int
    item: dict[str, Any]
    parts: list[str]  # text, summary text, arguments or decoded custom input pieces
    custom_input: StringMemberDecoder | None = None  # a streamed custom call's input decoder


class ResponsesRenderer:
    """Feed OutputEvents with `render` (stream: SSE bytes) or `add` (no stream), then `build`."""

    def __init__(
        self,
        envelope: dict[str, Any],
        tools: ToolCatalog,
        *,
        stream: bool,
        count_tokens: Callable[[str], int],
        item_id: Callable[[str], str],
    ) -> None:
        """`envelope`: the response object's fixed fields (id, model, echoed request fields);
        `item_id(prefix)`: a new output item id (`msg`, `rs`, `fc`, `ctc`), given by the route."""
        self._envelope = envelope
        self._tools = tools
        self._stream = stream
        self._count = count_tokens
        self._item_id = item_id
        self._sequence = 0
        self._out: list[bytes] = []
        self._output: list[dict[str, Any]] = []
        self._open: _OpenItem | None = None
        self._reasoning_tokens = 0
        self._finish: Finish | None = None

    # ---------------------------------------------------------------- public
    def head(self) -> bytes:
        """`response.created` and `response.in_progress`: the first bytes of the stream."""
        snapshot = self._response("in_progress")
        self._emit("response.created", {"response": snapshot})
        self._emit("response.in_progress", {"response": snapshot})
        return self._flush()

    def render(self, event: OutputEvent) -> bytes:
        self.add(event)
        return self._flush()

    def add(self, event: OutputEvent) -> None:
        if isinstance(event, TextDelta):
            if event.text:
                self._text(event.text)
        elif isinstance(event, ThinkingDelta):
            if event.text:
                self._thinking(event.text)
        elif isinstance(event, ThinkingEnd):
            if self._open is not None and self._open.kind == "reasoning":
                self._close()
        elif isinstance(event, ToolCallStart):
            self._tool_start(event)
        elif isinstance(event, ToolCallDelta):
            self._tool_fragment(event.arguments_fragment)
        elif isinstance(event, ToolCallEnd):
            self._tool_end(event)
        elif isinstance(event, Finish):
            self._finish_reply(event)
        # RedactedThinking has no Responses form: dropped.

    def build(self) -> dict[str, Any]:
        """The final response object (what `response.completed` carries)."""
        finish = self._finish or Finish("end_turn", Usage())
        status = "completed"
        details = None
        if finish.stop_reason == "max_tokens":
            status, details = "incomplete", {"reason": "max_output_tokens"}
        elif finish.stop_reason == "content_filter":
            status, details = "incomplete", {"reason": "content_filter"}
        response = self._response(status)
        response["incomplete_details"] = details
        response["usage"] = responses_usage(finish.usage, self._reasoning_tokens)
        return response

    def error(self, kind: str, message: str) -> bytes:
        """A failure after the stream started: the open item ends, then `response.failed`."""
        self._close(status="incomplete")
        response = self._response("failed")
        response["error"] = {"code": _ERROR_CODES.get(kind, "server_error"), "message": message}
        self._emit("response.failed", {"response": response})
        return self._flush()

    # ---------------------------------------------------------------- items
    def _text(self, text: str) -> None:
        open_item = self._open
        if open_item is None or open_item.kind != "message":
            open_item = self._start("message", "msg", {"role": "assistant", "content": []})
            self._emit(
                "response.content_part.added",
                {**self._where(open_item), "content_index": 0, "part": _output_text("")},
            )
        open_item.parts.append(text)
        self._emit(
            "response.output_text.delta",
            {**self._where(open_item), "content_index": 0, "delta": text, "logprobs": []},
        )

    def _thinking(self, text: str) -> None:
        open_item = self._open
        if open_item is None or open_item.kind != "reasoning":
            open_item = self._start("reasoning", "rs", {"summary": []})
            self._emit(
                "response.reasoning_summary_part.added",
                {**self._where(open_item), "summary_index": 0, "part": _summary_text("")},
            )
        open_item.parts.append(text)
        self._emit(
            "response.reasoning_summary_text.delta",
            {**self._where(open_item), "summary_index": 0, "delta": text},
        )

    def _tool_start(self, event: ToolCallStart) -> None:
        identity = self._tools.identity(event.name)
        fields: dict[str, Any] = {"call_id": event.id, "name": identity.name}
        if identity.namespace is not None:
            fields["namespace"] = identity.namespace
        if identity.kind == "custom":
            open_item = self._start("custom_tool_call", "ctc", {**fields, "input": ""})
            if self._stream:
                open_item.custom_input = StringMemberDecoder(CUSTOM_INPUT)
        else:
            self._start("function_call", "fc", {**fields, "arguments": ""})

    def _tool_fragment(self, fragment: str) -> None:
        open_item = self._open
        if open_item is None or not fragment:
            return
        if open_item.kind == "function_call":
            open_item.parts.append(fragment)
            self._emit(
                "response.function_call_arguments.delta",
                {**self._where(open_item), "delta": fragment},
            )
        elif open_item.custom_input is not None:
            self._custom_delta(open_item, open_item.custom_input.feed(fragment))

    def _custom_delta(self, open_item: _OpenItem, text: str) -> None:
        if text:
            open_item.parts.append(text)
            self._emit(
                "response.custom_tool_call_input.delta",
                {**self._where(open_item), "delta": text},
            )

    def _tool_end(self, event: ToolCallEnd) -> None:
        open_item = self._open
        if open_item is None or open_item.kind not in ("function_call", "custom_tool_call"):
            return
        if open_item.kind == "function_call":
            self._tool_fragment(event.arguments_suffix)
        else:
            final = _custom_input(event.input)
            streamed = "".join(open_item.parts)
            if final.startswith(streamed):
                self._custom_delta(open_item, final[len(streamed) :])
            open_item.parts = [final]
        name = open_item.item["name"]
        self._close()
        if event.truncated:
            self._text(truncation_note(name))

    def _finish_reply(self, finish: Finish) -> None:
        self._finish = finish
        cut = finish.stop_reason in ("max_tokens", "content_filter")
        self._close(status="incomplete" if cut else "completed")
        response = self.build()
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        self._emit(kind, {"response": response})

    # ---------------------------------------------------------------- plumbing
    def _start(self, kind: ItemKind, prefix: str, fields: dict[str, Any]) -> _OpenItem:
        self._close()
        item: dict[str, Any] = {"id": self._item_id(prefix), "type": kind, "status": "in_progress"}
        item.update(fields)
        open_item = _OpenItem(kind, len(self._output), item, [])
        self._open = open_item
        self._emit(
            "response.output_item.added", {"output_index": open_item.index, "item": dict(item)}
        )
        return open_item

    def _close(self, status: str = "completed") -> None:
        open_item = self._open
        if open_item is None:
            return
        self._open = None
        text = "".join(open_item.parts)
        item = open_item.item
        where = self._where(open_item)
        if open_item.kind == "message":
            part = _output_text(text)
            self._emit("response.output_text.done", {**where, "content_index": 0, "text": text})
            self._emit(
                "response.content_part.done", {**where, "content_index": 0, "part": dict(part)}
            )
            item["content"] = [part]
        elif open_item.kind == "reasoning":
            part = _summary_text(text)
            self._reasoning_tokens += self._count(text)
            self._emit(
                "response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}
            )
            self._emit(
                "response.reasoning_summary_part.done",
                {**where, "summary_index": 0, "part": dict(part)},
            )
            item["summary"] = [part]
        elif open_item.kind == "function_call":
            item["arguments"] = text
            self._emit("response.function_call_arguments.done", {**where, "arguments": text})
        else:
            item["input"] = text
            self._emit("response.custom_tool_call_input.done", {**where, "input": text})
        item["status"] = status
        self._output.append(item)
        self._emit("response.output_item.done", {"output_index": open_item.index, "item": item})

    @staticmethod
    def _where(open_item: _OpenItem) -> dict[str, Any]:
        return {"item_id": open_item.item["id"], "output_index": open_item.index}

    def _response(self, status: str) -> dict[str, Any]:
        response = dict(self._envelope)
        response["status"] = status
        response["output"] = list(self._output)
        return response

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        if not self._stream:
            return
        data = {"type": kind, "sequence_number": self._sequence, **payload}
        self._sequence += 1
        self._out.append(named_event(kind, data))

    def _flush(self) -> bytes:
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _summary_text(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _custom_input(arguments: dict[str, Any]) -> str:
    """The raw text of a custom tool call; a model that answered with other keys keeps them
    visible as JSON rather than losing them."""
    value = arguments.get(CUSTOM_INPUT)
    if isinstance(value, str) and len(arguments) == 1:
        return value
    return orjson.dumps(arguments).decode() if arguments else ""


def response_envelope(
    request: ResponsesRequest, *, response_id: str, created_at: int, model: str
) -> dict[str, Any]:
    """The response object's fixed fields, echoing the request's settings.

    `store` is always false: the gateway keeps no responses."""
    reasoning = request.reasoning
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": (
            True if request.parallel_tool_calls is None else request.parallel_tool_calls
        ),
        "previous_response_id": None,
        "reasoning": {
            "effort": reasoning.effort if reasoning is not None else None,
            "summary": reasoning.summary if reasoning is not None else None,
        },
        "store": False,
        "temperature": request.temperature,
        "text": request.text or {"format": {"type": "text"}},
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "tools": request.tools or [],
        "top_p": request.top_p,
        "truncation": request.truncation or "disabled",
        "usage": None,
        "user": request.user,
        "metadata": request.metadata or {},
    }
