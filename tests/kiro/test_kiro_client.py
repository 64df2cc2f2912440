"""KiroClient.generate against the in-process simulator: typed events and typed errors."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from kiro_proxy.kiro.client import KiroClient, UpstreamHttpClient
from kiro_proxy.kiro.errors import (
    KiroConnectionError,
    KiroHTTPError,
    KiroStreamError,
    KiroTimeoutError,
)
from kiro_proxy.kiro.events import (
    ContextUsageEvent,
    ErrorEvent,
    ExceptionEvent,
    KiroEvent,
    MetadataEvent,
    MeteringEvent,
    ReasoningSignatureEvent,
    ReasoningTextEvent,
    TextEvent,
    ToolUseEvent,
)
from kiro_proxy.kiro.http1 import ConnectionCut, ConnectTimeout, ProtocolViolation
from kiro_proxy.kiro.request import KiroRequest
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.testing import client_for, credentials_for, simple_request


@pytest.fixture(params=["builtin", "aiohttp"])
def upstream_http_client(request: pytest.FixtureRequest) -> UpstreamHttpClient:
    """Every test here runs on the lean builtin transport and on aiohttp."""
    return request.param


async def collect(
    client: KiroClient,
    sim: RunningSimulator,
    request: KiroRequest | None = None,
    **cred_overrides: object,
) -> list[KiroEvent]:
    account = next(iter(sim.state.accounts.values()), None) or sim.state.add_account()
    creds = credentials_for(account, **cred_overrides)
    return [event async for event in client.generate(request or simple_request(), creds)]


async def test_default_reply_is_text_with_usage(client: KiroClient, sim: RunningSimulator) -> None:
    events = await collect(client, sim)
    text = "".join(e.text for e in events if isinstance(e, TextEvent))
    assert text == "Hello! This is the Kiro simulator."
    assert any(isinstance(e, MeteringEvent) and e.usage > 0 for e in events)
    assert any(isinstance(e, ContextUsageEvent) for e in events)
    meta = [e for e in events if isinstance(e, MetadataEvent)]
    assert meta and meta[-1].stop_reason == "END_TURN" and (meta[-1].input_tokens or 0) > 0


async def test_default_reply_thinks_when_asked(client: KiroClient, sim: RunningSimulator) -> None:
    request = simple_request("<thinking_mode>enabled</thinking_mode>\n\nHi")
    events = await collect(client, sim, request)
    text = "".join(e.text for e in events if isinstance(e, TextEvent))
    assert text.startswith("<thinking>") and "</thinking>\n\n" in text


async def test_scripted_events_are_typed(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.enqueue(
        s.Reply(
            [
                s.Reasoning("let me think"),
                s.ReasoningSignature("sig-123"),
                s.Text("Checking "),
                s.Text("the weather."),
                s.ToolUse("tooluse_1", "get_weather", {"city": "Paris", "unit": "C"}, fragments=3),
                s.Metering(0.25),
                s.ContextUsage(12.5),
                s.Metadata(
                    uncached_input_tokens=100,
                    output_tokens=40,
                    cache_read_input_tokens=7,
                    cache_write_input_tokens=3,
                    stop_reason="TOOL_USE",
                ),
            ]
        )
    )
    events = await collect(client, sim)
    assert events[0] == ReasoningTextEvent("let me think")
    assert events[1] == ReasoningSignatureEvent("sig-123")
    assert events[2:4] == [TextEvent("Checking "), TextEvent("the weather.")]
    tool = [e for e in events if isinstance(e, ToolUseEvent)]
    assert len(tool) == 4 and tool[-1].stop and not any(t.stop for t in tool[:-1])
    assert orjson.loads("".join(t.input for t in tool)) == {"city": "Paris", "unit": "C"}
    assert {t.tool_use_id for t in tool} == {"tooluse_1"}
    assert MeteringEvent(0.25) in events and ContextUsageEvent(12.5) in events
    meta = events[-1]
    assert isinstance(meta, MetadataEvent)
    assert (meta.input_tokens, meta.output_tokens, meta.cache_read_input_tokens) == (110, 40, 7)
    assert meta.stop_reason == "TOOL_USE"


async def test_request_carries_fingerprint_and_profile_arn(
    client: KiroClient, sim: RunningSimulator
) -> None:
    account = sim.state.add_account(auth_method="social")
    await collect(client, sim)
    record = sim.state.requests[-1]
    assert record.account == account.email and record.status == 200
    assert record.body["profileArn"] == account.profile_arn
    ua = record.headers["user-agent"]
    assert "KiroIDE-0.11.107-" in ua and ua.split("KiroIDE-0.11.107-")[1][:64].isalnum()
    assert record.headers["x-amz-user-agent"].startswith("aws-sdk-js/")
    assert record.headers["x-amzn-kiro-agent-mode"] == "vibe"
    assert record.headers["amz-sdk-request"] == "attempt=1; max=3"
    assert "tokentype" not in {k.lower() for k in record.headers}


async def test_api_key_credentials_send_tokentype(
    client: KiroClient, sim: RunningSimulator
) -> None:
    account = sim.state.add_account(auth_method="api_key")
    events = [e async for e in client.generate(simple_request(), credentials_for(account))]
    assert events
    assert sim.state.requests[-1].headers.get("tokentype") == "API_KEY"


async def test_exception_and_error_frames_are_yielded(
    client: KiroClient, sim: RunningSimulator
) -> None:
    sim.state.enqueue(
        s.Reply(
            [
                s.Text("partial"),
                s.ExceptionFrame("ThrottlingException", "60-minute credit limit exceeded"),
                s.ErrorFrame("InternalError", "boom"),
            ]
        )
    )
    events = await collect(client, sim)
    assert events == [
        TextEvent("partial"),
        ExceptionEvent("ThrottlingException", "60-minute credit limit exceeded"),
        ErrorEvent("InternalError", "boom"),
    ]


@pytest.mark.parametrize(
    ("fault", "status", "flag"),
    [
        (s.bad_request(), 400, "is_bad_request"),
        (s.input_too_long(), 400, "is_context_too_long"),
        (s.quota_exhausted(), 402, "is_quota_exhausted"),
        (s.invalid_token(), 403, "is_invalid_token"),
        (s.suspended(), 403, "is_suspended"),
        (s.server_error(500), 500, "is_transient"),
        (s.server_error(503), 503, "is_transient"),
    ],
)
async def test_http_faults_raise_typed_errors(
    client: KiroClient, sim: RunningSimulator, fault: s.HttpFault, status: int, flag: str
) -> None:
    sim.state.enqueue(fault)
    with pytest.raises(KiroHTTPError) as caught:
        await collect(client, sim)
    error = caught.value
    assert error.status == status and getattr(error, flag)
    flags = [
        "is_bad_request",
        "is_context_too_long",
        "is_quota_exhausted",
        "is_invalid_token",
        "is_suspended",
        "is_throttled",
        "is_transient",
    ]
    assert [f for f in flags if getattr(error, f)] == [flag]


async def test_throttle_falls_back_to_other_endpoint(
    client: KiroClient, sim: RunningSimulator
) -> None:
    # Both endpoints point at the simulator; distinct URLs make the fallback observable.
    client.api_url = sim.url.replace("127.0.0.1", "localhost")
    sim.state.enqueue(s.throttled(retry_after=7))
    events = await collect(client, sim)
    assert TextEvent("Hello! ") in events
    assert [r.status for r in sim.state.requests] == [429, 200]
    assert sim.state.requests[-1].headers["host"].startswith("localhost")


async def test_throttle_on_every_endpoint_raises_with_retry_after(
    client: KiroClient, sim: RunningSimulator
) -> None:
    client.api_url = sim.url.replace("127.0.0.1", "localhost")
    sim.state.enqueue(s.throttled(retry_after=7), s.throttled(retry_after=3))
    with pytest.raises(KiroHTTPError) as caught:
        await collect(client, sim)
    assert caught.value.is_throttled and caught.value.retry_after == 3


async def test_amazonq_preference_goes_first(client: KiroClient, sim: RunningSimulator) -> None:
    client.api_url = sim.url.replace("127.0.0.1", "localhost")
    account = sim.state.add_account()
    events = [
        e
        async for e in client.generate(
            simple_request(), credentials_for(account), endpoint="amazonq"
        )
    ]
    assert events and sim.state.requests[-1].headers["host"].startswith("localhost")


async def test_unknown_token_is_invalid_token(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.add_account()
    with pytest.raises(KiroHTTPError) as caught:
        await collect(client, sim, access_token="not-a-token")
    assert caught.value.is_invalid_token and "not-a-token" not in str(caught.value)


async def test_expired_token_is_invalid_token(client: KiroClient, sim: RunningSimulator) -> None:
    account = sim.state.add_account()
    sim.state.expire_access_token(account)
    with pytest.raises(KiroHTTPError) as caught:
        await collect(client, sim)
    assert caught.value.is_invalid_token


async def test_connection_refused_is_connection_error(
    sim: RunningSimulator, upstream_http_client: UpstreamHttpClient
) -> None:
    kiro = client_for(
        "http://127.0.0.1:9", connect_timeout=1, upstream_http_client=upstream_http_client
    )
    await kiro.start()
    try:
        with pytest.raises(KiroConnectionError):
            await collect(kiro, sim)
    finally:
        await kiro.close()


async def test_dropped_connection_mid_stream(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.enqueue(s.Reply([s.Text("before the cut"), s.Sleep(0.05), s.Drop()]))
    seen: list[KiroEvent] = []
    with pytest.raises(KiroConnectionError):
        async for event in client.generate(
            simple_request(), credentials_for(sim.state.add_account())
        ):
            seen.append(event)
    assert seen == [TextEvent("before the cut")]


async def test_stream_cut_mid_frame_is_stream_error(
    client: KiroClient, sim: RunningSimulator
) -> None:
    frame = s.text_frame("whole frame")
    sim.state.enqueue(s.Reply([s.Text("ok"), s.Raw(frame[:10])]))
    with pytest.raises(KiroStreamError):
        await collect(client, sim)


async def test_slow_first_byte_times_out(
    sim: RunningSimulator, upstream_http_client: UpstreamHttpClient
) -> None:
    kiro = client_for(
        sim.url, first_byte_timeout=0.2, idle_timeout=5, upstream_http_client=upstream_http_client
    )
    await kiro.start()
    sim.state.enqueue(s.slow_first_byte(1.0))
    try:
        with pytest.raises(KiroTimeoutError) as caught:
            await collect(kiro, sim)
        assert caught.value.phase == "first_byte"
    finally:
        await kiro.close()


async def test_stalled_stream_hits_idle_timeout(
    sim: RunningSimulator, upstream_http_client: UpstreamHttpClient
) -> None:
    kiro = client_for(
        sim.url, first_byte_timeout=5, idle_timeout=0.2, upstream_http_client=upstream_http_client
    )
    await kiro.start()
    sim.state.enqueue(s.stalled([s.Text("first")]))
    seen: list[KiroEvent] = []
    try:
        with pytest.raises(KiroTimeoutError) as caught:
            async for event in kiro.generate(
                simple_request(), credentials_for(sim.state.add_account())
            ):
                seen.append(event)
        assert caught.value.phase == "idle" and seen == [TextEvent("first")]
    finally:
        await kiro.close()


async def test_slow_chunks_within_idle_timeout_are_fine(
    client: KiroClient, sim: RunningSimulator
) -> None:
    sim.state.enqueue(s.Reply([s.Text("a"), s.Sleep(0.3), s.Text("b"), s.Sleep(0.3), s.Text("c")]))
    events = await collect(client, sim)
    assert [e.text for e in events if isinstance(e, TextEvent)] == ["a", "b", "c"]


async def test_single_corrupt_frame_is_skipped(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.enqueue(s.Reply([s.Text("one"), s.CorruptNext(), s.Text("lost"), s.Text("two")]))
    events = await collect(client, sim)
    assert [e.text for e in events if isinstance(e, TextEvent)] == ["one", "two"]


async def test_repeated_corruption_is_stream_error(
    client: KiroClient, sim: RunningSimulator
) -> None:
    sim.state.enqueue(s.Reply([s.CorruptNext(6), *(s.Text(f"t{i}") for i in range(6))]))
    with pytest.raises(KiroStreamError):
        await collect(client, sim)


async def test_benchmark_stream(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.enqueue(s.Benchmark(chunks=2000, size=8))
    events = await collect(client, sim)
    texts = [e for e in events if isinstance(e, TextEvent)]
    assert len(texts) == 2000 and all(len(e.text) == 8 for e in texts)
    assert isinstance(events[-1], MetadataEvent)


async def test_sticky_always_mode(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.set_always(s.simple_text_reply("always"))
    for _ in range(3):
        events = await collect(client, sim)
        assert TextEvent("always") in events


async def test_per_account_queue_wins_over_global(
    client: KiroClient, sim: RunningSimulator
) -> None:
    first, second = sim.state.add_account(), sim.state.add_account()
    sim.state.enqueue(s.simple_text_reply("global"))
    sim.state.enqueue(s.simple_text_reply("mine"), account=second)
    a = [e async for e in client.generate(simple_request(), credentials_for(second))]
    b = [e async for e in client.generate(simple_request(), credentials_for(first))]
    assert TextEvent("mine") in a and TextEvent("global") in b


async def test_consumer_can_stop_early(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.enqueue(s.Benchmark(chunks=50000, size=32))
    stream = client.generate(simple_request(), credentials_for(sim.state.add_account()))
    async for event in stream:
        assert isinstance(event, TextEvent)
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert await collect(client, sim)  # the pool still works afterwards


def test_transport_errors_map_to_their_phase() -> None:
    # aiohttp's connect timeout is both a ClientError and a TimeoutError; a socket read timeout
    # is a ClientError too: only a bare TimeoutError (asyncio.timeout) is the first-byte limit.
    kiro = client_for("http://127.0.0.1:9", first_byte_timeout=7)
    url = "http://kiro.example/generateAssistantResponse"
    connect = kiro._transport_error(aiohttp.ConnectionTimeoutError(), url)
    assert isinstance(connect, KiroTimeoutError) and connect.phase == "connect"
    first_byte = kiro._transport_error(TimeoutError(), url)
    assert isinstance(first_byte, KiroTimeoutError) and first_byte.phase == "first_byte"
    for exc in (aiohttp.SocketTimeoutError(), aiohttp.ClientOSError(), ConnectionResetError()):
        mapped = kiro._transport_error(exc, url)
        assert type(mapped) is KiroConnectionError and "kiro.example" in str(mapped)
    # The lean transport's own exceptions map the same way.
    lean_connect = kiro._transport_error(ConnectTimeout(), url)
    assert isinstance(lean_connect, KiroTimeoutError) and lean_connect.phase == "connect"
    for exc in (ConnectionCut("cut"), ProtocolViolation("bad")):
        mapped = kiro._transport_error(exc, url)
        assert type(mapped) is KiroConnectionError and "kiro.example" in str(mapped)
