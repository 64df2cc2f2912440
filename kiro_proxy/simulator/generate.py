"""POST /generateAssistantResponse on the aiohttp app: the outcome decided by generate_outcome
(auth, validation, size check, script), written as a JSON error or a chunked event stream."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from kiro_proxy.simulator.generate_outcome import (
    DEFAULT_TEXT,
    EVENTSTREAM,
    Rejection,
    Stream,
    bearer_token,
    decide,
    request_id,
)
from kiro_proxy.simulator.script import Drop, Sleep
from kiro_proxy.simulator.state import SIM_STATE_KEY

# DEFAULT_TEXT is re-exported: tests compare the gateway's answer with the default reply.
__all__ = ["DEFAULT_TEXT", "EVENTSTREAM", "bearer", "handle_generate", "json_response"]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def bearer(request: web.Request) -> str:
    return bearer_token(request.headers.get("Authorization", ""))


async def handle_generate(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    outcome = decide(
        request.app[SIM_STATE_KEY],
        request.path,
        {k.lower(): v for k, v in request.headers.items()},
        raw,
    )
    if isinstance(outcome, Rejection):
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        return web.Response(
            status=outcome.status,
            body=outcome.body,
            content_type="application/json",
            headers=outcome.headers,
        )
    return await _stream_reply(request, outcome)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _stream_reply(request: web.Request, stream: Stream) -> web.StreamResponse:
    if stream.first_byte_delay:
        await asyncio.sleep(stream.first_byte_delay)
    response = web.StreamResponse(
        status=200, headers={"Content-Type": EVENTSTREAM, "x-amzn-RequestId": request_id()}
    )
    await response.prepare(request)
    try:
        for action in stream.actions:
            if isinstance(action, bytes):
                await response.write(action)
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Drop):
                _abort(request)
                return response
            else:
                # Stall: hold the connection open until the client disconnects (the handler
                # gets cancelled).
                await asyncio.sleep(3600)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return response
