"""KiroEventStream: what `KiroClient.generate` returns, the events of one reply."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator

from kiro_proxy.kiro.events import KiroEvent


class KiroEventStream:
    """The events of one generateAssistantResponse call, one by one (`async for`).

    One network read often carries many frames (a fast upstream, or a burst after a pause);
    `take_ready` hands over the events already decoded from bytes read so far, without I/O, so
    the API layer can render and write them as one chunk instead of one write per event.
    """

    __slots__ = ("_batches", "_ready")

    def __init__(self, batches: AsyncGenerator[list[KiroEvent], None]) -> None:
        self._batches = batches
        self._ready: deque[KiroEvent] = deque()

    def __aiter__(self) -> KiroEventStream:
        return self

    async def __anext__(self) -> KiroEvent:
        while not self._ready:
            self._ready.extend(await anext(self._batches))
        return self._ready.popleft()

    def take_ready(self, limit: int | None = None) -> list[KiroEvent]:
        """Up to `limit` (default: all) events that are already decoded, oldest first."""
        ready = self._ready
        if limit is None or limit >= len(ready):
            taken = list(ready)
            ready.clear()
            return taken
        return [ready.popleft() for _ in range(limit)]

    async def aclose(self) -> None:
        self._ready.clear()
        await self._batches.aclose()
