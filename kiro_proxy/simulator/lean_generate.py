"""A lean HTTP/1.1 server for POST /generateAssistantResponse only: the benchmark's fast upstream.

Why: the benchmark's simulator shares the machine's cores with the gateway it measures, and the
aiohttp server machinery is most of the ~0.11 ms CPU a short generate call costs there. This
server answers the same calls (generate_outcome.decide: same auth check, validation, scripts,
faults, bookkeeping and event-stream bytes) on an asyncio Protocol with httptools (llhttp) and
costs a fraction of that. Auth, usage and /_sim control routes stay on the aiohttp app, which
shares the same `SimState`.

What it does, and no more:
- keep-alive and pipelining: requests are answered one at a time, in order; while one is being
  written over time, the following ones wait (reading pauses when too many wait);
- a reply with nothing that takes time (no delay, sleep, stall or drop) is written with a
  Content-Length in ONE `transport.write`; a reply that takes time is written chunked as its
  steps come, honouring back-pressure (pause_writing/resume_writing); a Drop cuts the
  connection; the client going away cancels the writer (a Stall ends there);
- JSON errors: 404 for other paths, 405 for other methods, 413 past 64 MiB (the aiohttp app's
  limit), 400 and a closed connection for bytes that are not an HTTP/1.x request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

import httptools
import orjson

from kiro_proxy.simulator.generate_outcome import (
    EVENTSTREAM,
    Rejection,
    Stream,
    decide,
    request_id,
)
from kiro_proxy.simulator.script import Drop, Sleep
from kiro_proxy.simulator.state import SimState

GENERATE_PATH = "/generateAssistantResponse"
MAX_BODY_BYTES = 64 * 1024 * 1024  # the aiohttp app's client_max_size
# Pipelined requests waiting for their turn above which the socket is no longer read.
MAX_WAITING = 16
_REASONS = {status.value: status.phrase for status in HTTPStatus}
_LAST_CHUNK = b"0\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


def _connection_header(keep_alive: bool, http10: bool) -> str:
    if not keep_alive:
        return "Connection: close\r\n"
    return "Connection: keep-alive\r\n" if http10 else ""


@dataclass(slots=True)
class _Request:
    method: bytes
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    http10: bool
    error: tuple[int, str] | None = None


class GenerateConnection(asyncio.Protocol):
    """One client connection: parses requests, answers them in order."""

    __slots__ = (
        "_body",
        "_body_size",
        "_drain_waiter",
        "_headers",
        "_loop",
        "_lost",
        "_parser",
        "_reading_done",
        "_reading_paused",
        "_server",
        "_state",
        "_transport",
        "_url",
        "_waiting",
        "_write_paused",
        "_writer",
    )

    def __init__(self, server: LeanGenerateServer) -> None:
        self._server = server
        self._state = server.state
        self._loop = asyncio.get_running_loop()
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._waiting: deque[_Request] = deque()
        self._writer: asyncio.Task[bool] | None = None
        self._write_paused = False
        self._reading_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._reading_done = False  # after a malformed or a last (Connection: close) request
        self._lost = False

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if self._reading_done or parser is None:
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse("protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._refuse(f"malformed HTTP request: {exc}")

    def eof_received(self) -> bool:
        # The client is gone (a half-closed client is not worth waiting for: a stalled stream
        # would then never end). What was answered at once is already in the transport, which
        # close() still sends; a stream being written is cancelled by connection_lost.
        self._reading_done = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._waiting.clear()
        self._parser = None  # breaks the parser <-> protocol reference cycle
        self._server.connections.discard(self)
        if self._writer is not None:
            self._writer.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._next()

    # --- httptools callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("utf-8", "surrogateescape")

    def on_headers_complete(self) -> None:
        if (
            self._headers.get("expect", "").lower() == "100-continue"
            and self._writer is None
            and not self._waiting
            and self._transport is not None
        ):
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= MAX_BODY_BYTES:
            self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        if self._reading_done or parser is None:
            return
        body = self._body
        path = self._url.split(b"?", 1)[0].decode("latin-1")
        if "%" in path:
            path = unquote(path)
        keep_alive = parser.should_keep_alive()
        error = None
        if self._body_size > MAX_BODY_BYTES:
            error, keep_alive = (413, f"request body larger than {MAX_BODY_BYTES} bytes"), False
        request = _Request(
            parser.get_method(),
            path,
            self._headers,
            body[0] if len(body) == 1 else b"".join(body),
            keep_alive,
            parser.get_http_version() == "1.0",
            error,
        )
        if not keep_alive:
            self._reading_done = True
        self._enqueue(request)

    # --- answering ----------------------------------------------------------------------------
    def _refuse(self, message: str) -> None:
        """Bytes that are not a request: answer 400 after the earlier requests, then close."""
        self._reading_done = True
        self._enqueue(_Request(b"", "", {}, b"", False, False, (400, message)))

    def _enqueue(self, request: _Request) -> None:
        self._waiting.append(request)
        self._next()
        transport = self._transport
        if len(self._waiting) > MAX_WAITING and not self._reading_paused and transport is not None:
            self._reading_paused = True
            transport.pause_reading()

    def _next(self) -> None:
        """Answer waiting requests while nothing is being written over time."""
        waiting = self._waiting
        while waiting and self._writer is None and not self._write_paused and not self._lost:
            self._answer(waiting.popleft())
        transport = self._transport
        if self._reading_paused and len(waiting) <= MAX_WAITING // 2 and not self._lost:
            self._reading_paused = False
            if transport is not None:
                transport.resume_reading()
        if (
            self._reading_done
            and not waiting
            and self._writer is None
            and transport is not None
            and not transport.is_closing()
        ):
            transport.close()

    def _answer(self, request: _Request) -> None:
        if request.error is not None:
            status, message = request.error
            self._write_json(request, status, _error_body(message))
            return
        if request.path != GENERATE_PATH:
            self._write_json(request, 404, _error_body(f"no route {request.path}"))
            return
        if request.method != b"POST":
            self._write_json(request, 405, _error_body("method not allowed"), {"Allow": "POST"})
            return
        self._server.generate_calls += 1
        try:
            outcome = decide(self._state, request.path, request.headers, request.body)
        except Exception as exc:  # a test's responder failed, say: 500, as aiohttp would answer
            self._loop.call_exception_handler(
                {"message": "lean generate server: deciding the answer failed", "exception": exc}
            )
            request.keep_alive = False
            self._reading_done = True
            self._write_json(request, 500, _error_body(f"{type(exc).__name__}: {exc}"))
            return
        if isinstance(outcome, Stream) and outcome.body is not None:
            self._write_whole_stream(request, outcome.body)
        elif isinstance(outcome, Rejection) and not outcome.delay:
            self._write_json(request, outcome.status, outcome.body, outcome.headers)
        else:
            self._writer = self._loop.create_task(self._write_over_time(request, outcome))
            self._writer.add_done_callback(self._writer_done)

    def _write_json(
        self,
        request: _Request,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (
            f"HTTP/1.1 {status} {_reason(status)}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}"
            f"{_connection_header(request.keep_alive, request.http10)}\r\n"
        )
        self._write(head.encode() + body)

    def _write_whole_stream(self, request: _Request, body: bytes) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {EVENTSTREAM}\r\n"
            f"x-amzn-RequestId: {request_id()}\r\nContent-Length: {len(body)}\r\n"
            f"{_connection_header(request.keep_alive, request.http10)}\r\n"
        )
        self._write(head.encode() + body)

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not self._lost:
            transport.write(data)

    async def _write_over_time(self, request: _Request, outcome: Rejection | Stream) -> bool:
        """Write an outcome that takes time; True when the connection can serve another request."""
        if isinstance(outcome, Rejection):
            await asyncio.sleep(outcome.delay)
            self._write_json(request, outcome.status, outcome.body, outcome.headers)
            return request.keep_alive
        if outcome.first_byte_delay:
            await asyncio.sleep(outcome.first_byte_delay)
        # An HTTP/1.0 client cannot read chunks: its body ends with the connection.
        chunked = not request.http10
        keep_alive = request.keep_alive and chunked
        transport = self._transport
        assert transport is not None
        framing = "Transfer-Encoding: chunked\r\n" if chunked else ""
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {EVENTSTREAM}\r\n"
            f"x-amzn-RequestId: {request_id()}\r\n{framing}"
            f"{_connection_header(keep_alive, request.http10)}\r\n"
        )
        transport.write(head.encode())
        for action in outcome.actions:
            if isinstance(action, bytes):
                if action:
                    if chunked:
                        transport.writelines((b"%x\r\n" % len(action), action, b"\r\n"))
                    else:
                        transport.write(action)
                if self._write_paused:
                    await self._drain()
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Drop):
                transport.abort()  # a cut connection: no last chunk
                return False
            else:
                # Stall: send nothing more; connection_lost cancels this task.
                await self._loop.create_future()
        if chunked:
            transport.write(_LAST_CHUNK)
        return keep_alive

    async def _drain(self) -> None:
        while self._write_paused:
            waiter = self._drain_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._drain_waiter = None

    def _writer_done(self, task: asyncio.Task[bool]) -> None:
        self._writer = None
        if self._lost:
            return
        transport = self._transport
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, ConnectionError):
            self._loop.call_exception_handler(
                {"message": "lean generate server: writer failed", "exception": error}
            )
        if task.cancelled() or error is not None or not task.result():
            self._reading_done = True
            self._waiting.clear()
            if transport is not None and not transport.is_closing():
                transport.close()
            return
        self._next()

    def abort(self) -> list[asyncio.Task[bool]]:
        """Cut the connection; returns the writer task it cancelled, if any (to be awaited)."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        writer = self._writer
        if writer is None or writer.done():
            return []
        writer.cancel()
        return [writer]


def _error_body(message: str) -> bytes:
    return orjson.dumps({"message": message, "reason": None})


class LeanGenerateServer:
    """The listening socket and its connections; `url` once started."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.connections: set[GenerateConnection] = set()
        self.generate_calls = 0  # the ones this server answered (the state counts every server's)
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> LeanGenerateServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: GenerateConnection(self), host, port)
        bound = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound}"
        return self

    async def close(self) -> None:
        """Stop listening and cut every connection (stalled streams included)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        writers = []
        for connection in list(self.connections):
            writers += connection.abort()
        if writers:
            await asyncio.wait(writers, timeout=1.0)
        with contextlib.suppress(Exception):
            await server.wait_closed()
        await asyncio.sleep(0)  # let the transports run connection_lost

    async def __aenter__(self) -> LeanGenerateServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_lean_generate(
    state: SimState, host: str = "127.0.0.1", port: int = 0
) -> LeanGenerateServer:
    """Serve generate calls for `state` in the current event loop; port 0 picks a free port."""
    return await LeanGenerateServer(state).start(host, port)
