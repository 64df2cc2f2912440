"""OpenAI Responses API: /v1/responses (what the Codex CLI speaks, `wire_api = "responses"`)."""

from __future__ import annotations

import logging
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
from kiro_proxy.translate.responses_request import (
    parse_responses_request,
    responses_to_conversation,
)
from kiro_proxy.translate.responses_response import ResponsesRenderer, response_envelope
from kiro_proxy.translate.tokens import count_text_tokens

log = logging.getLogger("kiro_proxy.responses")

router = APIRouter()

ROUTE = "/v1/responses"
# An SSE comment: ignored by every SSE parser, keeps idle proxies from closing the stream.
KEEPALIVE = comment("keep-alive")
KEEPALIVE_INTERVAL = 25.0


def new_item_id(prefix: str) -> str:
    """An output item id: `msg_…`, `rs_…`, `fc_…`, `ctc_…`."""
    return f"{prefix}_{random_hex_id()}"


async def create_response(request: Request) -> Response | SSEResponse:
    services: Services = request.app.state.services
    api_key_id = await authenticate(request, services)
    body = await read_body(request, services.settings.max_body_bytes)
    parsed = parse_responses_request(body)
    translation = responses_to_conversation(parsed)
    if translation.tools.left_out:
        log.debug(
            "responses: hosted tools left out of the upstream request: %s",
            ", ".join(sorted(set(translation.tools.left_out))),
        )
    conv = await resolve_remote_images(translation.conversation, services.settings)
    request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    prepared = relay.prepare(
        services,
        conv,
        model_name=parsed.model,
        route=ROUTE,
        stream=parsed.stream,
        api_key_id=api_key_id,
        request_id=request_id,
    )
    envelope = response_envelope(
        parsed,
        response_id="resp_" + random_hex_id(),
        created_at=int(time.time()),
        model=parsed.model,
    )
    renderer = ResponsesRenderer(
        envelope,
        translation.tools,
        stream=parsed.stream,
        count_tokens=count_text_tokens,
        item_id=new_item_id,
    )
    reply = await relay.open_upstream(services, prepared)
    assembler = relay.new_assembler(prepared)

    if not parsed.stream:
        await relay.collect(reply, assembler, renderer.add)
        return json_response(renderer.build())

    live = relay.stream_events(
        reply, assembler, renderer, on_error=renderer.error, head=renderer.head()
    )
    return SSEResponse(live, ping=KEEPALIVE, ping_interval=KEEPALIVE_INTERVAL)


router.add_api_route(ROUTE, create_response, methods=["POST"], response_model=None)
router.add_api_route(
    "/responses", create_response, methods=["POST"], include_in_schema=False, response_model=None
)
