"""The request pipeline shared by both client APIs:
conversation → Kiro request → dispatcher (account, failover) → assembler → renderer.

Route modules parse their API's request into a `Conversation` and pick a renderer; everything
else (model resolution, thinking, token estimates, usage bookkeeping, disconnects) lives here once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from kiro_proxy.api.services import Services
from kiro_proxy.errors import ProxyError, UpstreamError
from kiro_proxy.ids import random_uuid4
from kiro_proxy.kiro.request import KiroRequest
from kiro_proxy.pool.dispatcher import RequestContext, UpstreamReply
from kiro_proxy.translate.assembler import ReplyAssembler, UpstreamStreamFailure
from kiro_proxy.translate.claude_tokenizer import claude_encoding
from kiro_proxy.translate.conversation import Conversation
from kiro_proxy.translate.kiro_request import build_kiro_request, conversation_id_for
from kiro_proxy.translate.models import ModelResolver, ResolvedModel
from kiro_proxy.translate.output import Finish, OutputEvent
from kiro_proxy.translate.tokens import count_text_tokens, count_tokens


async def warm_up() -> None:
    """Load what the first request would otherwise pay for, at start-up: the Claude tokenizer
    (~200 ms to read its vocabulary and build the BPE ranks) is needed by every request's input
    estimate. Built in a thread so the loop keeps serving start-up work meanwhile."""
    await asyncio.to_thread(claude_encoding)


# Model names resolve to the same few results request after request (see ModelResolver).
_models = ModelResolver()


class Renderer(Protocol):
    def render(self, event: OutputEvent) -> bytes: ...


@dataclass(slots=True)
class PreparedRequest:
    """Everything decided before the upstream call."""

    conversation: Conversation
    model: ResolvedModel
    thinking: bool
    kiro_request: KiroRequest
    estimated_input_tokens: int
    context: RequestContext
    started: float = field(default_factory=time.perf_counter)


def prepare(
    services: Services,
    conv: Conversation,
    *,
    model_name: str,
    route: str,
    stream: bool,
    api_key_id: str | None,
    request_id: str,
) -> PreparedRequest:
    settings = services.settings
    model = _models.resolve(
        model_name,
        thinking_suffix=settings.thinking_suffix,
        aliases=settings.model_aliases,
        known_models=services.known_models(),
    )
    thinking = model.thinking or conv.thinking.enabled
    if model.thinking and not conv.thinking.enabled:
        conv.thinking.enabled = True
    kiro_request = build_kiro_request(
        conv,
        model_id=model.kiro_model_id,
        thinking=thinking,
        conversation_id=conversation_id_for(conv.session_hint, random_uuid4()),
    )
    context = RequestContext(
        route=route,
        model=model.requested,
        stream=stream,
        api_key_id=api_key_id,
        request_id=request_id,
    )
    return PreparedRequest(
        conversation=conv,
        model=model,
        thinking=thinking,
        kiro_request=kiro_request,
        estimated_input_tokens=count_tokens(conv),
        context=context,
    )


def new_assembler(prepared: PreparedRequest) -> ReplyAssembler:
    return ReplyAssembler(
        tool_name_map=prepared.kiro_request.tool_name_map,
        thinking=prepared.thinking,
        stop_sequences=prepared.conversation.stop_sequences,
        context_window=prepared.model.context_window,
        estimated_input_tokens=prepared.estimated_input_tokens,
        count_tokens=count_text_tokens,
        max_output_tokens=prepared.conversation.max_tokens,
        single_tool_call=not prepared.conversation.parallel_tool_calls,
    )


async def open_upstream(services: Services, prepared: PreparedRequest) -> UpstreamReply:
    return await services.dispatcher.open_reply(prepared.kiro_request, context=prepared.context)


def _finish_reply(
    reply: UpstreamReply,
    assembler: ReplyAssembler,
    *,
    status: str,
    error_kind: str | None = None,
) -> None:
    usage = assembler.usage
    reply.finish(
        status=status,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        credits=usage.credits,
        error_kind=error_kind,
    )


async def collect(
    reply: UpstreamReply, assembler: ReplyAssembler, sink: Callable[[OutputEvent], None]
) -> Finish:
    """Drain the upstream into `sink` (non-streaming responses and /cc buffering)."""
    finish: Finish | None = None
    status, error_kind = "error", "internal"
    try:
        async for batch in reply.batches():
            for event in batch:
                for out in assembler.feed(event):
                    sink(out)
                if assembler.done:
                    break
            if assembler.done:
                break
        for out in assembler.finish():
            sink(out)
            if isinstance(out, Finish):
                finish = out
        status, error_kind = "success", None
    except UpstreamStreamFailure as failure:
        error_kind = failure.kind
        raise UpstreamError(f"Kiro failed while answering: {failure.message}") from failure
    except ProxyError as error:
        error_kind = error.kind
        raise
    except Exception as error:  # upstream transport/decoding failures after the first event
        error_kind = type(error).__name__
        raise UpstreamError(f"the upstream stream broke off: {error}") from error
    finally:
        await reply.aclose()
        _finish_reply(reply, assembler, status=status, error_kind=error_kind)
    assert finish is not None
    return finish


async def stream_events(
    reply: UpstreamReply,
    assembler: ReplyAssembler,
    renderer: Renderer,
    *,
    on_error: Callable[[str, str], bytes],
    trailer: Callable[[], bytes] | None = None,
    head: bytes = b"",
) -> AsyncIterator[bytes]:
    """Render upstream events as they arrive. Once bytes are out there is no retry: a failure
    becomes an error event in the client's own shape.

    `head` (Anthropic's message_start) goes out in the same write as the first event, which the
    dispatcher already holds: one write less before the first token."""
    status, error_kind = "cancelled", "client_disconnected"
    render = renderer.render
    feed = assembler.feed
    try:
        # Events that arrived together go out together: one write per upstream read, not per
        # event (the write path costs more than rendering an event).
        async for batch in reply.batches():
            parts: list[bytes] = [head] if head else []
            append = parts.append
            for event in batch:
                outs = feed(event)
                # Most events give one output: appended directly, ~800 instructions per event
                # less than extending with a map (callgrind, 200 text chunks).
                if len(outs) == 1:
                    append(render(outs[0]))
                elif outs:
                    parts += map(render, outs)
                if assembler.done:
                    break
            chunk = b"".join(parts)
            head = b""  # cleared only now: a failure above still sends it before the error
            if chunk:
                yield chunk
            if assembler.done:
                break
        yield head + b"".join(render(out) for out in assembler.finish())
        if trailer is not None:
            yield trailer()
        status, error_kind = "success", None
    except UpstreamStreamFailure as failure:
        status, error_kind = "error", failure.kind
        yield head + on_error("api_error", f"Kiro failed while answering: {failure.message}")
    except ProxyError as error:
        status, error_kind = "error", error.kind
        yield head + on_error(error.kind, error.message)
    except Exception as error:  # transport/decoding failure mid-stream
        status, error_kind = "error", type(error).__name__
        yield head + on_error("api_error", f"the upstream stream broke off: {error}")
    finally:
        await reply.aclose()
        _finish_reply(reply, assembler, status=status, error_kind=error_kind)
