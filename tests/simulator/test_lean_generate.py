"""The lean generate server (kiro_proxy/simulator/lean_generate.py) against the aiohttp app it
stands in for in the benchmark: the same answers byte for byte on one shared state, and the
HTTP/1.1 behaviour of its own (keep-alive, pipelining, split reads, chunks over time,
back-pressure, cut and abandoned streams, malformed requests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson
import pytest

from kiro_proxy.simulator import lean_generate
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.generate_outcome import (
    DEFAULT_TEXT_CHUNKS,
    EVENTSTREAM,
    THINKING_MARKER,
    Stream,
    decide,
    reply_actions,
)
from kiro_proxy.simulator.lean_generate import GenerateConnection, LeanGenerateServer
from kiro_proxy.simulator.state import SimAccount, SimState
from kiro_proxy.simulator.testing import payload
from tests.simulator.raw_http_client import (
    RawHttpClient,
    RawResponse,
    one_exchange,
    request_bytes,
)

BODY = orjson.dumps(payload())


@dataclass
class Servers:
    sim: RunningSimulator
    lean: LeanGenerateServer
    account: SimAccount

    @property
    def state(self) -> SimState:
        return self.sim.state

    def url(self, which: str) -> str:
        return self.lean.url if which == "lean" else self.sim.url


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    sim = await start_simulator()
    lean = await lean_generate.start_lean_generate(sim.state)
    account = sim.state.add_account("lean@example.com")
    yield Servers(sim, lean, account)
    await lean.close()
    await sim.close()


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


def _frames(*steps: s.Step) -> bytes:
    return b"".join(frame for step in steps for frame in s.step_frames(step))


# --- the same answers as the aiohttp app --------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """Set the state up (script, account), then send `body` with the account's token (or
    `token`); both servers must answer alike."""

    name: str
    prepare: Callable[[Servers], None] = lambda servers: None
    body: bytes = BODY
    token: str | None = None


def _enqueue(item: s.Scripted) -> Callable[[Servers], None]:
    return lambda servers: servers.state.enqueue(item)


def _exhaust(servers: Servers) -> None:
    servers.account.current_usage = servers.account.usage_limit


def _suspend(servers: Servers) -> None:
    servers.state.suspend(servers.account)


CASES = [
    Case("default reply"),
    Case(
        "default reply, thinking",
        body=orjson.dumps(
            payload(
                current={
                    "content": f"{THINKING_MARKER.decode()} hi",
                    "modelId": "claude-sonnet-4.5",
                    "origin": "AI_EDITOR",
                }
            )
        ),
    ),
    Case(
        "raw and text",
        _enqueue(
            s.Reply(
                [
                    s.Raw(s.text_frame("raw ")),
                    s.Text("text"),
                    s.ToolUse("t1", "get_weather", {"city": "Paris"}, fragments=3),
                    s.Metadata(uncached_input_tokens=5, output_tokens=2),
                ]
            )
        ),
    ),
    Case("corrupt frame", _enqueue(s.Reply([s.CorruptNext(), s.Text("a"), s.Text("b")]))),
    Case("empty reply", _enqueue(s.Reply([]))),
    Case("sleep steps", _enqueue(s.Reply([s.Text("a"), s.Sleep(0.01), s.Text("b")]))),
    Case("slow first byte", _enqueue(s.slow_first_byte(0.01))),
    Case("benchmark", _enqueue(s.Benchmark(chunks=2000, size=40))),
    Case("benchmark with delay", _enqueue(s.Benchmark(chunks=3, size=5, delay=0.01))),
    Case("throttled with Retry-After", _enqueue(s.throttled(retry_after=2.5))),
    Case("delayed server error", _enqueue(s.HttpFault(503, delay=0.02))),
    Case("invalid token", token="not-a-token"),
    Case("suspended", _suspend),
    Case("quota exhausted", _exhaust),
    Case("body not JSON", body=b'{"conversationState": '),
    Case("invalid body", body=orjson.dumps(payload(current={"modelId": "claude-sonnet-4.5"}))),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_both_servers_answer_alike(servers: Servers, case: Case) -> None:
    seen: dict[str, RawResponse] = {}
    records = {}
    for which in ("aiohttp", "lean"):
        servers.state.reset()
        servers.state.suspend(servers.account, False)
        servers.account.current_usage = 0.0
        case.prepare(servers)
        token = case.token or servers.account.access_token
        seen[which] = await one_exchange(servers.url(which), request_bytes(case.body, token=token))
        (record,) = servers.state.requests
        records[which] = (record.path, record.account, record.status, record.validation_error)
    aiohttp_answer, lean_answer = seen["aiohttp"], seen["lean"]
    assert lean_answer.complete and aiohttp_answer.complete
    assert lean_answer.json_view() == aiohttp_answer.json_view()
    assert records["lean"] == records["aiohttp"]
    if lean_answer.status == 200:
        assert lean_answer.headers["content-type"] == EVENTSTREAM
        assert lean_answer.headers["x-amzn-requestid"] != aiohttp_answer.headers["x-amzn-requestid"]
    else:
        assert "x-amzn-requestid" not in lean_answer.headers
        assert "message" in orjson.loads(lean_answer.body)


async def test_the_default_reply_is_two_text_chunks_with_usage(servers: Servers) -> None:
    answer = await one_exchange(
        servers.lean.url, request_bytes(BODY, token=servers.account.access_token)
    )
    assert answer.body.startswith(_frames(*(s.Text(t) for t in DEFAULT_TEXT_CHUNKS)))
    assert servers.account.request_count == 1
    assert servers.state.generate_calls == 1


async def test_a_reply_without_timing_is_one_write_with_a_content_length(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[bytes] = []
    original = GenerateConnection._write

    def spy(self: GenerateConnection, data: bytes) -> None:
        writes.append(data)
        original(self, data)

    monkeypatch.setattr(GenerateConnection, "_write", spy)
    servers.state.enqueue(s.simple_text_reply("one", "two"))
    answer = await one_exchange(
        servers.lean.url, request_bytes(BODY, token=servers.account.access_token)
    )
    assert answer.status == 200 and not answer.chunked
    assert answer.headers["content-length"] == str(len(answer.body))
    assert len(writes) == 1 and writes[0].endswith(answer.body)
    assert answer.body == _frames(*s.simple_text_reply("one", "two").steps)


async def test_the_record_holds_the_request_headers(servers: Servers) -> None:
    await one_exchange(
        servers.lean.url,
        request_bytes(BODY, token=servers.account.access_token, extra={"X-Amz-Target": "T"}),
    )
    (record,) = servers.state.requests
    assert record.path == "/generateAssistantResponse"
    assert record.headers["x-amz-target"] == "T"
    assert record.headers["authorization"] == f"Bearer {servers.account.access_token}"
    assert record.body == orjson.loads(BODY)


# --- HTTP/1.1 of its own ------------------------------------------------------------------------
async def test_keep_alive_serves_several_requests_on_one_connection(servers: Servers) -> None:
    servers.state.enqueue(s.throttled(retry_after=1), s.Reply([s.Text("a"), s.Sleep(0.01)]))
    client = await RawHttpClient.open(servers.lean.url)
    try:
        request = request_bytes(BODY, token=servers.account.access_token)
        answers = [await client.exchange(request) for _ in range(4)]
    finally:
        await client.close()
    assert [a.status for a in answers] == [429, 200, 200, 200]
    assert [a.chunked for a in answers] == [False, True, False, False]
    assert answers[1].body == s.text_frame("a")
    assert len(servers.lean.connections) <= 1 and servers.state.generate_calls == 4


async def test_pipelined_requests_are_answered_in_order(servers: Servers) -> None:
    servers.state.enqueue(
        s.Reply([s.Text("first")]),
        s.Reply([s.Sleep(0.05), s.Text("second")]),
        s.HttpFault(500, {"message": "third", "reason": None}, delay=0.01),
        s.Reply([s.Text("fourth")]),
    )
    request = request_bytes(BODY, token=servers.account.access_token)
    client = await RawHttpClient.open(servers.lean.url)
    try:
        await client.send(request * 4)
        answers = [await client.response(i) for i in range(4)]
    finally:
        await client.close()
    assert [a.status for a in answers] == [200, 200, 500, 200]
    assert answers[0].body == s.text_frame("first")
    assert answers[1].body == s.text_frame("second")
    assert orjson.loads(answers[2].body)["message"] == "third"
    assert answers[3].body == s.text_frame("fourth")


async def test_a_request_split_into_single_bytes_is_parsed(servers: Servers) -> None:
    request = request_bytes(BODY, token=servers.account.access_token)
    client = await RawHttpClient.open(servers.lean.url)
    try:
        for index in range(len(request)):
            await client.send(request[index : index + 1])
        answer = await client.response()
    finally:
        await client.close()
    assert answer.status == 200 and answer.complete
    (record,) = servers.state.requests
    assert record.body == orjson.loads(BODY)


async def test_sleep_steps_send_the_chunks_over_time(servers: Servers) -> None:
    first, second = s.text_frame("first"), s.text_frame("second")
    servers.state.enqueue(s.Reply([s.Text("first"), s.Sleep(0.5), s.Text("second")]))
    client = await RawHttpClient.open(servers.lean.url)
    try:
        await client.send(request_bytes(BODY, token=servers.account.access_token))
        await client.read_until(
            lambda: bool(client.responses) and first in client.responses[0].body
        )
        (answer,) = client.responses
        # The first chunk is out while the server sleeps: the second cannot be there yet.
        assert answer.chunked and answer.body == first and not answer.complete
        answer = await client.response()
    finally:
        await client.close()
    assert answer.complete and answer.body == first + second


async def test_drop_cuts_the_connection_after_the_frames_before_it(servers: Servers) -> None:
    servers.state.enqueue(s.Reply([s.Text("partial"), s.Drop(), s.Text("never")]))
    client = await RawHttpClient.open(servers.lean.url)
    try:
        answer = await client.exchange(request_bytes(BODY, token=servers.account.access_token))
    finally:
        await client.close()
    assert client.eof and answer.status == 200
    assert not answer.complete and answer.body == s.text_frame("partial")
    await _until(lambda: not servers.lean.connections)


async def test_a_stalled_stream_ends_when_its_client_goes_away(servers: Servers) -> None:
    servers.state.enqueue(s.stalled([s.Text("hello")]))
    client = await RawHttpClient.open(servers.lean.url)
    await client.send(request_bytes(BODY, token=servers.account.access_token))
    await client.read_until(lambda: bool(client.responses) and bool(client.responses[0].body))
    (connection,) = servers.lean.connections
    writer = connection._writer
    assert writer is not None and not writer.done()
    await client.close()
    await _until(lambda: writer.done() and not servers.lean.connections)
    assert writer.cancelled()


async def test_a_slow_reader_pauses_the_writer(servers: Servers) -> None:
    """Back-pressure: with the client not reading, the server holds at most about one batch
    beyond the transport's high-water mark instead of the whole reply."""
    bench = s.Benchmark(chunks=300_000, size=64)  # ~32 MB of frames, more than socket buffers
    servers.state.enqueue(bench)
    client = await RawHttpClient.open(servers.lean.url)
    try:
        await client.send(request_bytes(BODY, token=servers.account.access_token))
        await _until(lambda: bool(servers.lean.connections))
        (connection,) = servers.lean.connections
        await _until(lambda: connection._write_paused)
        transport = connection._transport
        assert transport is not None
        assert transport.get_write_buffer_size() < 4 * 65536
        answer = await client.response(limit=60)
    finally:
        await client.close()
    assert answer.complete
    frame = s.text_frame("x" * 64)
    assert answer.body.startswith(frame * 100) and answer.body.count(frame) == bench.chunks


async def test_other_paths_and_methods_get_json_errors(servers: Servers) -> None:
    client = await RawHttpClient.open(servers.lean.url)
    try:
        token = servers.account.access_token
        missing = await client.exchange(request_bytes(b"{}", token=token, path="/getUsageLimits"))
        wrong = await client.exchange(request_bytes(b"", token=token, method="GET"))
        fine = await client.exchange(request_bytes(BODY, token=token))
    finally:
        await client.close()
    assert missing.status == 404 and "/getUsageLimits" in orjson.loads(missing.body)["message"]
    assert wrong.status == 405 and wrong.headers["allow"] == "POST"
    assert missing.headers["content-type"] == wrong.headers["content-type"] == "application/json"
    assert fine.status == 200  # the connection stays usable
    assert servers.state.generate_calls == 1


async def test_a_malformed_request_gets_400_and_a_closed_connection(servers: Servers) -> None:
    client = await RawHttpClient.open(servers.lean.url)
    try:
        answer = await client.exchange(
            b"POST /generateAssistantResponse HTTP/1.1\r\nBad Header\r\n\r\n"
        )
        await client.read_until(lambda: False)
    finally:
        await client.close()
    assert answer.status == 400 and answer.headers["connection"] == "close"
    assert "malformed" in orjson.loads(answer.body)["message"]
    assert client.eof and servers.state.generate_calls == 0


async def test_a_failing_responder_gets_500_and_a_closed_connection(servers: Servers) -> None:
    def responder(body: object) -> s.Scripted | None:
        raise RuntimeError("responder broke")

    servers.state.responder = responder
    client = await RawHttpClient.open(servers.lean.url)
    try:
        answer = await client.exchange(request_bytes(BODY, token=servers.account.access_token))
        await client.read_until(lambda: False)
    finally:
        await client.close()
    assert answer.status == 500 and "responder broke" in orjson.loads(answer.body)["message"]
    assert client.eof


async def test_a_body_past_the_limit_gets_413(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lean_generate, "MAX_BODY_BYTES", 100)
    answer = await one_exchange(
        servers.lean.url, request_bytes(b"x" * 101, token=servers.account.access_token)
    )
    assert answer.status == 413 and servers.state.generate_calls == 0


async def test_connection_close_is_honoured(servers: Servers) -> None:
    client = await RawHttpClient.open(servers.lean.url)
    try:
        request = request_bytes(BODY, token=servers.account.access_token, close=True)
        answer = await client.exchange(request)
        await client.read_until(lambda: False)
    finally:
        await client.close()
    assert answer.status == 200 and answer.headers["connection"] == "close" and client.eof


async def test_expect_continue_gets_an_interim_reply(servers: Servers) -> None:
    request = request_bytes(
        BODY, token=servers.account.access_token, extra={"Expect": "100-continue"}
    )
    head, body = request.split(b"\r\n\r\n", 1)
    reader, writer = await asyncio.open_connection(*servers.lean.url[7:].split(":"))
    try:
        writer.write(head + b"\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(body)
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert status_line == b"HTTP/1.1 200 OK\r\n"


async def test_an_http10_stream_ends_with_the_connection(servers: Servers) -> None:
    servers.state.enqueue(s.Reply([s.Text("a"), s.Sleep(0.01), s.Text("b")]))
    client = await RawHttpClient.open(servers.lean.url)
    try:
        request = request_bytes(BODY, token=servers.account.access_token, version="1.0")
        answer = await client.exchange(request)
    finally:
        await client.close()
    assert answer.status == 200 and not answer.chunked
    assert answer.body == s.text_frame("a") + s.text_frame("b") and client.eof


async def test_closing_the_server_cuts_open_streams(servers: Servers) -> None:
    servers.state.enqueue(s.stalled([s.Text("hello")]))
    client = await RawHttpClient.open(servers.lean.url)
    try:
        await client.send(request_bytes(BODY, token=servers.account.access_token))
        await client.read_until(lambda: bool(client.responses) and bool(client.responses[0].body))
        (connection,) = servers.lean.connections
        writer = connection._writer
        assert writer is not None
        await asyncio.wait_for(servers.lean.close(), 5)
        assert writer.cancelled()  # ended by close(), not left pending for the loop's shutdown
        await client.read_until(lambda: False)
    finally:
        await client.close()
    assert client.eof and not client.responses[0].complete and not servers.lean.connections


# --- the transport-neutral core -------------------------------------------------------------
def test_reply_actions_join_frames_between_control_steps() -> None:
    sleep = s.Sleep(1.0)
    reply = s.Reply(
        [s.Text("a"), s.CorruptNext(2), s.Text("b"), sleep, s.Text("c"), s.Text("d"), s.Stall()]
    )
    assert reply_actions(reply) == [
        s.text_frame("a") + s.corrupt(s.text_frame("b")),
        sleep,
        s.corrupt(s.text_frame("c")) + s.text_frame("d"),
        s.Stall(),
    ]


@pytest.mark.parametrize(
    ("reply", "whole"),
    [
        (s.Reply([s.Text("a"), s.CorruptNext(), s.Text("b")]), True),
        (s.Reply([]), True),
        (s.Reply([s.Text("a"), s.Sleep(0.1)]), False),
        (s.Reply([s.Drop()]), False),
        (s.stalled(), False),
        (s.slow_first_byte(0.1), False),
    ],
)
def test_only_a_reply_without_timing_has_a_whole_body(reply: s.Reply, whole: bool) -> None:
    state = SimState()
    account = state.add_account()
    state.enqueue(reply)
    outcome = decide(
        state,
        "/generateAssistantResponse",
        {"authorization": f"Bearer {account.access_token}"},
        BODY,
    )
    assert isinstance(outcome, Stream)
    assert (outcome.body is not None) is whole
    if whole:
        assert outcome.body == b"".join(a for a in outcome.actions if isinstance(a, bytes))
