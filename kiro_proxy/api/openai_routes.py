"""OpenAI Chat Completions API: /v1/chat/completions."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.api import relay
from kiro_proxy.api.auth import authenticate
from kiro_proxy.api.body import read_body
from kiro_proxy.api.images import resolve_remote_images
from kiro_proxy.api.json_response import json_response
from kiro_proxy.api.services import Services
from kiro_proxy.api.sse import comment
from kiro_proxy.api.streaming import SSEResponse
from kiro_proxy.ids import random_hex_id
from kiro_proxy.translate.openai_request import openai_to_conversation, parse_openai_request
from kiro_proxy.translate.openai_response import OpenAICompletionBuilder, OpenAIStreamRenderer

router = APIRouter()

# An SSE comment: ignored by every OpenAI SSE parser, keeps idle proxies from closing the stream.
KEEPALIVE = comment("keep-alive")
KEEPALIVE_INTERVAL = 25.0


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def chat_completions(request: Request) -> Response | SSEResponse:
    services = _services(request)
    api_key_id = await authenticate(request, services)
    body = await read_body(request, services.settings.max_body_bytes)
    parsed = parse_openai_request(body)
    conv = openai_to_conversation(parsed)
    conv = await resolve_remote_images(conv, services.settings)
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    stream = bool(parsed.stream)
    prepared = relay.prepare(
        services,
        conv,
        model_name=parsed.model,
        route="/v1/chat/completions",
        stream=stream,
        api_key_id=api_key_id,
        request_id=request_id,
    )
    thinking_format = services.settings.openai_thinking_format
    completion_id = "chatcmpl-" + random_hex_id()[:24]
    created = int(time.time())
    reply = await relay.open_upstream(services, prepared)
    assembler = relay.new_assembler(prepared)

    if not stream:
        builder = OpenAICompletionBuilder(
            completion_id=completion_id,
            model=parsed.model,
            created=created,
            thinking_format=thinking_format,
        )
        await relay.collect(reply, assembler, builder.add)
        return json_response(builder.build())

    include_usage = parsed.include_usage
    renderer = OpenAIStreamRenderer(
        completion_id=completion_id,
        model=parsed.model,
        created=created,
        thinking_format=thinking_format,
        include_usage=include_usage,
    )
    live = relay.stream_events(
        reply, assembler, renderer, on_error=renderer.error, trailer=renderer.done
    )
    return SSEResponse(live, ping=KEEPALIVE, ping_interval=KEEPALIVE_INTERVAL)


router.add_api_route(
    "/v1/chat/completions", chat_completions, methods=["POST"], response_model=None
)
router.add_api_route(
    "/chat/completions",
    chat_completions,
    methods=["POST"],
    include_in_schema=False,
    response_model=None,
)
