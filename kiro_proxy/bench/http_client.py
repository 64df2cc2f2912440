"""A lean keep-alive HTTP/1.1 client for the load generator (asyncio protocol + httptools).

Why not aiohttp's client: on a 2-core machine the load generator shares the CPU with the gateway
and the simulator, and aiohttp's client costs ~100-200 µs per request in Python code. This one
parses responses with httptools (C, already installed with uvicorn[standard]) and does only what
a benchmark needs: one request at a time per connection, timestamps for the first byte, the first
"marker" byte (first text event) and the end, and a count of events in the body.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httptools


@dataclass(slots=True)
class Timing:
    status: int
    started: float
    first_byte: float  # perf_counter of the first body byte (0.0 when the body was empty)
    first_marker: float  # first body chunk holding the marker (first text event)
    finished: float
    events: int
    body_bytes: int


class EventCounter:
    """Counts events in a streamed body: SSE blocks (a blank line ends each) or AWS event-stream
    frames (each starts with its 4-byte big-endian total length)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.count = 0
        self._tail = b""
        self._skip = 0  # event-stream: bytes of the current frame still to pass over
        self._prelude = b""

    def feed(self, chunk: bytes) -> None:
        if self.kind == "sse":
            joined = self._tail + chunk
            self.count += joined.count(b"\n\n")
            self._tail = joined[-1:]
        elif self.kind == "eventstream":
            self._feed_frames(chunk)

    def _feed_frames(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            need = 4 - len(self._prelude)
            self._prelude += bytes(view[:need])
            view = view[need:]
            if len(self._prelude) == 4:
                self._skip = int.from_bytes(self._prelude, "big") - 4
                self._prelude = b""
                self.count += 1


class _Exchange:
    __slots__ = (
        "body_bytes",
        "counter",
        "done",
        "first_byte",
        "first_marker",
        "marker",
        "started",
        "status",
        "tail",
    )

    def __init__(self, marker: bytes | None, events: str, done: asyncio.Future[None]) -> None:
        self.marker = marker
        self.counter = EventCounter(events)
        self.done = done
        self.started = time.perf_counter()
        self.first_byte = 0.0
        self.first_marker = 0.0
        self.status = 0
        self.body_bytes = 0
        self.tail = b""


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends raw request bytes and awaits the response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self._exchange: _Exchange | None = None
        self.closed = False
        self.keep_alive = True

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass; it has the same methods.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    # --- httptools callbacks ------------------------------------------------------------------
    def on_status(self, status: bytes) -> None:
        if self._exchange is not None:
            self._exchange.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        ex = self._exchange
        if ex is None:
            return
        now = time.perf_counter()
        if not ex.first_byte:
            ex.first_byte = now
        if ex.marker is not None and not ex.first_marker:
            window = ex.tail + body
            if ex.marker in window:
                ex.first_marker = now
            else:
                ex.tail = window[-len(ex.marker) :]
        ex.body_bytes += len(body)
        ex.counter.feed(body)

    def on_message_complete(self) -> None:
        ex = self._exchange
        self.keep_alive = self.parser.should_keep_alive()
        if ex is not None and not ex.done.done():
            ex.done.set_result(None)

    # --- use ----------------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        ex = self._exchange
        if ex is not None and not ex.done.done():
            ex.done.set_exception(exc)

    async def request(self, raw: bytes, *, marker: bytes | None, events: str) -> Timing:
        assert self.transport is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ex = self._exchange = _Exchange(marker, events, done)
        self.transport.write(raw)
        try:
            await done
        finally:
            self._exchange = None
        finished = time.perf_counter()
        first_marker = ex.first_marker or (ex.first_byte if marker is None else finished)
        return Timing(
            status=ex.status,
            started=ex.started,
            first_byte=ex.first_byte,
            first_marker=first_marker,
            finished=finished,
            events=ex.counter.count,
            body_bytes=ex.body_bytes,
        )

    @property
    def got_first_byte(self) -> bool:
        """True once the response in flight has sent body bytes (hold mode polls this)."""
        return self._exchange is not None and self._exchange.first_byte > 0.0

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


def post_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """Raw bytes of a keep-alive POST (built once per phase and reused for every request)."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: keep-alive",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
