"""Every fault the simulator can inject, on both client APIs, streaming and not: the client gets
the right answer (through failover when another account is healthy) or a clear error in its own
API's shape, within a bounded time. Nothing hangs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
import pytest

from kiro_proxy.simulator import script as sim
from kiro_proxy.simulator.generate import DEFAULT_TEXT
from kiro_proxy.simulator.script import (
    CorruptNext,
    Drop,
    ErrorFrame,
    ExceptionFrame,
    Reply,
    Scripted,
    Stall,
    Text,
)
from tests.e2e.stack import LiveStack
from tests.reliability.reliability_harness import Api, Outcome, send

Expect = Literal["ok", "bad_request", "prompt_too_long", "mid_stream_error", "unavailable"]
# Worst case: three attempts, each cut by a 1 s first-byte/idle timeout, plus scheduling slack.
BOUND_SECONDS = 6.0


@dataclass(frozen=True)
class Fault:
    name: str
    scripts: Callable[[], list[Scripted]]
    expect: Expect


def _partial(*tail: object) -> Reply:
    return Reply([Text("partial answer "), *tail])  # type: ignore[list-item]


FAULTS = [
    Fault("http_400_improper", lambda: [sim.bad_request()], "bad_request"),
    Fault("http_400_input_too_long", lambda: [sim.input_too_long()], "prompt_too_long"),
    Fault("http_402_quota", lambda: [sim.quota_exhausted()], "ok"),
    Fault("http_403_invalid_token", lambda: [sim.invalid_token()], "ok"),
    Fault("http_403_suspended", lambda: [sim.suspended()], "ok"),
    Fault("http_429_throttled", lambda: [sim.throttled(retry_after=1)], "ok"),
    Fault("http_500", lambda: [sim.server_error(500)], "ok"),
    Fault("http_503", lambda: [sim.server_error(503)], "ok"),
    Fault("http_500_on_every_account", lambda: [sim.server_error(500)] * 3, "unavailable"),
    Fault(
        "exception_frame_first",
        lambda: [Reply([ExceptionFrame("InternalServerException", "boom")])],
        "ok",
    ),
    Fault(
        "throttling_exception_first",
        lambda: [Reply([ExceptionFrame("ThrottlingException", "Too many requests")])],
        "ok",
    ),
    Fault(
        "exception_frame_mid_stream",
        lambda: [_partial(ExceptionFrame("InternalServerException", "boom mid-stream"))],
        "mid_stream_error",
    ),
    Fault("error_frame_first", lambda: [Reply([ErrorFrame("InternalError", "bad")])], "ok"),
    Fault(
        "error_frame_mid_stream",
        lambda: [_partial(ErrorFrame("InternalError", "bad mid-stream"))],
        "mid_stream_error",
    ),
    Fault("drop_before_first_event", lambda: [Reply([Drop()])], "ok"),
    Fault("drop_mid_stream", lambda: [_partial(Drop())], "mid_stream_error"),
    Fault("slow_first_byte", lambda: [sim.slow_first_byte(2.5)], "ok"),
    Fault("stall_before_first_event", lambda: [Reply([Stall()])], "ok"),
    Fault("stall_mid_stream", lambda: [sim.stalled([Text("partial answer ")])], "mid_stream_error"),
    Fault(
        "corrupt_crc_first_frame",
        lambda: [Reply([CorruptNext(5), Text("a"), Text("b"), Text("c"), Text("d"), Text("e")])],
        "ok",
    ),
    Fault(
        "corrupt_crc_mid_stream",
        lambda: [_partial(CorruptNext(5), *(Text(c) for c in "abcdefgh"))],
        "mid_stream_error",
    ),
]
MODES = [(api, stream) for api in ("anthropic", "openai") for stream in (False, True)]


def _check(fault: Fault, api: Api, stream: bool, outcome: Outcome) -> None:
    where = f"{fault.name} {api} stream={stream}: {outcome.status} {outcome.raw[:400]!r}"
    assert outcome.seconds < BOUND_SECONDS, f"took {outcome.seconds:.1f}s: {where}"
    if fault.expect == "ok":
        assert outcome.ok, where
        assert outcome.text == DEFAULT_TEXT, where
        return
    if fault.expect == "mid_stream_error" and stream:
        # Bytes were already out: no retry, an error event in the API's shape ends the stream.
        assert outcome.status == 200, where
        assert outcome.error is not None, where
        assert outcome.text.startswith("partial answer"), where
        if api == "anthropic":
            assert b"message_stop" not in outcome.raw, where
        else:
            assert outcome.raw.rstrip().endswith(b"data: [DONE]"), where
        return
    # Everything else is an error before any byte: a JSON error body with the right status.
    assert outcome.error is not None, where
    kind, message = outcome.error
    if fault.expect in ("bad_request", "prompt_too_long"):
        assert outcome.status == 400, where
        assert kind == "invalid_request_error", where
        if fault.expect == "prompt_too_long":
            assert "prompt is too long" in message, where  # Claude Code compacts on this text
    elif fault.expect == "mid_stream_error":
        assert outcome.status == 502, where
    else:  # unavailable: every account failed
        allowed = {502, 529} if api == "anthropic" else {502, 503}
        assert outcome.status in allowed, where
        assert "attempt" in message or "account" in message, where


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault_gives_an_answer_or_a_clean_error(rstack: LiveStack, fault: Fault) -> None:
    async with httpx.AsyncClient(base_url=rstack.url, timeout=30) as http:
        for api, stream in MODES:
            rstack.reset()
            rstack.enqueue(*fault.scripts())
            outcome = await send(http, api, stream=stream)  # type: ignore[arg-type]
            _check(fault, api, stream, outcome)  # type: ignore[arg-type]


@pytest.mark.parametrize(("api", "stream"), MODES)
async def test_refused_refresh_disables_the_account_and_fails_over(
    rstack: LiveStack, api: Api, stream: bool
) -> None:
    """invalid_grant: the access token is refused, the refresh token revoked. The request moves
    to the healthy account; the broken one is disabled (not retried on every request)."""
    broken = rstack.accounts[0]
    rstack.call(lambda: rstack.state.expire_access_token(broken))
    rstack.call(lambda: rstack.state.revoke_refresh_token(broken))
    try:
        async with httpx.AsyncClient(base_url=rstack.url, timeout=30) as http:
            # Round-robin: two requests reach both accounts, whichever comes first.
            outcomes = [await send(http, api, stream=stream) for _ in range(2)]
        for outcome in outcomes:
            assert outcome.ok, outcome.raw[:300]
            assert outcome.text == DEFAULT_TEXT
            assert outcome.seconds < BOUND_SECONDS
        pool_account = next(a for a in rstack.runtime.pool.all() if a.email == broken.email)
        assert not pool_account.enabled
        assert pool_account.disabled_reason
    finally:
        broken.refresh_revoked = False
