"""A response's head leaves with its first body bytes (one send), never later than the end of the
event loop's turn, and never out of order (kiro_proxy/response_coalescing.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from kiro_proxy.response_coalescing import CoalescingHttpToolsProtocol, CoalescingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
# Set by a test: /slow sends its body only once the test has seen the head.
SLOW_BODY_RELEASE: dict[str, asyncio.Event] = {}


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


def wrap() -> tuple[CoalescingTransport, RecordingTransport]:
    inner = RecordingTransport()
    return CoalescingTransport(inner, asyncio.get_running_loop()), inner  # type: ignore[arg-type]


async def test_head_and_body_go_out_in_one_write() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    assert inner.writes == []
    assert transport.get_write_buffer_size() == len(HEAD)
    transport.write(b"ok")
    assert inner.writes == [HEAD + b"ok"]
    await asyncio.sleep(0)  # the end-of-turn flush finds nothing left to send
    assert inner.writes == [HEAD + b"ok"]


async def test_a_head_alone_leaves_at_the_end_of_the_turn() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    await asyncio.sleep(0)
    assert inner.writes == [HEAD]
    transport.write(b"ok")  # later body chunks pass straight through
    assert inner.writes == [HEAD, b"ok"]


async def test_body_bytes_pass_through_and_order_is_kept() -> None:
    transport, inner = wrap()
    transport.write(b"data: 1\n\n")
    transport.write(memoryview(b"data: 2\n\n"))
    assert inner.writes == [b"data: 1\n\n", b"data: 2\n\n"]
    transport.write(HEAD)  # the next response on the connection
    transport.write(bytearray(b"ok"))
    assert inner.writes[-1] == HEAD + b"ok"


async def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    transport, inner = wrap()
    transport.write(HEAD)
    transport.close()
    assert inner.writes == [HEAD] and inner.closed
    transport, inner = wrap()
    transport.write(HEAD)
    transport.abort()
    await asyncio.sleep(0)
    assert inner.writes == [] and inner.aborted


async def test_other_attributes_reach_the_real_transport() -> None:
    transport, _ = wrap()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1234)
    assert transport.is_closing() is False


# --- a real uvicorn server with the protocol -------------------------------------------------


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/slow":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await SLOW_BODY_RELEASE["event"].wait()  # the head must not wait for this
        await send({"type": "http.response.body", "body": b"late"})
        return
    body = b"hello"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server_port() -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, log_level="error"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn has no "started" event to wait on
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def test_keep_alive_responses_arrive_whole_and_in_order(server_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server_port)
    try:
        for _ in range(3):
            writer.write(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await asyncio.wait_for(_read_response(reader), 5)
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.endswith(b"\r\n\r\nhello")
    finally:
        writer.close()


async def test_a_head_without_a_body_yet_is_not_held_back(server_port: int) -> None:
    # The body is sent only after the head has arrived: a head held back until its body would
    # never arrive (wait_for fails), with no timing figure in the test.
    release = SLOW_BODY_RELEASE["event"] = asyncio.Event()
    reader, writer = await asyncio.open_connection("127.0.0.1", server_port)
    try:
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"transfer-encoding: chunked" in head.lower()
        release.set()
        rest = await asyncio.wait_for(reader.readuntil(b"late\r\n"), 5)
        assert rest.endswith(b"late\r\n")
    finally:
        release.set()
        writer.close()
        SLOW_BODY_RELEASE.clear()
