"""Anthropic Messages API: /v1/messages, count_tokens, and the buffered /cc/v1/messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.api import relay
from kiro_proxy.api.auth import authenticate
from kiro_proxy.api.body import read_body
from kiro_proxy.api.images import resolve_remote_images
from kiro_proxy.api.json_response import json_response
from kiro_proxy.api.services import Services
from kiro_proxy.api.streaming import SSEResponse
from kiro_proxy.errors import ProxyError
from kiro_proxy.ids import random_hex_id
from kiro_proxy.pool.dispatcher import UpstreamReply
from kiro_proxy.translate.anthropic_request import (
    AnthropicRequest,
    anthropic_to_conversation,
    parse_anthropic_request,
)
from kiro_proxy.translate.anthropic_response import AnthropicMessageBuilder, AnthropicStreamRenderer
from kiro_proxy.translate.assembler import ReplyAssembler
from kiro_proxy.translate.output import OutputEvent
from kiro_proxy.translate.request_parsing import load_json_object, validate_model
from kiro_proxy.translate.tokens import count_tokens

router = APIRouter()

CC_PING_INTERVAL = 25.0
STREAM_PING_INTERVAL = 25.0

_MESSAGES_PATHS = ("/v1/messages", "/messages", "/anthropic/v1/messages", "/v1/v1/messages")
_COUNT_PATHS = (
    "/v1/messages/count_tokens",
    "/messages/count_tokens",
    "/anthropic/v1/messages/count_tokens",
    "/v1/v1/messages/count_tokens",
)


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def _messages(request: Request, *, buffered: bool) -> Response | SSEResponse:
    services = _services(request)
    api_key_id = await authenticate(request, services)
    body = await read_body(request, services.settings.max_body_bytes)
    parsed = parse_anthropic_request(body)
    conv = anthropic_to_conversation(parsed)
    conv = await resolve_remote_images(conv, services.settings)
    # A client that asked for thinking in the request speaks Anthropic's native blocks.
    native_requested = conv.thinking.enabled
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    prepared = relay.prepare(
        services,
        conv,
        model_name=parsed.model,
        route="/cc/v1/messages" if buffered else "/v1/messages",
        stream=bool(parsed.stream),
        api_key_id=api_key_id,
        request_id=request_id,
    )
    thinking_format = "native" if native_requested else services.settings.claude_thinking_format
    message_id = "msg_" + random_hex_id()[:24]
    reply = await relay.open_upstream(services, prepared)
    assembler = relay.new_assembler(prepared)

    if not parsed.stream:
        builder = AnthropicMessageBuilder(
            message_id=message_id, model=parsed.model, thinking_format=thinking_format
        )
        await relay.collect(reply, assembler, builder.add)
        return json_response(builder.build())

    renderer = AnthropicStreamRenderer(
        message_id=message_id,
        model=parsed.model,
        thinking_format=thinking_format,
        input_tokens=prepared.estimated_input_tokens,
    )
    if buffered:
        return SSEResponse(
            _buffered_stream(reply, assembler, renderer),
            ping=AnthropicStreamRenderer.ping(),
            ping_interval=CC_PING_INTERVAL,
        )
    live = relay.stream_events(
        reply, assembler, renderer, on_error=renderer.error, head=renderer.message_start()
    )
    return SSEResponse(
        live, ping=AnthropicStreamRenderer.ping(), ping_interval=STREAM_PING_INTERVAL
    )


async def _buffered_stream(
    reply: UpstreamReply, assembler: ReplyAssembler, renderer: AnthropicStreamRenderer
) -> AsyncIterator[bytes]:
    """Claude Code sizes its context from message_start's input_tokens, so /cc waits for the
    whole reply (pings keep the connection alive) and then sends it with the real figure."""
    events: list[OutputEvent] = []
    try:
        finish = await relay.collect(reply, assembler, events.append)
    except ProxyError as error:
        yield renderer.message_start()
        yield renderer.error(error.kind, error.message)
        return
    yield renderer.message_start(input_tokens=finish.usage.input_tokens)
    yield b"".join(renderer.render(event) for event in events)


async def _count_tokens(request: Request) -> Response:
    services = _services(request)
    await authenticate(request, services)
    body = await read_body(request, services.settings.max_body_bytes)
    data = load_json_object(body)
    data.setdefault("max_tokens", 1)  # count_tokens requests carry no max_tokens
    conv = anthropic_to_conversation(validate_model(AnthropicRequest, data))
    return json_response({"input_tokens": count_tokens(conv)})


async def messages(request: Request) -> Response | SSEResponse:
    return await _messages(request, buffered=False)


async def cc_messages(request: Request) -> Response | SSEResponse:
    return await _messages(request, buffered=True)


for _path in _MESSAGES_PATHS:
    router.add_api_route(
        _path,
        messages,
        methods=["POST"],
        include_in_schema=_path == "/v1/messages",
        response_model=None,
    )
for _path in _COUNT_PATHS:
    router.add_api_route(
        _path,
        _count_tokens,
        methods=["POST"],
        include_in_schema=_path == "/v1/messages/count_tokens",
        response_model=None,
    )
router.add_api_route("/cc/v1/messages", cc_messages, methods=["POST"], response_model=None)
router.add_api_route(
    "/cc/v1/messages/count_tokens", _count_tokens, methods=["POST"], response_model=None
)
