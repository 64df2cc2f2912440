"""KiroEventStream: what `KiroClient.generate` returns, the events of one reply."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from kiro_proxy.kiro.events import KiroEvent

_NOTHING: list[KiroEvent] = []  # shared, never mutated


class KiroEventStream:
    """The events of one generateAssistantResponse call, one by one (`async for`).

    One network read often carries many frames (a fast upstream, or a burst after a pause);
    `take_ready` hands over the events already decoded from bytes read so far, without I/O, so
    the API layer can render and write them as one chunk instead of one write per event.
    """

    # The current decoded batch and the position of its next event, rather than a deque: an
    # empty deque alone is ~600 bytes, and every open stream holds one of these objects.
    __slots__ = ("_batches", "_next", "_ready")

    def __init__(self, batches: AsyncGenerator[list[KiroEvent], None]) -> None:
        self._batches = batches
        self._ready: list[KiroEvent] = _NOTHING
        self._next = 0

    def __aiter__(self) -> KiroEventStream:
        return self

    async def __anext__(self) -> KiroEvent:
        while self._next >= len(self._ready):
            self._ready = await anext(self._batches)
            self._next = 0
        event = self._ready[self._next]
        self._next += 1
        if self._next == len(self._ready):
            self._ready, self._next = _NOTHING, 0  # an idle stream keeps no spent events alive
        return event

    def take_ready(self, limit: int | None = None) -> list[KiroEvent]:
        """Up to `limit` (default: all) events that are already decoded, oldest first."""
        start = self._next
        end = len(self._ready) if limit is None else min(len(self._ready), start + limit)
        taken = self._ready[start:end]
        if end == len(self._ready):
            self._ready, self._next = _NOTHING, 0
        else:
            self._next = end
        return taken

    async def aclose(self) -> None:
        self._ready, self._next = _NOTHING, 0
        await self._batches.aclose()
