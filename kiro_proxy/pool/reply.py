"""What the dispatcher hands to the API layer: the request's context and the open reply."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from kiro_proxy.kiro.events import KiroEvent
from kiro_proxy.pool.account import Account

log = logging.getLogger(__name__)

FinishHook = Callable[..., None]
# Events rendered into one write: enough to make the per-write cost negligible, few enough that
# a burst does not hold back the first of its events by more than a fraction of a millisecond.
BATCH_LIMIT = 64


@dataclass(slots=True)
class RequestContext:
    route: str
    model: str
    stream: bool
    api_key_id: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


async def close_quietly(stream: Any) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:
            log.debug("closing an upstream stream failed", exc_info=True)


class UpstreamReply:
    """An open upstream stream whose first event has already arrived."""

    def __init__(
        self,
        *,
        on_finish: FinishHook,
        account: Account,
        stream: AsyncIterator[KiroEvent],
        first_event: KiroEvent | None,
        context: RequestContext,
        started: float,
        first_event_at: float,
        attempts: int,
    ) -> None:
        self.account_id = account.id
        self.account_label = account.label
        self._account = account
        self._on_finish = on_finish
        self._stream = stream
        self._first: KiroEvent | None = first_event
        self._context = context
        self._started = started
        self._first_event_at = first_event_at
        self._attempts = attempts
        self._finished = False

    def __aiter__(self) -> AsyncIterator[KiroEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[KiroEvent]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        async for event in self._stream:
            yield event

    async def batches(self) -> AsyncIterator[list[KiroEvent]]:
        """The events grouped as they became available, so the caller can write each group in
        one piece: the first event alone (time to first token), then each event with the ones
        already decoded behind it (no waiting), at most BATCH_LIMIT per group."""
        take_ready = getattr(self._stream, "take_ready", None)
        if self._first is not None:
            first, self._first = self._first, None
            yield [first]
        async for event in self._stream:
            if take_ready is None:
                yield [event]
            else:
                yield [event, *take_ready(BATCH_LIMIT - 1)]

    async def aclose(self) -> None:
        await close_quietly(self._stream)

    def finish(
        self,
        *,
        status: str,
        input_tokens: int,
        output_tokens: int,
        credits: float,
        error_kind: str | None = None,
    ) -> None:
        if self._finished:
            log.warning("finish() called twice for request %s", self._context.request_id)
            return
        self._finished = True
        self._on_finish(
            self._account,
            self._context,
            status=status,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            credits=credits,
            error_kind=error_kind,
            started=self._started,
            first_event_at=self._first_event_at,
            attempts=self._attempts,
        )
