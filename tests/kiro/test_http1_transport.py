"""The lean HTTP/1.1 transport of the generate call (kiro_proxy/kiro/http1.py), over real
sockets: the simulator, and byte-scripted loopback servers for the framings and failures the
simulator cannot produce."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kiro_proxy.app import build_client
from kiro_proxy.kiro.client import KiroClient, UpstreamCredentials
from kiro_proxy.kiro.errors import (
    KiroConnectionError,
    KiroHTTPError,
    KiroStreamError,
    KiroTimeoutError,
)
from kiro_proxy.kiro.events import KiroEvent, MetadataEvent, TextEvent
from kiro_proxy.kiro.http1 import HIGH_WATER_BYTES, Http1Pool
from kiro_proxy.settings import ConfigError, Settings, load_settings
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.testing import client_for, credentials_for, simple_request
from tests.kiro.raw_http_server import (
    LAST_CHUNK,
    RawHttpServer,
    RawRequest,
    Responder,
    chunk,
    ok_head,
    self_signed_cert,
)

FRAMES = b"".join(
    [
        s.text_frame("Hello "),
        s.text_frame("world"),
        *s.step_frames(s.Metadata(uncached_input_tokens=3, output_tokens=2)),
    ]
)
CREDS = UpstreamCredentials(access_token="tok-raw", machine_id="0" * 64, auth_method="social")
Serve = Callable[..., Awaitable[RawHttpServer]]
READ_SIZE = 256 * 1024  # the most one socket read hands over (asyncio's and uvloop's)


async def _events(client: KiroClient, creds: UpstreamCredentials = CREDS) -> list[KiroEvent]:
    return [e async for e in client.generate(simple_request(), creds)]


def _texts(events: list[KiroEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextEvent))


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start byte-scripted servers; each is closed at the end of the test."""
    servers: list[RawHttpServer] = []

    async def start(respond: Responder, **options: Any) -> RawHttpServer:
        server = await RawHttpServer(respond, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Awaitable[KiroClient]]]:
    """Make builtin-transport clients pointed at a URL; each is closed at the end of the test."""
    made: list[KiroClient] = []

    async def make(url: str, **options: Any) -> KiroClient:
        kiro = client_for(url, **{"first_byte_timeout": 2, "idle_timeout": 2, **options})
        await kiro.start()
        made.append(kiro)
        return kiro

    yield make
    for kiro in made:
        await kiro.close()


def _pool(client: KiroClient) -> Http1Pool:
    assert client._http1 is not None
    return client._http1


def client_idle(kiro: KiroClient) -> int:
    return _pool(kiro).idle_count


async def _until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


def _replying(*replies: bytes, keep: bool = True) -> Responder:
    """Answer the n-th request with replies[n] (the last one repeats)."""

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(replies[min(respond.count, len(replies) - 1)])  # type: ignore[attr-defined]
        respond.count += 1  # type: ignore[attr-defined]
        return keep

    respond.count = 0  # type: ignore[attr-defined]
    return respond


# --- keep-alive and framing ---------------------------------------------------------------------
async def test_sequential_calls_reuse_one_connection(
    client: KiroClient, sim: RunningSimulator
) -> None:
    creds = credentials_for(sim.state.add_account())
    for _ in range(5):
        assert _texts(await _events(client, creds)) == "Hello! This is the Kiro simulator."
    assert [r.status for r in sim.state.requests] == [200] * 5
    assert _pool(client).connections_opened == 1
    assert client.idle_connections() == 1


async def test_content_length_body_and_request_bytes(serve: Serve, clients: Any) -> None:
    server = await serve(_replying(ok_head(length=len(FRAMES)) + FRAMES))
    kiro = await clients(server.url())
    for _ in range(3):
        events = await _events(kiro)
        assert _texts(events) == "Hello world" and isinstance(events[-1], MetadataEvent)
    assert server.accepted == 1 and len(server.requests) == 3
    request = server.requests[0]
    assert request.request_line == b"POST /generateAssistantResponse HTTP/1.1"
    assert request.header("host") == f"127.0.0.1:{server.port}"
    assert request.header("content-length") == str(len(request.body))
    assert request.header("authorization") == "Bearer tok-raw"
    assert request.header("content-type") == "application/json"
    assert b'"conversationState"' in request.body


async def test_chunked_body_split_anywhere(serve: Serve, clients: Any) -> None:
    """Chunk boundaries fall inside frames and inside chunk-size lines."""
    body = b"".join(chunk(FRAMES[i : i + 7]) for i in range(0, len(FRAMES), 7)) + LAST_CHUNK

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        wire = ok_head() + body
        for start in range(0, len(wire), 5):
            writer.write(wire[start : start + 5])
            await writer.drain()
            if start % 100 == 0:
                await asyncio.sleep(0)
        return True

    server = await serve(respond)
    kiro = await clients(server.url())
    assert _texts(await _events(kiro)) == "Hello world"
    assert _texts(await _events(kiro)) == "Hello world"
    assert server.accepted == 1


async def test_body_delimited_by_connection_close(serve: Serve, clients: Any) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n\r\n"
    server = await serve(_replying(head + FRAMES, keep=False))
    kiro = await clients(server.url())
    assert _texts(await _events(kiro)) == "Hello world"
    assert _texts(await _events(kiro)) == "Hello world"
    assert server.accepted == 2 and client_idle(kiro) == 0


async def test_connection_close_answer_is_not_pooled(serve: Serve, clients: Any) -> None:
    reply = ok_head("Connection: close\r\n", length=len(FRAMES)) + FRAMES
    server = await serve(_replying(reply, keep=False))
    kiro = await clients(server.url())
    for _ in range(2):
        assert _texts(await _events(kiro)) == "Hello world"
        assert client_idle(kiro) == 0
    assert server.accepted == 2 and _pool(kiro).connections_opened == 2


async def test_interim_100_continue_is_skipped(serve: Serve, clients: Any) -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\n" + ok_head(length=len(FRAMES)) + FRAMES
    server = await serve(_replying(reply))
    kiro = await clients(server.url())
    assert _texts(await _events(kiro)) == "Hello world"
    assert _texts(await _events(kiro)) == "Hello world"
    assert server.accepted == 1


# --- stale and expiring connections --------------------------------------------------------------
async def test_server_closing_idle_connections_between_calls(serve: Serve, clients: Any) -> None:
    """A keep-alive reply, then the server closes the idle connection (as servers do after
    their keep-alive timeout): the next call must not fail on the dead connection."""
    server = await serve(_replying(ok_head(length=len(FRAMES)) + FRAMES, keep=False))
    kiro = await clients(server.url())
    for calls in range(1, 4):
        assert _texts(await _events(kiro)) == "Hello world"
        await _until(lambda: client_idle(kiro) == 0)  # the pool dropped the closed connection
        assert server.accepted == calls
    assert _pool(kiro).connections_opened == 3


async def test_closed_idle_connection_is_skipped_at_reuse(serve: Serve, clients: Any) -> None:
    """The close arrives while the connection sits in the pool and before the pool has run
    connection_lost: the check before reuse still skips it."""
    server = await serve(_replying(ok_head(length=len(FRAMES)) + FRAMES))
    kiro = await clients(server.url())
    assert _texts(await _events(kiro)) == "Hello world"
    [[idle]] = _pool(kiro)._idle.values()
    assert idle.transport is not None
    idle.transport.close()  # is_closing() from now on; connection_lost runs later
    assert _texts(await _events(kiro)) == "Hello world"
    assert server.accepted == 2


async def test_idle_connections_expire(serve: Serve) -> None:
    server = await serve(_replying(ok_head(length=len(FRAMES)) + FRAMES))
    pool = Http1Pool(connect_timeout=2, idle_expiry=0.2)
    try:
        reply = await pool.post(server.url() + "/x", b"{}", {}, first_byte_timeout=2)
        while await reply.read(2):
            pass
        reply.release()
        assert pool.idle_count == 1
        await _until(lambda: server.client_closed == 1)  # the sweeper closed it
        assert pool.idle_count == 0 and pool.open_count == 0
    finally:
        await pool.close()


async def test_unsolicited_bytes_on_an_idle_connection_close_it(serve: Serve, clients: Any) -> None:
    reply = ok_head(length=len(FRAMES)) + FRAMES
    server = await serve(_replying(reply + b"HTTP/1.1 200 OK\r\n", reply))
    kiro = await clients(server.url())
    assert _texts(await _events(kiro)) == "Hello world"
    assert _texts(await _events(kiro)) == "Hello world"
    assert server.accepted == 2  # the connection that sent extra bytes was not reused


# --- failures ------------------------------------------------------------------------------------
async def test_disconnect_mid_body(serve: Serve, clients: Any) -> None:
    first = s.text_frame("before the cut")
    reply = ok_head(length=len(first) + 1000) + first

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(reply)
        await writer.drain()
        await asyncio.sleep(0.05)
        return False  # closes: the body is 1,000 bytes short

    server = await serve(respond)
    kiro = await clients(server.url())
    seen: list[KiroEvent] = []
    with pytest.raises(KiroConnectionError, match="cut"):
        async for event in kiro.generate(simple_request(), CREDS):
            seen.append(event)
    assert seen == [TextEvent("before the cut")]
    assert _pool(kiro).open_count == 0


async def test_close_before_any_reply_is_connection_error(serve: Serve, clients: Any) -> None:
    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        return False

    server = await serve(respond)
    kiro = await clients(server.url())
    with pytest.raises(KiroConnectionError, match=r"127\.0\.0\.1"):
        await _events(kiro)


async def test_invalid_http_is_connection_error(serve: Serve, clients: Any) -> None:
    server = await serve(_replying(b"SPDY/9 banana\r\n\r\n"))
    kiro = await clients(server.url())
    with pytest.raises(KiroConnectionError, match="invalid HTTP"):
        await _events(kiro)


async def test_headers_without_body_bytes_hit_the_first_byte_timeout(
    serve: Serve, clients: Any
) -> None:
    """The first-byte limit covers the first body bytes, not only the status line."""

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok_head())
        await asyncio.sleep(5)
        return False

    server = await serve(respond)
    kiro = await clients(server.url(), first_byte_timeout=0.2)
    with pytest.raises(KiroTimeoutError) as caught:
        await _events(kiro)
    assert caught.value.phase == "first_byte"
    assert _pool(kiro).open_count == 0


async def test_stall_mid_body_hits_the_idle_timeout(serve: Serve, clients: Any) -> None:
    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok_head() + chunk(s.text_frame("first")))
        await asyncio.sleep(5)
        return False

    server = await serve(respond)
    kiro = await clients(server.url(), idle_timeout=0.2)
    seen: list[KiroEvent] = []
    with pytest.raises(KiroTimeoutError) as caught:
        async for event in kiro.generate(simple_request(), CREDS):
            seen.append(event)
    assert caught.value.phase == "idle" and seen == [TextEvent("first")]


async def test_connect_timeout(clients: Any) -> None:
    """A listener whose accept queue is full: Linux drops the SYN, the connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        kiro = await clients(f"http://127.0.0.1:{port}", connect_timeout=0.3)
        with pytest.raises(KiroTimeoutError) as caught:
            await _events(kiro)
        assert caught.value.phase == "connect"
    finally:
        for sock in [*fillers, listener]:
            sock.close()


async def test_non_200_with_retry_after(serve: Serve, clients: Any) -> None:
    body = b'{"message":"Too many requests","reason":"THROTTLED"}'
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        b"Retry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk(body[:10])
        + chunk(body[10:])
        + LAST_CHUNK
    )
    server = await serve(_replying(reply, ok_head(length=len(FRAMES)) + FRAMES))
    kiro = await clients(server.url())
    with pytest.raises(KiroHTTPError) as caught:
        await _events(kiro)
    error = caught.value
    assert error.status == 429 and error.retry_after == 7 and error.reason == "THROTTLED"
    assert error.message == "Too many requests"
    assert _texts(await _events(kiro)) == "Hello world"
    assert server.accepted == 1  # the whole error body was read: the connection was reused


async def test_stream_cut_mid_frame_is_stream_error(serve: Serve, clients: Any) -> None:
    body = FRAMES[:-5]
    server = await serve(_replying(ok_head(length=len(body)) + body))
    kiro = await clients(server.url())
    with pytest.raises(KiroStreamError):
        await _events(kiro)


async def test_header_with_a_line_break_is_refused(serve: Serve, clients: Any) -> None:
    server = await serve(_replying(ok_head(length=len(FRAMES)) + FRAMES))
    kiro = await clients(server.url())
    with pytest.raises(ValueError, match="line break"):
        await _events(kiro, UpstreamCredentials("tok\r\nX-Evil: 1", "0" * 64, "social"))
    assert server.requests == []


# --- the consumer's side -------------------------------------------------------------------------
async def test_early_stop_closes_the_connection(client: KiroClient, sim: RunningSimulator) -> None:
    account = sim.state.add_account()
    sim.state.enqueue(s.Benchmark(chunks=50000, size=32), account=account)
    stream = client.generate(simple_request(), credentials_for(account))
    assert isinstance(await anext(stream), TextEvent)
    [connection] = _pool(client)._all
    await stream.aclose()
    assert connection.transport is not None and connection.transport.is_closing()
    assert _pool(client).open_count == 0 and client.idle_connections() == 0
    assert _texts(await _events(client, credentials_for(account)))  # a fresh connection works
    assert _pool(client).connections_opened == 2


async def test_early_stop_after_the_whole_reply_arrived_keeps_the_connection(
    client: KiroClient, sim: RunningSimulator
) -> None:
    """Stopping before the end of the events is not stopping before the end of the bytes: a
    reply that fully arrived leaves a clean keep-alive connection."""
    creds = credentials_for(sim.state.add_account())
    stream = client.generate(simple_request(), creds)
    assert isinstance(await anext(stream), TextEvent)
    await stream.aclose()
    assert client.idle_connections() == 1
    assert _texts(await _events(client, creds))
    assert _pool(client).connections_opened == 1


async def test_reading_pauses_while_the_unread_buffer_is_large(serve: Serve) -> None:
    """A slow consumer: the socket is not read while more than the high-water mark waits
    unread, and every byte still arrives, in order, once the consumer catches up."""
    body = bytes(range(256)) * (64 * 1024)  # 16 MiB, written as fast as the socket takes it

    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok_head(length=len(body)))
        for start in range(0, len(body), 1 << 20):
            writer.write(body[start : start + (1 << 20)])
            await writer.drain()
        return True

    server = await serve(respond)
    pool = Http1Pool(connect_timeout=2)
    try:
        reply = await pool.post(server.url() + "/big", b"{}", {}, first_byte_timeout=2)
        [connection] = pool._all
        await _until(lambda: connection._paused)
        await asyncio.sleep(0.2)  # the server keeps writing; we must not keep reading
        assert connection._paused and connection._buffered < HIGH_WATER_BYTES + READ_SIZE
        received = [reply.take()]
        while data := await reply.read(2):
            received.append(data)
        assert b"".join(received) == body
        reply.release()
        assert pool.idle_count == 1
    finally:
        await pool.close()


# --- TLS -----------------------------------------------------------------------------------------
async def test_tls_with_hostname_check(serve: Serve, clients: Any, tmp_path: Path) -> None:
    cert = self_signed_cert("localhost")
    server = await serve(
        _replying(ok_head(length=len(FRAMES)) + FRAMES),
        ssl_context=cert.server_context(tmp_path),
    )
    kiro = await clients(server.url("localhost"), ssl_context=cert.client_context())
    assert _texts(await _events(kiro)) == "Hello world"
    assert _texts(await _events(kiro)) == "Hello world"
    assert server.accepted == 1
    assert server.requests[0].header("host") == f"localhost:{server.port}"


async def test_tls_refuses_an_untrusted_certificate(
    serve: Serve, clients: Any, tmp_path: Path
) -> None:
    cert = self_signed_cert("localhost")
    server = await serve(
        _replying(ok_head(length=len(FRAMES)) + FRAMES),
        ssl_context=cert.server_context(tmp_path),
    )
    kiro = await clients(server.url("localhost"))  # the system trust store
    with pytest.raises(KiroConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await _events(kiro)
    assert server.requests == []


async def test_tls_refuses_a_certificate_for_another_name(
    serve: Serve, clients: Any, tmp_path: Path
) -> None:
    cert = self_signed_cert("kiro.example")  # valid for kiro.example and 127.0.0.1
    server = await serve(
        _replying(ok_head(length=len(FRAMES)) + FRAMES),
        ssl_context=cert.server_context(tmp_path),
    )
    kiro = await clients(server.url("localhost"), ssl_context=cert.client_context())
    with pytest.raises(KiroConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await _events(kiro)
    assert server.requests == []


# --- lifecycle -----------------------------------------------------------------------------------
async def test_client_close_closes_pooled_connections(serve: Serve) -> None:
    server = await serve(_replying(ok_head(length=len(FRAMES)) + FRAMES))
    kiro = client_for(server.url())
    await kiro.start()
    assert _texts(await _events(kiro)) == "Hello world"
    pool = _pool(kiro)
    assert pool.idle_count == 1 and server.client_closed == 0
    await kiro.close()
    await _until(lambda: server.client_closed == 1)
    assert pool.open_count == 0 and kiro._http1 is None


async def test_proxied_accounts_keep_using_aiohttp(
    client: KiroClient, sim: RunningSimulator
) -> None:
    """An account proxy (here a dead one) goes through aiohttp, never the direct lean pool."""
    creds = credentials_for(sim.state.add_account(), proxy_url="http://127.0.0.1:9")
    with pytest.raises(KiroConnectionError):
        await _events(client, creds)
    assert _pool(client).connections_opened == 0 and not sim.state.requests


async def test_aiohttp_setting_skips_the_lean_pool(sim: RunningSimulator, clients: Any) -> None:
    kiro = await clients(sim.url, upstream_http_client="aiohttp")
    assert kiro._http1 is None
    assert _texts(await _events(kiro, credentials_for(sim.state.add_account())))
    assert kiro.idle_connections() == 1  # aiohttp's pool


def test_setting_picks_the_transport(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSTREAM_HTTP_CLIENT", raising=False)
    config = tmp_path / "config.json"
    assert build_client(Settings(config_path=config)).upstream_http_client == "builtin"
    monkeypatch.setenv("UPSTREAM_HTTP_CLIENT", "aiohttp")
    assert build_client(Settings(config_path=config)).upstream_http_client == "aiohttp"
    config.write_text('{"upstreamHttpClient": "builtin"}')
    assert Settings(config_path=config).upstream_http_client == "aiohttp"  # env wins
    monkeypatch.delenv("UPSTREAM_HTTP_CLIENT")
    assert Settings(config_path=config).upstream_http_client == "builtin"
    with pytest.raises(ConfigError, match="upstream_http_client"):
        load_settings(config_path=config, upstream_http_client="curl")


async def test_a_paused_connection_is_read_again_once_pooled(serve: Serve) -> None:
    """A large reply fully arrived but left unread (the consumer stopped early): the pooled
    connection must not stay paused, or the next reply on it would never be read."""
    body = b"x" * (4 * HIGH_WATER_BYTES)
    server = await serve(_replying(ok_head(length=len(body)) + body))
    pool = Http1Pool(connect_timeout=2)
    try:
        reply = await pool.post(server.url() + "/big", b"{}", {}, first_byte_timeout=2)
        [connection] = pool._all
        await _until(lambda: connection._paused)
        assert connection.transport is not None
        connection.transport.resume_reading()  # let the rest arrive while nobody reads it
        await _until(lambda: connection._complete)
        reply.close()
        assert pool.idle_count == 1 and not connection._paused and connection._buffered == 0
        again = await pool.post(server.url() + "/big", b"{}", {}, first_byte_timeout=2)
        assert len(await again.read_all(2)) == len(body)
        again.release()
        assert server.accepted == 1
    finally:
        await pool.close()


async def test_cancelled_while_reading_an_error_body_closes_the_connection(
    serve: Serve, clients: Any
) -> None:
    async def respond(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\n{")
        await asyncio.sleep(5)
        return False

    server = await serve(respond)
    kiro = await clients(server.url())
    task = asyncio.create_task(_events(kiro))
    await _until(lambda: len(server.requests) == 1)
    [connection] = _pool(kiro)._all
    await _until(lambda: connection.status == 500)  # reading the error body now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert connection.transport is not None and connection.transport.is_closing()
    assert _pool(kiro).open_count == 0 and client_idle(kiro) == 0
