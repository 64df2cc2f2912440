"""Background jobs: persist pool state, refresh tokens ahead of expiry, poll getUsageLimits,
refresh the model list. Each job is a loop with its own interval; one failing pass is logged
and the loop goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class JobIntervals:
    state_flush: float = 1.0
    token_refresh: float = 60.0
    token_horizon: float = 600.0  # refresh tokens expiring within 10 minutes
    limits_first: float = 10.0
    limits: float = 30 * 60.0
    models_first: float = 5.0
    models: float = 60 * 60.0


class BackgroundJobs:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def every(
        self,
        name: str,
        interval: float,
        job: Callable[[], Awaitable[object]],
        *,
        first: float | None = None,
    ) -> None:
        self._tasks.append(asyncio.create_task(self._loop(name, interval, job, first), name=name))

    @staticmethod
    async def _loop(
        name: str, interval: float, job: Callable[[], Awaitable[object]], first: float | None
    ) -> None:
        await asyncio.sleep(interval if first is None else first)
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed; retrying in %.0f s", name, interval)
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
