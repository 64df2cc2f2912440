"""Scripted simulator replies: steps that become event-stream frames, faults, benchmark streams.

A test queues a `Reply` (list of steps), an `HttpFault` (non-200 before any stream) or a
`Benchmark` (N chunks of S chars). `to_json`/`from_json` give the same objects over /_sim HTTP.
Frames are encoded with the project's own codec, so the simulator and the client share one wire
format definition; static frames are encoded once and cached.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

import orjson

from kiro_proxy.kiro.eventstream import encode_error, encode_event, encode_exception


# --- stream steps -------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Text:
    text: str
    kind = "text"


@dataclass(slots=True, frozen=True)
class Reasoning:
    text: str
    kind = "reasoning"


@dataclass(slots=True, frozen=True)
class ReasoningSignature:
    signature: str
    kind = "reasoning_signature"


@dataclass(slots=True, frozen=True)
class ToolUse:
    """One tool call: the JSON input is split into `fragments` pieces, then a stop frame."""

    tool_use_id: str
    name: str
    input: dict[str, Any] | str = field(default_factory=dict)
    fragments: int = 1
    kind = "tool_use"


@dataclass(slots=True, frozen=True)
class Metering:
    usage: float
    kind = "metering"


@dataclass(slots=True, frozen=True)
class ContextUsage:
    percentage: float
    kind = "context_usage"


@dataclass(slots=True, frozen=True)
class Metadata:
    uncached_input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    stop_reason: str | None = "END_TURN"
    kind = "metadata"


@dataclass(slots=True, frozen=True)
class ExceptionFrame:
    exception_type: str
    message: str
    kind = "exception"


@dataclass(slots=True, frozen=True)
class ErrorFrame:
    code: str
    message: str
    kind = "error"


@dataclass(slots=True, frozen=True)
class Sleep:
    seconds: float
    kind = "sleep"


@dataclass(slots=True, frozen=True)
class Drop:
    """Close the socket abruptly (no chunked terminator): a cut connection."""

    kind = "drop"


@dataclass(slots=True, frozen=True)
class Stall:
    """Stop sending but keep the connection open until the client gives up."""

    kind = "stall"


@dataclass(slots=True, frozen=True)
class CorruptNext:
    """Flip the message CRC of the next `count` frames."""

    count: int = 1
    kind = "corrupt_next"


@dataclass(slots=True, frozen=True)
class Raw:
    data: bytes
    kind = "raw"


Step = (
    Text
    | Reasoning
    | ReasoningSignature
    | ToolUse
    | Metering
    | ContextUsage
    | Metadata
    | ExceptionFrame
    | ErrorFrame
    | Sleep
    | Drop
    | Stall
    | CorruptNext
    | Raw
)
_STEP_TYPES: dict[str, type] = {
    cls.kind: cls  # type: ignore[attr-defined]
    for cls in (
        Text,
        Reasoning,
        ReasoningSignature,
        ToolUse,
        Metering,
        ContextUsage,
        Metadata,
        ExceptionFrame,
        ErrorFrame,
        Sleep,
        Drop,
        Stall,
        CorruptNext,
        Raw,
    )
}


# --- scripted outcomes --------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Reply:
    """A 200 event stream. `first_byte_delay` holds back the response headers."""

    steps: tuple[Step, ...]
    first_byte_delay: float = 0.0
    kind = "reply"

    def __init__(self, steps: list[Step] | tuple[Step, ...], first_byte_delay: float = 0.0):
        object.__setattr__(self, "steps", tuple(steps))
        object.__setattr__(self, "first_byte_delay", first_byte_delay)


@dataclass(slots=True, frozen=True)
class HttpFault:
    """A non-200 answer before any stream (optionally after `delay` seconds)."""

    status: int
    body: dict[str, Any] | None = None
    retry_after: float | None = None
    delay: float = 0.0
    kind = "fault"


@dataclass(slots=True, frozen=True)
class Benchmark:
    """A long stream of `chunks` text chunks of `size` chars, with optional per-chunk delay."""

    chunks: int = 100
    size: int = 16
    delay: float = 0.0
    kind = "benchmark"


Scripted = Reply | HttpFault | Benchmark


@dataclass(slots=True, frozen=True)
class Disconnect:
    """Close the connection without an answer (after `delay` seconds): a dropped request.

    A refresh fault only (see `RefreshFault`); a generate stream is cut with the `Drop` step.
    """

    delay: float = 0.0
    kind = "disconnect"


# What a token refresh (social /refreshToken, OIDC /token with grantType refresh_token) can be
# scripted to meet instead of its normal answer: an HTTP error (5xx) or a dropped connection.
RefreshFault = HttpFault | Disconnect


# --- canned faults (protocol doc §4.1) ----------------------------------------------------------
def bad_request(
    message: str = "Improperly formed request.", reason: str | None = None
) -> HttpFault:
    return HttpFault(400, {"message": message, "reason": reason})


def input_too_long() -> HttpFault:
    return HttpFault(
        400, {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
    )


def quota_exhausted() -> HttpFault:
    return HttpFault(
        402, {"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"}
    )


INVALID_TOKEN_BODY = {
    "message": "The bearer token included in the request is invalid.",
    "reason": None,
}
SUSPENDED_BODY = {
    "message": "Your User ID temporarily is suspended due to a violation of our terms of service.",
    "reason": None,
}


def invalid_token() -> HttpFault:
    return HttpFault(403, dict(INVALID_TOKEN_BODY))


def suspended() -> HttpFault:
    return HttpFault(403, dict(SUSPENDED_BODY))


def throttled(retry_after: float | None = None) -> HttpFault:
    return HttpFault(
        429,
        {"message": "Too many requests, please wait before trying again.", "reason": None},
        retry_after=retry_after,
    )


def server_error(status: int = 500) -> HttpFault:
    text = "Service unavailable." if status == 503 else "Internal server error."
    return HttpFault(status, {"message": text, "reason": None})


def refresh_unavailable(status: int = 503) -> HttpFault:
    """A refresh endpoint's outage answer (the body is an OAuth-style error, as they send)."""
    return HttpFault(
        status, {"error": "server_error", "error_description": "Service is unavailable."}
    )


def slow_first_byte(seconds: float, reply: Reply | None = None) -> Reply:
    return Reply(reply.steps if reply else (Text("slow hello"),), first_byte_delay=seconds)


def stalled(after: list[Step] | None = None) -> Reply:
    return Reply([*(after or []), Stall()])


def simple_text_reply(*chunks: str, output_tokens: int = 10, input_tokens: int = 20) -> Reply:
    return Reply(
        [
            *(Text(chunk) for chunk in chunks),
            Metering(0.02),
            ContextUsage(1.0),
            Metadata(uncached_input_tokens=input_tokens, output_tokens=output_tokens),
        ]
    )


# --- frame encoding -----------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def text_frame(text: str) -> bytes:
    return encode_event("assistantResponseEvent", {"content": text})


def split_fragments(data: str, count: int) -> list[str]:
    count = max(1, min(count, len(data) or 1))
    size, extra = divmod(len(data), count)
    out, pos = [], 0
    for index in range(count):
        step = size + (1 if index < extra else 0)
        out.append(data[pos : pos + step])
        pos += step
    return out


def step_frames(step: Step) -> tuple[bytes, ...]:
    """Frames for a data step (control steps — sleep, drop, stall, corrupt — give none).

    Cached for hashable steps: benchmarks repeat the same usage frames on every request.
    """
    try:
        return _cached_step_frames(step)
    except TypeError:  # unhashable (a ToolUse with a dict input)
        return tuple(_step_frames(step))


@lru_cache(maxsize=4096)
def _cached_step_frames(step: Step) -> tuple[bytes, ...]:
    return tuple(_step_frames(step))


def _step_frames(step: Step) -> list[bytes]:
    if isinstance(step, Text):
        return [text_frame(step.text)]
    if isinstance(step, Reasoning):
        return [encode_event("reasoningContentEvent", {"text": step.text})]
    if isinstance(step, ReasoningSignature):
        return [encode_event("reasoningContentEvent", {"signature": step.signature})]
    if isinstance(step, ToolUse):
        data = step.input if isinstance(step.input, str) else orjson.dumps(step.input).decode()
        frames = [
            encode_event(
                "toolUseEvent", {"name": step.name, "toolUseId": step.tool_use_id, "input": piece}
            )
            for piece in split_fragments(data, step.fragments)
        ]
        frames.append(
            encode_event(
                "toolUseEvent", {"name": step.name, "toolUseId": step.tool_use_id, "stop": True}
            )
        )
        return frames
    if isinstance(step, Metering):
        return [
            encode_event(
                "meteringEvent", {"unit": "credit", "unitPlural": "credits", "usage": step.usage}
            )
        ]
    if isinstance(step, ContextUsage):
        return [encode_event("contextUsageEvent", {"contextUsagePercentage": step.percentage})]
    if isinstance(step, Metadata):
        inputs = (
            step.uncached_input_tokens
            + step.cache_read_input_tokens
            + step.cache_write_input_tokens
        )
        body: dict[str, Any] = {
            "tokenUsage": {
                "uncachedInputTokens": step.uncached_input_tokens,
                "outputTokens": step.output_tokens,
                "totalTokens": inputs + step.output_tokens,
                "cacheReadInputTokens": step.cache_read_input_tokens,
                "cacheWriteInputTokens": step.cache_write_input_tokens,
            }
        }
        if step.stop_reason:
            body["stopReason"] = step.stop_reason
        return [encode_event("metadataEvent", body)]
    if isinstance(step, ExceptionFrame):
        return [encode_exception(step.exception_type, step.message)]
    if isinstance(step, ErrorFrame):
        return [encode_error(step.code, step.message)]
    if isinstance(step, Raw):
        return [step.data]
    return []


def corrupt(frame: bytes) -> bytes:
    """Same frame with its trailing message CRC flipped (the prelude stays valid)."""
    return frame[:-4] + bytes(b ^ 0xFF for b in frame[-4:])


# --- JSON form for /_sim control routes ---------------------------------------------------------
def step_to_json(step: Step) -> dict[str, Any]:
    data = {f.name: getattr(step, f.name) for f in fields(step)}  # type: ignore[arg-type]
    if isinstance(step, Raw):
        data["data"] = base64.b64encode(step.data).decode()
    return {"kind": step.kind, **data}


def step_from_json(data: dict[str, Any]) -> Step:
    values = dict(data)
    kind = values.pop("kind", None)
    cls = _STEP_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown step kind {kind!r}; known: {sorted(_STEP_TYPES)}")
    if cls is Raw:
        values["data"] = base64.b64decode(values.get("data", ""))
    return cls(**values)  # type: ignore[no-any-return]


def scripted_to_json(item: Scripted) -> dict[str, Any]:
    if isinstance(item, Reply):
        return {
            "kind": "reply",
            "steps": [step_to_json(s) for s in item.steps],
            "first_byte_delay": item.first_byte_delay,
        }
    return {"kind": item.kind, **asdict(item)}


def scripted_from_json(data: dict[str, Any]) -> Scripted:
    values = dict(data)
    kind = values.pop("kind", "reply")
    if kind == "reply":
        return Reply(
            [step_from_json(s) for s in values.get("steps", [])],
            first_byte_delay=float(values.get("first_byte_delay", 0.0)),
        )
    if kind == "fault":
        return HttpFault(**values)
    if kind == "benchmark":
        return Benchmark(**values)
    raise ValueError(f"unknown script kind {kind!r}; use reply, fault or benchmark")


def refresh_fault_to_json(item: RefreshFault) -> dict[str, Any]:
    return {"kind": item.kind, **asdict(item)}


def refresh_fault_from_json(data: dict[str, Any]) -> RefreshFault:
    values = dict(data)
    kind = values.pop("kind", None)
    if kind == "fault":
        return HttpFault(**values)
    if kind == "disconnect":
        return Disconnect(**values)
    raise ValueError(f"unknown refresh fault kind {kind!r}; use fault or disconnect")
