"""Dispatcher failure paths against a scripted fake client (fast, deterministic)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from kiro_proxy.errors import (
    InvalidRequestError,
    OverloadedError,
    PermissionDeniedError,
    PromptTooLongError,
    RateLimitError,
    UpstreamError,
)
from kiro_proxy.kiro.errors import (
    KiroConnectionError,
    KiroHTTPError,
    KiroTimeoutError,
    TokenRefreshError,
)
from kiro_proxy.kiro.events import ExceptionEvent, MeteringEvent, TextEvent
from kiro_proxy.kiro.request import KiroRequest
from kiro_proxy.pool.dispatcher import RequestContext

REQUEST: Any = object.__new__(KiroRequest)


def ctx() -> RequestContext:
    return RequestContext(route="/v1/messages", model="claude-sonnet-4.5", stream=True)


async def collect(reply: Any) -> list[Any]:
    return [event async for event in reply]


async def test_success_yields_first_event_then_rest(kit: Any) -> None:
    kit.add("a")
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "a" and reply.account_label == "a@example.com"
    events = await collect(reply)
    assert events == [TextEvent("hi"), MeteringEvent(0.25)]
    reply.finish(status="success", input_tokens=10, output_tokens=5, credits=0.25)
    account = kit.pool.get("a")
    assert (account.request_count, account.success_count, account.in_flight) == (1, 1, 0)
    assert kit.recorder.totals.total_tokens == 15


async def test_invalid_token_refreshes_once_and_retries_same_account(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(
        KiroHTTPError(403, None, "The bearer token included in the request is invalid")
    )
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "a"
    assert kit.client.refresh_calls == [("social", "a")]
    assert kit.pool.get("a").access_token.startswith("access-a-")
    assert kit.pool.get("a").profile_arn == "arn:a"
    assert [c[0] for c in kit.client.generate_calls] == ["a", "a"]


async def test_invalid_token_twice_moves_on(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    bad = KiroHTTPError(401, None, "expired")
    kit.client.outcomes["a"].extend([bad, bad])
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    assert len(kit.client.refresh_calls) == 1
    assert kit.pool.get("a").cooldown_until > kit.clock.now


async def test_suspended_account_is_disabled_with_reason(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(
        KiroHTTPError(403, None, "Your account temporarily is suspended")
    )
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    a = kit.pool.get("a")
    assert not a.enabled and "suspended" in a.disabled_reason
    assert kit.client.refresh_calls == []


async def test_monthly_quota_parks_until_first_of_next_month(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(
        KiroHTTPError(402, "MONTHLY_REQUEST_COUNT", "You have reached the limit.")
    )
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    until = datetime.fromtimestamp(kit.pool.get("a").quota_exhausted_until, tz=UTC)
    now = datetime.fromtimestamp(kit.clock.now, tz=UTC)
    assert (until.day, until.hour, until.minute) == (1, 0, 0)
    assert until > now and (until - now).days <= 31


async def test_monthly_quota_uses_known_reset_date(kit: Any) -> None:
    kit.add("a", reset_at=kit.clock.now + 5 * 86400)
    kit.add("b")
    kit.client.outcomes["a"].append(KiroHTTPError(402, "MONTHLY_REQUEST_COUNT", "limit"))
    await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert kit.pool.get("a").quota_exhausted_until == kit.clock.now + 5 * 86400


async def test_throttle_cools_down_with_backoff_honouring_retry_after(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(KiroHTTPError(429, None, "Too many requests", retry_after=120))
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    assert kit.pool.get("a").cooldown_until >= kit.clock.now + 120


async def test_transient_error_cooldown_honours_retry_after(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(KiroHTTPError(503, None, "Unavailable", retry_after=120))
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    # Far above the transient backoff (2 s, plus jitter) for a first failure.
    assert kit.pool.get("a").cooldown_until >= kit.clock.now + 120


async def test_throttle_backoff_grows(kit: Any) -> None:
    a = kit.add("a")
    delays = []
    for _ in range(4):
        a.cooldown_until = 0.0
        kit.client.outcomes["a"].append(KiroHTTPError(429, None, "slow down"))
        with pytest.raises(RateLimitError):
            await kit.dispatcher.open_reply(REQUEST, context=ctx())
        delays.append(a.cooldown_until - kit.clock.now)
    assert delays == sorted(delays) and delays[-1] >= 4 * delays[0] * 0.8


@pytest.mark.parametrize(
    "failure",
    [
        KiroHTTPError(500, None, "Internal"),
        KiroHTTPError(503, None, "Unavailable"),
        KiroTimeoutError("first_byte", 120),
        KiroConnectionError("connection reset"),
        [ExceptionEvent("InternalServerException", "boom")],
        [],
    ],
    ids=["500", "503", "timeout", "connection", "exception-frame", "empty"],
)
async def test_transient_failures_fail_over(kit: Any, failure: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(failure)
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    assert kit.pool.get("a").cooldown_until > kit.clock.now
    assert kit.pool.get("a").enabled


async def test_context_too_long_goes_to_client_without_retry(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(
        KiroHTTPError(400, "CONTENT_LENGTH_EXCEEDS_THRESHOLD", "Input is too long.")
    )
    with pytest.raises(PromptTooLongError) as info:
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert "prompt is too long" in info.value.message
    assert len(kit.client.generate_calls) == 1
    assert kit.pool.get("a").cooldown_until == 0.0
    assert kit.recorder.totals.failed_requests == 1


async def test_bad_request_carries_upstream_message(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append(KiroHTTPError(400, None, "Improperly formed request."))
    with pytest.raises(InvalidRequestError) as info:
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert "Improperly formed request." in info.value.message
    assert len(kit.client.generate_calls) == 1


async def test_invalid_grant_disables_and_moves_on(kit: Any) -> None:
    kit.add("a", expires_at=kit.clock.now - 10)
    kit.add("b")
    kit.client.refresh_outcomes["a"].append(
        TokenRefreshError(400, "invalid_grant", "Invalid refresh token provided")
    )
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    a = kit.pool.get("a")
    assert not a.enabled and "invalid_grant" in a.disabled_reason


async def test_transient_refresh_failure_cools_down_only(kit: Any) -> None:
    kit.add("a", expires_at=kit.clock.now - 10)
    kit.add("b")
    kit.client.refresh_outcomes["a"].append(TokenRefreshError(503, None, "try later"))
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "b"
    assert kit.pool.get("a").enabled and kit.pool.get("a").cooldown_until > kit.clock.now


async def test_attempts_bounded_by_max_attempts(kit_factory: Any) -> None:
    kit = kit_factory(max_attempts=2)
    for name in "abcd":
        kit.add(name)
        kit.client.outcomes[name].append(KiroHTTPError(500, None, "down"))
    with pytest.raises(UpstreamError) as info:
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert len(kit.client.generate_calls) == 2
    assert "2 attempts" in info.value.message


async def test_each_account_tried_at_most_once(kit_factory: Any) -> None:
    kit = kit_factory(max_attempts=10)
    for name in "ab":
        kit.add(name)
        kit.client.outcomes[name].append(KiroHTTPError(500, None, "down"))
    with pytest.raises(OverloadedError) as info:
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert sorted(c[0] for c in kit.client.generate_calls) == ["a", "b"]
    assert "all 2 accounts are cooling down; next available in" in info.value.message


async def test_succeeds_whenever_one_healthy_account_exists(kit_factory: Any) -> None:
    kit = kit_factory(max_attempts=5)
    failures = [
        KiroHTTPError(403, None, "account suspended"),
        KiroHTTPError(402, "MONTHLY_REQUEST_COUNT", "limit"),
        KiroHTTPError(429, None, "slow"),
        KiroHTTPError(502, None, "bad gateway"),
    ]
    for index, failure in enumerate(failures):
        kit.add(f"bad{index}")
        kit.client.outcomes[f"bad{index}"].append(failure)
    kit.add("good")
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert reply.account_id == "good"


async def test_no_accounts_message(kit: Any) -> None:
    with pytest.raises(OverloadedError) as info:
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert "no Kiro accounts" in info.value.message


async def test_overloaded_message_counts_cooldowns(kit: Any) -> None:
    for name in "abc":
        kit.add(name, cooldown_until=kit.clock.now + 42)
    kit.pool.get("a").cooldown_until = kit.clock.now + 100
    with pytest.raises(OverloadedError) as info:
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert info.value.message == "all 3 accounts are cooling down; next available in 42 s"


async def test_mid_stream_error_is_not_retried(kit: Any) -> None:
    kit.add("a")
    kit.add("b")
    kit.client.outcomes["a"].append([TextEvent("par"), KiroConnectionError("cut")])
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    with pytest.raises(KiroConnectionError):
        await collect(reply)
    reply.finish(
        status="error", input_tokens=0, output_tokens=1, credits=0, error_kind="connection"
    )
    assert len(kit.client.generate_calls) == 1
    assert kit.pool.get("a").error_count == 1 and kit.recorder.totals.failed_requests == 1


async def test_cancelled_finish_counts_neither_success_nor_failure(kit: Any) -> None:
    kit.add("a")
    reply = await kit.dispatcher.open_reply(REQUEST, context=ctx())
    await reply.aclose()
    reply.finish(status="cancelled", input_tokens=3, output_tokens=0, credits=0)
    reply.finish(status="success", input_tokens=3, output_tokens=0, credits=0)  # ignored
    totals = kit.recorder.totals
    assert (totals.total_requests, totals.success_requests, totals.failed_requests) == (1, 0, 0)
    assert kit.pool.get("a").in_flight == 0


async def test_client_disconnect_during_failover_records_cancelled(kit: Any) -> None:
    kit.add("a", expires_at=kit.clock.now - 1)
    kit.client.refresh_delay = 10
    task = asyncio.create_task(kit.dispatcher.open_reply(REQUEST, context=ctx()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert kit.recorder.totals.total_requests == 1
    assert kit.pool.get("a").in_flight == 0


async def test_endpoint_preference_and_proxies_reach_the_client(kit: Any) -> None:
    kit.tokens.set_global_proxy("socks5://127.0.0.1:1080")
    kit.dispatcher.preferred_endpoint = "amazonq"
    kit.add("a")
    kit.add("b", proxy_url="http://user:pw@127.0.0.1:3128")
    kit.add("c", proxy_url="direct")
    for _ in range(3):
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    seen = {
        owner: (creds.proxy_url, endpoint) for owner, creds, endpoint in kit.client.generate_calls
    }
    assert seen == {
        "a": ("socks5://127.0.0.1:1080", "amazonq"),
        "b": ("http://user:pw@127.0.0.1:3128", "amazonq"),
        "c": ("direct", "amazonq"),
    }
    assert all(len(creds.machine_id) == 64 for _, creds, _ in kit.client.generate_calls)


async def test_access_refused_by_every_account_is_permission_denied(kit: Any) -> None:
    for name in "ab":
        kit.add(name)
        kit.client.outcomes[name].append(KiroHTTPError(403, None, "AccessDeniedException"))
    with pytest.raises(PermissionDeniedError, match="refused access for every account"):
        await kit.dispatcher.open_reply(REQUEST, context=ctx())


async def test_quota_exhausted_everywhere_is_rate_limited_with_retry_hint(kit: Any) -> None:
    for name in "ab":
        kit.add(name)
        kit.client.outcomes[name].append(KiroHTTPError(402, "MONTHLY_REQUEST_COUNT", "limit"))
    with pytest.raises(RateLimitError, match="out of monthly quota") as info:
        await kit.dispatcher.open_reply(REQUEST, context=ctx())
    assert info.value.retry_after is not None and info.value.retry_after > 3600
