"""POST /generateAssistantResponse: auth, validation, size check, then a scripted event stream."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import orjson
from aiohttp import web

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
from kiro_proxy.simulator.state import LEGACY_MODEL_IDS, SIM_STATE_KEY, RecordedRequest, SimState
from kiro_proxy.simulator.validation import content_chars, validate_generate_body

EVENTSTREAM = "application/vnd.amazon.eventstream"
# The default reply, sent as two text chunks (so clients see streaming even unscripted).
DEFAULT_TEXT_CHUNKS = ("Hello! ", "This is the Kiro simulator.")
DEFAULT_TEXT = "".join(DEFAULT_TEXT_CHUNKS)
THINKING_MARKER = b"<thinking_mode>enabled</thinking_mode>"
IMPROPER = {"message": "Improperly formed request.", "reason": None}
TOO_LONG = {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
# Request ids only need to be unique; uuid4 per response is measurable at benchmark rates.
_REQUEST_IDS = itertools.count(1)
_ID_PREFIX = f"{os.getpid():08x}-5111-4000-8000-"
_DEFAULT_TEXT_FRAMES = b"".join(text_frame(part) for part in DEFAULT_TEXT_CHUNKS)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def bearer(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


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


async def handle_generate(request: web.Request) -> web.StreamResponse:
    state = request.app[SIM_STATE_KEY]
    state.generate_calls += 1
    raw = await request.read()
    record = state.record(
        RecordedRequest(
            path=request.path,
            account=None,
            body=None,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
    )

    def reject(status: int, body: Any, why: str | None = None) -> web.Response:
        record.status, record.validation_error = status, why
        return json_response(status, body)

    account = state.account_for_access_token(bearer(request))
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
        if script.delay:
            await asyncio.sleep(script.delay)
        headers = (
            {"Retry-After": f"{script.retry_after:g}"} if script.retry_after is not None else None
        )
        record.status = script.status
        return json_response(script.status, script.body or {"message": "", "reason": None}, headers)

    account.request_count += 1
    account.current_usage += state.credits_per_request
    record.status = 200
    if isinstance(script, Benchmark):
        return await _stream_benchmark(request, script)
    return await _stream_reply(request, script)


async def _start(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": EVENTSTREAM,
            "x-amzn-RequestId": f"{_ID_PREFIX}{next(_REQUEST_IDS):012x}",
        },
    )
    await response.prepare(request)
    return response


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _stream_reply(request: web.Request, reply: Reply) -> web.StreamResponse:
    if reply.first_byte_delay:
        await asyncio.sleep(reply.first_byte_delay)
    response = await _start(request)
    pending = bytearray()
    corrupt_left = 0
    try:
        for step in reply.steps:
            if isinstance(step, Sleep):
                if pending:
                    await response.write(bytes(pending))
                    pending.clear()
                await asyncio.sleep(step.seconds)
            elif isinstance(step, CorruptNext):
                corrupt_left += step.count
            elif isinstance(step, Drop):
                if pending:
                    await response.write(bytes(pending))
                    pending.clear()
                _abort(request)
                return response
            elif isinstance(step, Stall):
                if pending:
                    await response.write(bytes(pending))
                    pending.clear()
                # Hold the connection open until the client disconnects (handler gets cancelled).
                await asyncio.sleep(3600)
            else:
                for frame in step_frames(step):
                    if corrupt_left:
                        frame = corrupt(frame)
                        corrupt_left -= 1
                    pending += frame
        if pending:
            await response.write(bytes(pending))
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return response


async def _stream_benchmark(request: web.Request, bench: Benchmark) -> web.StreamResponse:
    response = await _start(request)
    frame = text_frame("x" * bench.size)
    tail = b"".join(
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
    try:
        if bench.delay <= 0:
            # Batch writes: the simulator must never be the bottleneck of a benchmark.
            batch = max(1, 65536 // len(frame))
            left = bench.chunks
            while left > 0:
                count = min(batch, left)
                await response.write(frame * count)
                left -= count
        else:
            for _ in range(bench.chunks):
                await response.write(frame)
                await asyncio.sleep(bench.delay)
        await response.write(tail)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return response
