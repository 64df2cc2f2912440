"""A server-sent-events response written straight to ASGI `send`.

Why not Starlette's StreamingResponse: we need keep-alive pings while the upstream is quiet
(long thinking pauses; idle connections are dropped around 60-90 s) without wrapping every event
in a timeout task, and we need a client disconnect to cancel the upstream read within a second so
the account is freed and the usage row says "cancelled".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class SSEResponse(Response):
    """Subclasses Response only so frameworks pass it through untouched."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        ping: bytes | None = None,
        ping_interval: float = 25.0,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self._body = body
        self._ping = ping
        self._ping_interval = ping_interval
        self._headers = SSE_HEADERS + (headers or [])
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        lock = asyncio.Lock()
        last_write = loop.time()

        async def write(chunk: bytes) -> None:
            nonlocal last_write
            async with lock:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            last_write = loop.time()

        async def pump() -> None:
            async for chunk in self._body:
                if chunk:
                    await write(chunk)

        async def pinger() -> None:
            assert self._ping is not None
            while True:
                wait = self._ping_interval - (loop.time() - last_write)
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                await write(self._ping)

        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.disconnected = True
                    return

        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        main = asyncio.ensure_future(pump())
        helpers: list[asyncio.Future[Any]] = [asyncio.ensure_future(watch_disconnect())]
        if self._ping is not None and self._ping_interval > 0:
            helpers.append(asyncio.ensure_future(pinger()))
        try:
            await asyncio.wait([main, helpers[0]], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not main.done():
                main.cancel()
            for task in helpers:
                task.cancel()
            for task in (main, *helpers):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if main.done() and not main.cancelled() and main.exception() is not None:
            raise main.exception()  # type: ignore[misc]
        if not self.disconnected:
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
