"""TokenManager: single-flight refresh, endpoints per auth method, token bookkeeping."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from kiro_proxy.kiro.errors import TokenRefreshError
from kiro_proxy.pool.dispatcher import RequestContext
from kiro_proxy.pool.tokens import RefreshFailed
from kiro_proxy.simulator.testing import simple_request

REQUEST = simple_request()


def ctx() -> RequestContext:
    return RequestContext(route="/v1/messages", model="claude-sonnet-4.5", stream=False)


async def test_concurrent_callers_share_one_refresh(kit: Any) -> None:
    account = kit.add("a", expires_at=kit.clock.now - 1)
    await asyncio.gather(*(kit.tokens.ensure_fresh(account) for _ in range(200)))
    assert kit.client.refresh_calls == [("social", "a")]
    assert not kit.tokens.needs_refresh(account)


async def test_idc_uses_oidc_and_keeps_refresh_token_when_none_returned(kit: Any) -> None:
    account = kit.add("a", auth_method="idc", client_id="cid", client_secret="cs", expires_at=None)
    await kit.tokens.ensure_fresh(account)
    assert kit.client.refresh_calls == [("oidc", "a")]
    assert account.refresh_token == "refresh-a"
    assert account.expires_at == kit.clock.now + 3600


async def test_rotated_refresh_token_is_stored(kit: Any) -> None:
    kit.client.rotate_refresh_tokens = True
    account = kit.add("a", expires_at=None)
    await kit.tokens.ensure_fresh(account)
    assert account.refresh_token != "refresh-a" and account.refresh_token.startswith("refresh-a-")


async def test_stale_token_refresh_is_skipped_when_someone_else_refreshed(kit: Any) -> None:
    account = kit.add("a")
    before = account.access_token
    await kit.tokens.refresh(account, stale_access_token="an-older-token")
    assert kit.client.refresh_calls == []
    assert account.access_token == before


async def test_invalid_grant_disables(kit: Any) -> None:
    account = kit.add("a", expires_at=None)
    kit.client.refresh_outcomes["a"].append(
        TokenRefreshError(400, "invalid_grant", "Invalid refresh token provided")
    )
    try:
        await kit.tokens.ensure_fresh(account)
    except RefreshFailed as exc:
        assert exc.permanent
    else:
        raise AssertionError("expected RefreshFailed")
    assert not account.enabled and "re-login" in account.disabled_reason


async def test_api_key_accounts_never_refresh(kit: Any) -> None:
    account = kit.add(
        "a", auth_method="api_key", refresh_token=None, access_token="ksk_x", expires_at=None
    )
    await kit.tokens.ensure_fresh(account)
    await kit.tokens.refresh(account)  # even asked explicitly (the admin's refresh button)
    assert kit.client.refresh_calls == []
    assert account.access_token == "ksk_x" and account.enabled


async def test_background_pass_refreshes_only_expiring(kit: Any) -> None:
    kit.add("soon", expires_at=kit.clock.now + 120)
    kit.add("later", expires_at=kit.clock.now + 3000)
    kit.add("off", expires_at=kit.clock.now + 10, enabled=False)
    assert await kit.tokens.refresh_expiring(horizon_seconds=600) == 1
    assert kit.client.refresh_calls == [("social", "soon")]


async def test_refresh_survives_a_cancelled_waiter(kit: Any) -> None:
    account = kit.add("a", expires_at=None)
    kit.client.refresh_delay = 0.05
    first = asyncio.create_task(kit.tokens.ensure_fresh(account))
    second = asyncio.create_task(kit.tokens.ensure_fresh(account))
    await asyncio.sleep(0.01)
    first.cancel()
    await second
    assert len(kit.client.refresh_calls) == 1 and account.access_token.startswith("access-a-")


def test_machine_id_on_the_wire_follows_the_stored_one(kit: Any) -> None:
    """credentials() remembers each stored id's wire form: a changed id is seen at once, a UUID
    is widened, and an unusable one is replaced by a derived id that is stored and kept."""
    account = kit.add("m", machine_id="0" * 64)
    assert kit.tokens.credentials(account).machine_id == "0" * 64
    assert kit.tokens.credentials(account).machine_id == "0" * 64
    account.machine_id = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"  # e.g. an admin edit
    widened = "aaaaaaaabbbbccccddddeeeeeeeeeeee" * 2
    assert kit.tokens.credentials(account).machine_id == widened
    assert account.machine_id == "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"  # stored as given
    account.machine_id = "not a machine id"
    derived = kit.tokens.credentials(account).machine_id
    assert len(derived) == 64 and int(derived, 16) >= 0
    assert account.machine_id == derived
    assert kit.tokens.credentials(account).machine_id == derived
    other = kit.add("n", machine_id=None)
    assert kit.tokens.credentials(other).machine_id == other.machine_id != derived


async def test_close_cancels_a_refresh_and_the_request_waiting_on_it_marks_no_failure(
    kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Shutdown: the background job started a refresh (then was stopped; the refresh is
    shielded and goes on) and a request waits on it. close() ends the refresh; the request is
    cancelled, not failed over: no cooldown, no failure count, tokens untouched, no WARNING."""
    caplog.set_level(logging.INFO)
    kit.client.refresh_delay = 3600
    account = kit.add("a", expires_at=kit.clock.now - 1)
    job = asyncio.create_task(kit.tokens.refresh_expiring(horizon_seconds=600))
    for _ in range(1000):  # the refresh reaches the client after a few loop turns
        if kit.client.refresh_calls:
            break
        await asyncio.sleep(0)
    request = asyncio.create_task(kit.dispatcher.open_reply(REQUEST, context=ctx()))
    await asyncio.sleep(0)
    job.cancel()  # as BackgroundJobs.stop() does

    await kit.tokens.close()

    # A guard against hanging (a refresh left running holds both for an hour), not a timing.
    done, _ = await asyncio.wait({request, job}, timeout=10)
    assert done == {request, job}
    for task in (request, job):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert kit.client.refresh_calls == [("social", "a")]
    assert account.enabled and account.cooldown_until == 0.0
    assert account.consecutive_failures == 0 and account.access_token == "access-a-0"
    assert kit.tokens.needs_refresh(account) and not kit.tokens.refresh_paused(account)
    assert kit.recorder.totals.failed_requests == 0
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    await kit.tokens.close()  # again: nothing left to do
