"""What a generateAssistantResponse call gets, decided apart from any HTTP server.

`decide(state, path, headers, body)` checks the bearer token, the account, the JSON body, its
size and the quota, picks the scripted reply and does the bookkeeping (request log, counters,
usage). It returns a `Rejection` (a JSON error, maybe after a delay) or a `Stream` (a 200 event
stream, as a list of writes and pauses). Two servers write the outcome: the aiohttp app
(generate.py) and the lean HTTP/1.1 server of the benchmark (lean_generate.py).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from kiro_proxy.simulator.script import (
    INVALID_TOKEN_BODY,
    SUSPENDED_BODY,
    Benchmark,
    ContextUsage,
    CorruptNext,
    Drop,
    HttpFault,
    Metadata,
    Metering,
    Raw,
    Reply,
    Scripted,
    Sleep,
    Stall,
    Step,
    Text,
    corrupt,
    quota_exhausted,
    step_frames,
    text_frame,
)
from kiro_proxy.simulator.state import LEGACY_MODEL_IDS, RecordedRequest, SimState
from kiro_proxy.simulator.validation import content_chars, validate_generate_body

EVENTSTREAM = "application/vnd.amazon.eventstream"
# The default reply, sent as two text chunks (so clients see streaming even unscripted).
DEFAULT_TEXT_CHUNKS = ("Hello! ", "This is the Kiro simulator.")
DEFAULT_TEXT = "".join(DEFAULT_TEXT_CHUNKS)
THINKING_MARKER = b"<thinking_mode>enabled</thinking_mode>"
IMPROPER = {"message": "Improperly formed request.", "reason": None}
TOO_LONG = {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
EMPTY_FAULT = {"message": "", "reason": None}
# Request ids only need to be unique; uuid4 per response is measurable at benchmark rates.
_REQUEST_IDS = itertools.count(1)
_ID_PREFIX = f"{os.getpid():08x}-5111-4000-8000-"
_DEFAULT_TEXT_FRAMES = b"".join(text_frame(part) for part in DEFAULT_TEXT_CHUNKS)
# Largest write of a delay-free Benchmark stream (the aiohttp writer's batch size too).
BENCHMARK_BATCH_BYTES = 65536

# A stream is written as bytes (event-stream frames) and the script's control steps.
Action = bytes | Sleep | Drop | Stall


@dataclass(slots=True, frozen=True)
class Rejection:
    """A JSON error answer (`body` is the JSON bytes), written after `delay` seconds."""

    status: int
    body: bytes
    headers: dict[str, str] | None = None
    delay: float = 0.0


@dataclass(slots=True, frozen=True)
class Stream:
    """A 200 event stream: `actions` in order, after `first_byte_delay` seconds (headers
    included). `body` is the whole body when nothing in it takes time (no delay, sleep, drop
    or stall): a server may then send it at once, with a Content-Length."""

    actions: Iterable[Action]
    first_byte_delay: float = 0.0
    body: bytes | None = None


Outcome = Rejection | Stream


def request_id() -> str:
    """A fresh x-amzn-RequestId value."""
    return f"{_ID_PREFIX}{next(_REQUEST_IDS):012x}"


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` value ("" for anything else)."""
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""


def default_reply(raw_body: bytes) -> Reply:
    """Short text plus usage events, with plausible counts derived from the request size."""
    input_tokens = max(1, len(raw_body) // 4)
    steps: list[Step] = []
    if THINKING_MARKER in raw_body:
        steps.append(Text("<thinking>The user greeted me; I should answer briefly.</thinking>\n\n"))
    steps += [
        Raw(_DEFAULT_TEXT_FRAMES),
        Metering(0.01 + input_tokens / 100000),
        ContextUsage(round(min(100.0, input_tokens / 2000), 4)),
        Metadata(uncached_input_tokens=input_tokens, output_tokens=9, stop_reason="END_TURN"),
    ]
    return Reply(steps)


def _known_models(state: SimState) -> set[str]:
    return {m["modelId"] for m in state.models} | LEGACY_MODEL_IDS


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Rejection:
    return Rejection(status, orjson.dumps(body), headers)


def decide(state: SimState, path: str, headers: dict[str, str], raw: bytes) -> Outcome:
    """The answer to one generate call; `headers` has lower-cased names (it is recorded)."""
    state.generate_calls += 1
    record = state.record(RecordedRequest(path=path, account=None, body=None, headers=headers))

    def reject(status: int, body: Any, why: str | None = None) -> Rejection:
        record.status, record.validation_error = status, why
        return _json(status, body)

    account = state.account_for_access_token(bearer_token(headers.get("authorization", "")))
    if account is None:
        return reject(403, INVALID_TOKEN_BODY, "bearer token unknown or expired")
    record.account = account.email
    if account.suspended:
        return reject(403, SUSPENDED_BODY, "account suspended")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return reject(400, IMPROPER, "body is not JSON")
    record.body = body if state.record_bodies else None
    why = validate_generate_body(body, _known_models(state))
    if why is not None:
        return reject(400, IMPROPER, why)
    if content_chars(body) > state.max_input_chars:
        return reject(400, TOO_LONG, f"content longer than {state.max_input_chars} chars")
    if state.enforce_quota and account.current_usage >= account.usage_limit:
        fault = quota_exhausted()
        return reject(fault.status, fault.body, "usage limit reached")

    script: Scripted = (
        state.next_script(account)
        or (state.responder(body) if state.responder is not None else None)
        or default_reply(raw)
    )
    if isinstance(script, HttpFault):
        retry = (
            {"Retry-After": f"{script.retry_after:g}"} if script.retry_after is not None else None
        )
        record.status = script.status
        return Rejection(
            script.status, orjson.dumps(script.body or EMPTY_FAULT), retry, script.delay
        )

    account.request_count += 1
    account.current_usage += state.credits_per_request
    record.status = 200
    if isinstance(script, Benchmark):
        return Stream(benchmark_actions(script))
    actions = reply_actions(script)
    if script.first_byte_delay or not all(type(a) is bytes for a in actions):
        return Stream(actions, script.first_byte_delay)
    return Stream(actions, body=actions[0] if actions else b"")


def reply_actions(reply: Reply) -> list[Action]:
    """The reply's steps as writes and pauses: the data frames between two control steps are
    joined into one write (CorruptNext applied); a Sleep, Drop or Stall is kept as it is."""
    actions: list[Action] = []
    frames: list[bytes] = []
    corrupt_left = 0
    for step in reply.steps:
        if isinstance(step, Sleep | Drop | Stall):
            if frames:
                actions.append(frames[0] if len(frames) == 1 else b"".join(frames))
                frames = []
            actions.append(step)
        elif isinstance(step, CorruptNext):
            corrupt_left += step.count
        else:
            for frame in step_frames(step):
                if corrupt_left:
                    frame = corrupt(frame)
                    corrupt_left -= 1
                frames.append(frame)
    if frames:
        actions.append(frames[0] if len(frames) == 1 else b"".join(frames))
    return actions


def benchmark_actions(bench: Benchmark) -> Iterator[Action]:
    """`chunks` text frames of `size` chars (batched when there is no delay), then usage."""
    frame = text_frame("x" * bench.size)
    if bench.delay <= 0:
        # Batch writes: the simulator must never be the bottleneck of a benchmark.
        batch = max(1, BENCHMARK_BATCH_BYTES // len(frame))
        left = bench.chunks
        while left > 0:
            count = min(batch, left)
            yield frame * count
            left -= count
    else:
        for _ in range(bench.chunks):
            yield frame
            yield Sleep(bench.delay)
    yield b"".join(
        f
        for step in (
            Metering(0.05),
            ContextUsage(1.0),
            Metadata(
                uncached_input_tokens=100, output_tokens=max(1, bench.chunks * bench.size // 4)
            ),
        )
        for f in step_frames(step)
    )
