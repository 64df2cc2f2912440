"""SSEResponse driven through a fake ASGI server: pings when idle, disconnect cancels the body
promptly, outside cancellation still propagates, one helper task per stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kiro_proxy.api.streaming import SSEResponse

PING = b": ping\n\n"


class FakeServer:
    """Records what the response sends; `disconnect()` makes `receive()` report the client gone."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.receives = 0

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def disconnect(self) -> None:
        self.gone.set()

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]

    @property
    def ended(self) -> bool:
        last = self.messages[-1]
        return last["type"] == "http.response.body" and not last["more_body"]


async def _serve(response: SSEResponse, server: FakeServer) -> None:
    await response({"type": "http"}, server.receive, server.send)


async def test_writes_chunks_then_ends() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        yield b""  # nothing rendered: no empty write
        yield b"data: 2\n\n"

    server = FakeServer()
    await _serve(SSEResponse(body(), ping=PING), server)
    assert server.messages[0]["type"] == "http.response.start"
    assert (b"content-type", b"text/event-stream; charset=utf-8") in server.messages[0]["headers"]
    assert server.bodies == [b"data: 1\n\n", b"data: 2\n\n", b""]
    assert server.ended


async def test_pings_only_while_idle() -> None:
    release = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await release.wait()  # a long thinking pause upstream
        yield b"data: last\n\n"

    server = FakeServer()
    serving = asyncio.ensure_future(
        _serve(SSEResponse(body(), ping=PING, ping_interval=0.05), server)
    )
    await asyncio.sleep(0.33)
    release.set()
    await serving
    pings = server.bodies.count(PING)
    assert 4 <= pings <= 7, server.bodies
    assert server.bodies[0] == b"data: first\n\n"
    assert server.bodies[-2:] == [b"data: last\n\n", b""]


async def test_no_ping_while_chunks_keep_flowing() -> None:
    async def body() -> AsyncIterator[bytes]:
        for i in range(15):
            await asyncio.sleep(0.02)  # more often than the ping interval
            yield b"data: %d\n\n" % i

    server = FakeServer()
    await _serve(SSEResponse(body(), ping=PING, ping_interval=0.1), server)
    assert PING not in server.bodies
    assert len(server.bodies) == 16


async def test_disconnect_cancels_a_silent_body_promptly_and_closes_it() -> None:
    closed = asyncio.Event()
    cancelled = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"data: first\n\n"
            await asyncio.sleep(3600)  # a stalled upstream
            yield b"never"
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        finally:
            closed.set()

    server = FakeServer()
    response = SSEResponse(body(), ping=PING, ping_interval=25)
    serving = asyncio.ensure_future(_serve(response, server))
    await asyncio.sleep(0.05)
    server.disconnect()
    await asyncio.wait_for(serving, 1.0)  # returns normally: the cancellation was ours
    assert serving.exception() is None
    assert closed.is_set() and cancelled == [True]
    assert response.disconnected
    assert not server.ended  # nothing more is written to a client that has gone


async def test_disconnect_while_body_is_between_chunks() -> None:
    """The body is suspended at a `yield` (not inside an await) when the client goes."""
    finished = []

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"data: x\n\n"
                await asyncio.sleep(0.01)
        finally:
            finished.append(True)

    server = FakeServer()
    serving = asyncio.ensure_future(_serve(SSEResponse(body(), ping=PING), server))
    await asyncio.sleep(0.05)
    server.disconnect()
    await asyncio.wait_for(serving, 1.0)
    assert finished == [True]


async def test_outside_cancellation_propagates() -> None:
    """Server shutdown cancels the request task: that must not be taken for a disconnect."""
    closed = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"data: first\n\n"
            await asyncio.sleep(3600)
            yield b"never"
        finally:
            closed.set()

    server = FakeServer()
    serving = asyncio.ensure_future(_serve(SSEResponse(body(), ping=PING), server))
    await asyncio.sleep(0.05)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert closed.is_set()


async def test_disconnect_and_outside_cancellation_together_still_propagate() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await asyncio.sleep(3600)
        yield b"never"

    server = FakeServer()
    serving = asyncio.ensure_future(_serve(SSEResponse(body(), ping=PING), server))
    await asyncio.sleep(0.05)
    server.disconnect()
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving


async def test_body_error_propagates_and_leaves_no_task() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        raise RuntimeError("boom")

    before = len(asyncio.all_tasks())
    server = FakeServer()
    with pytest.raises(RuntimeError, match="boom"):
        await _serve(SSEResponse(body(), ping=PING), server)
    await asyncio.sleep(0)  # let the cancelled helper finish
    assert len(asyncio.all_tasks()) == before


async def test_one_helper_task_per_open_stream() -> None:
    """Per-stream cost: the body runs in the request's task; one helper watches and pings."""
    release = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await release.wait()

    servers = [FakeServer() for _ in range(20)]
    before = len(asyncio.all_tasks())
    serving = [
        asyncio.ensure_future(_serve(SSEResponse(body(), ping=PING), server)) for server in servers
    ]
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) - before == 2 * len(servers)  # request task + helper
    release.set()
    await asyncio.gather(*serving)
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == before
    assert all(server.ended for server in servers)


async def test_without_pings_the_helper_only_watches() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await asyncio.sleep(0.1)
        yield b"data: last\n\n"

    server = FakeServer()
    await _serve(SSEResponse(body(), ping=None, ping_interval=0.01), server)
    assert server.bodies == [b"data: first\n\n", b"data: last\n\n", b""]
    assert server.receives == 1
