"""Typed Kiro stream events, built from decoded event-stream frames.

Pure: no I/O. `event_from_parts` (and `event_from_frame` around it) is the single place that knows Kiro's event names and payload
shapes (protocol doc §3.2); everything downstream works with these dataclasses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kiro_proxy.kiro.eventstream import Frame, HeaderBlock

# The per-chunk events (text, reasoning, tool fragments) are plain slotted dataclasses, the rest
# frozen: a frozen dataclass's __init__ goes through object.__setattr__ per field, ~1,100 more
# instructions per object (callgrind), paid on every streamed chunk. Nothing changes an event.


@dataclass(slots=True)
class TextEvent:
    """A chunk of assistant text (`assistantResponseEvent`)."""

    text: str


@dataclass(slots=True)
class ReasoningTextEvent:
    """A chunk of native reasoning (`reasoningContentEvent` with `text`)."""

    text: str


@dataclass(slots=True, frozen=True)
class ReasoningSignatureEvent:
    """The signature that closes a native reasoning block."""

    signature: str


@dataclass(slots=True, frozen=True)
class RedactedReasoningEvent:
    """Redacted reasoning content (opaque base64 string)."""

    data: str


@dataclass(slots=True)
class ToolUseEvent:
    """One fragment of a tool call (`toolUseEvent`).

    `name` may be missing on continuation frames; `input` is a string fragment of the JSON
    arguments (an object sent by some streams is re-serialised to a string); `stop` marks the end.
    """

    tool_use_id: str
    name: str | None
    input: str
    stop: bool


@dataclass(slots=True, frozen=True)
class MeteringEvent:
    """Credits charged for the request (`meteringEvent`)."""

    usage: float
    unit: str = "credit"


@dataclass(slots=True, frozen=True)
class ContextUsageEvent:
    """Share of the model's context window the request used, in percent."""

    percentage: float


@dataclass(slots=True, frozen=True)
class MetadataEvent:
    """Token usage and stop reason (`metadataEvent` / `messageMetadataEvent`)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    stop_reason: str | None = None
    context_usage_percentage: float | None = None


@dataclass(slots=True, frozen=True)
class ExceptionEvent:
    """An `:message-type: exception` frame: the upstream failed mid-stream."""

    exception_type: str
    message: str


@dataclass(slots=True, frozen=True)
class ErrorEvent:
    """An `:message-type: error` frame."""

    code: str
    message: str


@dataclass(slots=True, frozen=True)
class UnknownEvent:
    """An event type we do not interpret (kept for logging and forward compatibility)."""

    event_type: str
    payload: bytes


KiroEvent = (
    TextEvent
    | ReasoningTextEvent
    | ReasoningSignatureEvent
    | RedactedReasoningEvent
    | ToolUseEvent
    | MeteringEvent
    | ContextUsageEvent
    | MetadataEvent
    | ExceptionEvent
    | ErrorEvent
    | UnknownEvent
)

# Events that carry nothing a client needs (protocol doc §3.2: ignore).
_IGNORED_EVENT_TYPES = frozenset(
    {"codeReferenceEvent", "supplementaryWebLinksEvent", "followupPromptEvent", "metricsEvent"}
)


def _json(payload: bytes) -> dict[str, Any] | None:
    if not payload:
        return None
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _message_of(block: HeaderBlock, payload: bytes) -> str:
    body = _json(payload)
    if body is not None:
        for key in ("message", "Message", "errorMessage"):
            if isinstance(body.get(key), str):
                return body[key]
    if not payload:
        # Error frames may carry their text only in the `:error-message` header.
        header = block.headers.get(":error-message")
        return header if isinstance(header, str) else ""
    return payload.decode("utf-8", "replace")


def _number(value: Any) -> float | None:
    """A finite JSON number (bools are ints in Python, but not numbers in JSON)."""
    kind = type(value)  # exact types first: several numbers per reply pass here
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if kind is bool or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _int_or_none(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _metadata_event(body: dict[str, Any]) -> MetadataEvent:
    usage = body.get("tokenUsage")
    usage = usage if isinstance(usage, dict) else {}
    uncached = _int_or_none(usage.get("uncachedInputTokens"))
    cache_read = _int_or_none(usage.get("cacheReadInputTokens"))
    cache_write = _int_or_none(usage.get("cacheWriteInputTokens"))
    # The buckets are disjoint: total input is their sum (protocol doc §3.2).
    parts = [p for p in (uncached, cache_read, cache_write) if p is not None]
    stop = body.get("stopReason")
    return MetadataEvent(
        input_tokens=sum(parts) if parts else None,
        output_tokens=_int_or_none(usage.get("outputTokens")),
        cache_read_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
        stop_reason=stop if isinstance(stop, str) else None,
        context_usage_percentage=_number(usage.get("contextUsagePercentage")),
    )


def _reasoning_event(body: dict[str, Any]) -> KiroEvent | None:
    if isinstance(body.get("text"), str) and body["text"]:
        return ReasoningTextEvent(body["text"])
    if isinstance(body.get("signature"), str) and body["signature"]:
        return ReasoningSignatureEvent(body["signature"])
    if isinstance(body.get("redactedContent"), str):
        return RedactedReasoningEvent(body["redactedContent"])
    return None


def _tool_use_event(body: dict[str, Any]) -> ToolUseEvent:
    raw_input = body.get("input", "")
    if isinstance(raw_input, str):
        fragment = raw_input
    elif raw_input is None or raw_input == {}:
        # `{}` means "fragments follow" in some streams, not an empty-argument object.
        fragment = ""
    else:
        fragment = orjson.dumps(raw_input).decode()
    name = body.get("name")
    return ToolUseEvent(
        tool_use_id=str(body.get("toolUseId") or ""),
        name=name if isinstance(name, str) and name else None,
        input=fragment,
        stop=body.get("stop") is True,
    )


def _metering_event(body: dict[str, Any]) -> MeteringEvent | None:
    usage = _number(body.get("usage"))
    unit = body.get("unit")
    if usage is not None:
        return MeteringEvent(usage, unit if isinstance(unit, str) else "credit")
    return None


def _context_usage_event(body: dict[str, Any]) -> ContextUsageEvent | None:
    pct = _number(body.get("contextUsagePercentage"))
    return ContextUsageEvent(pct) if pct is not None else None


# Event types with a JSON object payload → their interpretation (`assistantResponseEvent`, the
# hot one, and `invalidStateEvent`, which needs the whole frame, are handled where this is used).
_INTERPRETERS: dict[str, Callable[[dict[str, Any]], KiroEvent | None]] = {
    "reasoningContentEvent": _reasoning_event,
    "toolUseEvent": _tool_use_event,
    "meteringEvent": _metering_event,
    "contextUsageEvent": _context_usage_event,
    "metadataEvent": _metadata_event,
    "messageMetadataEvent": _metadata_event,
}


def event_from_frame(frame: Frame) -> KiroEvent | None:
    """Interpret one frame. Returns None for frames that carry nothing to act on."""
    return event_from_parts(frame.block, frame.payload)


_FAILURE_MESSAGE_TYPES = frozenset({"exception", "error"})


def event_from_parts(block: HeaderBlock, payload: bytes) -> KiroEvent | None:
    """Interpret one frame given as its header block and payload (what
    `EventStreamDecoder.feed_as` hands over, no Frame made). None: nothing to act on.

    Hot path (once per Kiro event): a text event is recognised by two comparisons on the
    shared header block and handled inline; the other event types go through a dict.
    """
    event_type = block.event_type
    message_type = block.message_type
    if event_type == "assistantResponseEvent" and message_type not in _FAILURE_MESSAGE_TYPES:
        try:
            body = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return UnknownEvent(event_type, payload)
        # Events carrying a follow-up prompt repeat earlier content (peers skip them).
        if "followupPrompt" in body:
            return None
        content = body.get("content")
        return TextEvent(content) if isinstance(content, str) and content else None
    return _other_event(block, payload)


def _other_event(block: HeaderBlock, payload: bytes) -> KiroEvent | None:
    message_type = block.message_type
    if message_type == "exception":
        return ExceptionEvent(
            block.exception_type or "UnknownException", _message_of(block, payload)
        )
    if message_type == "error":
        return ErrorEvent(block.error_code or "UnknownError", _message_of(block, payload))

    event_type = block.event_type or ""
    if event_type in _IGNORED_EVENT_TYPES:
        return None
    body = _json(payload)
    if body is None:
        return UnknownEvent(event_type, payload) if event_type else None
    interpret = _INTERPRETERS.get(event_type)
    if interpret is not None:
        return interpret(body)
    if event_type == "invalidStateEvent":
        return ErrorEvent("InvalidState", _message_of(block, payload))
    return UnknownEvent(event_type, payload)
