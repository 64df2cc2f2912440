"""The pool end to end against the Kiro simulator and the real KiroClient (no database)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kiro_proxy.admin.accounts_view import account_state
from kiro_proxy.errors import (
    InvalidRequestError,
    OverloadedError,
    PromptTooLongError,
    RateLimitError,
)
from kiro_proxy.kiro.events import TextEvent
from kiro_proxy.pool.account import Account
from kiro_proxy.pool.dispatcher import Dispatcher, RequestContext
from kiro_proxy.pool.pool import AccountPool
from kiro_proxy.pool.tokens import (
    REFRESH_GRACE_SECONDS,
    REFRESH_RETRY_PAUSE_SECONDS,
    TokenManager,
)
from kiro_proxy.pool.usage import UsageRecorder
from kiro_proxy.simulator import script
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.state import SimAccount
from kiro_proxy.simulator.testing import client_for, simple_request


class World:
    def __init__(self, sim: Any, client: Any) -> None:
        self.sim = sim
        self.state = sim.state
        self.client = client
        self.offset = 0.0  # added to the pool's clock: lets a test wait out a cooldown
        self.pool = AccountPool("round-robin", clock=lambda: time.time() + self.offset)
        self.tokens = TokenManager(client, self.pool)
        self.recorder = UsageRecorder()
        self.dispatcher = Dispatcher(client, self.pool, self.tokens, self.recorder, max_attempts=5)
        self.sim_accounts: dict[str, SimAccount] = {}

    def add(self, name: str, *, auth_method: str = "social", fresh: bool = True) -> Account:
        sim_account = self.state.add_account(f"{name}@example.com", auth_method=auth_method)
        self.sim_accounts[name] = sim_account
        account = Account(
            id=name,
            email=sim_account.email,
            auth_method=auth_method,  # type: ignore[arg-type]
            refresh_token=sim_account.refresh_token,
            access_token=sim_account.access_token if fresh else None,
            expires_at=sim_account.access_expires_at if fresh else None,
            client_id=sim_account.client_id,
            client_secret=sim_account.client_secret,
            created_at=len(self.pool),
        )
        self.pool.upsert(account)
        return account

    async def ask(self) -> str:
        context = RequestContext(route="/v1/messages", model="claude-sonnet-4.5", stream=True)
        reply = await self.dispatcher.open_reply(simple_request(), context=context)
        text = "".join([e.text async for e in reply if isinstance(e, TextEvent)])
        reply.finish(status="success", input_tokens=1, output_tokens=1, credits=0.0)
        return reply.account_id + ":" + text


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sim = await start_simulator()
    client = client_for(sim.url)
    await client.start()
    try:
        yield World(sim, client)
    finally:
        await client.close()
        await sim.close()


async def test_expired_token_two_hundred_concurrent_requests_one_refresh(world: World) -> None:
    account = world.add("a")
    world.state.expire_access_token(world.sim_accounts["a"])
    account.expires_at = world.pool.clock() - 1  # we know it expired, as after a restart
    results = await asyncio.gather(*(world.ask() for _ in range(200)))
    assert all(r.startswith("a:") for r in results)
    assert world.state.refresh_calls == 1


async def test_token_expired_upstream_but_not_locally_refreshes_once(world: World) -> None:
    world.add("a")
    world.state.expire_access_token(world.sim_accounts["a"])  # upstream answers 403 invalid token
    results = await asyncio.gather(*(world.ask() for _ in range(50)))
    assert all(r.startswith("a:") for r in results)
    assert world.state.refresh_calls == 1


async def test_idc_refresh_uses_oidc_endpoint(world: World) -> None:
    world.add("a", auth_method="idc", fresh=False)
    assert (await world.ask()).startswith("a:")
    assert (world.state.oidc_refresh_calls, world.state.refresh_calls) == (1, 0)


@pytest.mark.parametrize(
    "fault",
    [
        script.suspended(),
        script.quota_exhausted(),
        script.throttled(retry_after=30),
        script.server_error(500),
        script.server_error(503),
    ],
    ids=["suspended", "quota", "throttled", "500", "503"],
)
async def test_failover_to_healthy_account(world: World, fault: Any) -> None:
    world.add("a")
    world.add("b")
    # The client tries both endpoints on 429, so queue the fault twice for that case.
    for _ in range(2 if fault.status == 429 else 1):
        world.state.enqueue(fault, account=world.sim_accounts["a"])
    assert (await world.ask()).startswith("b:")
    a = world.pool.get("a")
    assert a.unusable_reason(world.pool.clock()) is not None


async def test_revoked_refresh_token_disables_and_fails_over(world: World) -> None:
    world.add("a", fresh=False)
    world.add("b")
    world.state.revoke_refresh_token(world.sim_accounts["a"])
    assert (await world.ask()).startswith("b:")
    a = world.pool.get("a")
    assert not a.enabled and "invalid_grant" in (a.disabled_reason or "")


async def test_client_errors_are_not_retried(world: World) -> None:
    world.add("a")
    world.add("b")
    world.state.enqueue(script.input_too_long(), account=world.sim_accounts["a"])
    with pytest.raises(PromptTooLongError):
        await world.ask()
    world.state.enqueue(script.bad_request(), account=world.sim_accounts["b"])
    with pytest.raises(InvalidRequestError, match="Improperly formed request"):
        await world.ask()
    assert world.state.generate_calls == 2


async def test_everything_down_is_overloaded_with_reason(world: World) -> None:
    for name in "abc":
        world.add(name)
        world.state.enqueue(
            script.throttled(), script.throttled(), account=world.sim_accounts[name]
        )
    # The request that met three 429s is told it was rate limited, with a real retry hint...
    with pytest.raises(RateLimitError, match="every account is rate limited") as limited:
        await world.ask()
    assert limited.value.retry_after is not None and limited.value.retry_after > 0
    # ...and the next one, finding every account still cooling down, is told why.
    with pytest.raises(
        OverloadedError, match=r"all 3 accounts are cooling down; next available in \d+ s"
    ):
        await world.ask()


async def test_round_robin_even_against_simulator(world: World) -> None:
    for name in "abcd":
        world.add(name)
    results = [await world.ask() for _ in range(40)]
    counts = {name: sum(r.startswith(name + ":") for r in results) for name in "abcd"}
    assert counts == {"a": 10, "b": 10, "c": 10, "d": 10}


def secrets_of(account: SimAccount) -> list[str]:
    return [v for v in (account.refresh_token, account.client_secret, *account.access_tokens) if v]


@pytest.mark.parametrize("auth_method", ["social", "idc"])
@pytest.mark.parametrize(
    "fault",
    [
        script.refresh_unavailable(503),
        script.refresh_unavailable(500),
        # A server error stays transient even when its text names the token.
        script.HttpFault(502, {"message": "Invalid refresh token provided", "reason": None}),
        script.Disconnect(),
    ],
    ids=["503", "500", "502-token-text", "disconnect"],
)
async def test_refresh_outage_fails_over_then_the_account_serves_again(
    world: World, caplog: pytest.LogCaptureFixture, auth_method: str, fault: Any
) -> None:
    """A 5xx or a dropped connection on refresh is transient: the request moves to another
    account, the failing one cools down (never disabled), says why, and comes back."""
    caplog.set_level(logging.INFO)
    a = world.add("a", auth_method=auth_method, fresh=False)  # needs a refresh to serve
    world.add("b")
    world.state.enqueue_refresh_fault(fault, account=world.sim_accounts["a"])

    assert (await world.ask()).startswith("b:")  # the client sees a normal answer

    now = world.pool.clock()
    assert a.enabled and a.disabled_reason is None
    assert a.consecutive_failures == 1 and a.cooldown_until > now
    assert account_state(a, now)["state"] == "cooling"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    why = "http 5" if isinstance(fault, script.HttpFault) else "connection"
    assert any("a@example.com" in line and why in line.lower() for line in warnings), warnings
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [secret for secret in secrets_of(world.sim_accounts["a"]) if secret in logged]

    world.offset = a.cooldown_until - time.time() + 1  # the cooldown is over
    served = [await world.ask() for _ in range(2)]  # round robin: one of the two is a's
    assert sorted(r[0] for r in served) == ["a", "b"]
    assert a.access_token == world.sim_accounts["a"].access_token  # the later refresh worked
    assert a.enabled and a.consecutive_failures == 0
    assert account_state(a, world.pool.clock())["state"] == "healthy"


async def test_refresh_outage_of_the_only_account_is_a_retryable_overload(world: World) -> None:
    a = world.add("a", fresh=False)
    world.state.enqueue_refresh_fault(script.Disconnect(), script.refresh_unavailable(503))
    with pytest.raises(OverloadedError, match="cooling down") as first:
        await world.ask()
    assert first.value.retry_after is not None and first.value.retry_after > 0
    world.offset = a.cooldown_until - time.time() + 1
    with pytest.raises(OverloadedError, match="cooling down"):
        await world.ask()  # the second outage answer: the cooldown grows
    assert a.enabled and a.consecutive_failures == 2
    world.offset = a.cooldown_until - time.time() + 1
    assert (await world.ask()).startswith("a:")
    assert a.enabled and a.consecutive_failures == 0


def invalid_grant() -> script.HttpFault:
    """What Kiro's refresh endpoints answer to a revoked or spent refresh token."""
    return script.HttpFault(
        400, {"error": "invalid_grant", "error_description": "Invalid refresh token provided"}
    )


@pytest.mark.parametrize("auth_method", ["social", "idc"])
async def test_only_invalid_grant_on_refresh_disables(world: World, auth_method: str) -> None:
    a = world.add("a", auth_method=auth_method, fresh=False)
    world.add("b")
    world.state.enqueue_refresh_fault(invalid_grant(), account=world.sim_accounts["a"])
    assert (await world.ask()).startswith("b:")
    assert not a.enabled and "invalid_grant" in (a.disabled_reason or "")


def refreshes(world: World) -> int:
    """Refresh calls the simulator received (social and OIDC)."""
    return world.state.refresh_calls + world.state.oidc_refresh_calls


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("auth_method", ["social", "idc"])
@pytest.mark.parametrize("fault", ["503", "disconnect", "timeout"])
async def test_early_refresh_outage_keeps_serving_with_the_still_valid_token(
    world: World, caplog: pytest.LogCaptureFixture, auth_method: str, fault: str
) -> None:
    """The refresh ahead of expiry fails transiently while the token has 120 s left: the
    request is served with that token (no cooldown, one WARNING without secrets); within the
    retry pause no request (nor the background job) calls refresh again; after it, with the
    auth endpoint healthy again, the token is replaced."""
    caplog.set_level(logging.INFO)
    why = {"503": "http 503", "disconnect": "connection", "timeout": "timeout"}[fault]
    if fault == "timeout":
        world.client.first_byte_timeout = 0.3
    fault = {
        "503": script.refresh_unavailable(503),
        "disconnect": script.Disconnect(),
        "timeout": script.HttpFault(503, delay=30),  # not answered before the client gives up
    }[fault]
    a = world.add("a", auth_method=auth_method)  # the only account: a cooldown would fail it
    old_token = a.access_token
    a.expires_at = world.pool.clock() + 120  # inside the 300 s margin: refreshed early
    world.state.enqueue_refresh_fault(fault, account=world.sim_accounts["a"])

    assert (await world.ask()).startswith("a:")
    assert refreshes(world) == 1
    assert a.access_token == old_token and a.enabled
    assert a.cooldown_until == 0.0 and a.consecutive_failures == 0
    warnings = warnings_in(caplog)
    assert len(warnings) == 1, warnings
    line = warnings[0].lower()
    assert "a@example.com" in line and why in line
    assert re.search(r"still valid for 1[12]\d s", line), line
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [secret for secret in secrets_of(world.sim_accounts["a"]) if secret in logged]

    # Within the pause: served again with the same token, no refresh call, nothing more logged.
    caplog.clear()
    world.offset = REFRESH_RETRY_PAUSE_SECONDS / 2
    assert (await world.ask()).startswith("a:")
    assert await world.tokens.refresh_expiring(horizon_seconds=600) == 0
    assert refreshes(world) == 1 and a.access_token == old_token
    assert warnings_in(caplog) == []

    # After the pause, the auth endpoint answering again: the token is replaced.
    world.offset = REFRESH_RETRY_PAUSE_SECONDS + 1
    assert (await world.ask()).startswith("a:")
    assert refreshes(world) == 2
    assert a.access_token == world.sim_accounts["a"].access_token != old_token
    assert not world.tokens.needs_refresh(a) and a.consecutive_failures == 0


@pytest.mark.parametrize(
    "seconds_left", [-5.0, REFRESH_GRACE_SECONDS / 2], ids=["expired", "grace"]
)
async def test_refresh_outage_with_a_token_at_its_end_still_cools_down(
    world: World, caplog: pytest.LogCaptureFixture, seconds_left: float
) -> None:
    """Expired, or too close to expiry to trust: the request fails over, the account cools
    down (as before), and no retry pause holds the next refresh back."""
    caplog.set_level(logging.INFO)
    a = world.add("a")
    world.add("b")
    a.expires_at = world.pool.clock() + seconds_left
    world.state.enqueue_refresh_fault(
        script.refresh_unavailable(503), account=world.sim_accounts["a"]
    )
    assert (await world.ask()).startswith("b:")
    assert a.enabled and a.consecutive_failures == 1 and a.cooldown_until > world.pool.clock()
    assert not world.tokens.refresh_paused(a)
    assert any("a@example.com" in w and "HTTP 503" in w for w in warnings_in(caplog))

    world.offset = a.cooldown_until - time.time() + 1
    a.expires_at = world.pool.clock() + seconds_left  # still at its end: refreshed at once
    served = [await world.ask() for _ in range(2)]  # round robin: one of the two is a's
    assert sorted(r[0] for r in served) == ["a", "b"]
    assert refreshes(world) == 2 and a.access_token == world.sim_accounts["a"].access_token


async def test_invalid_grant_on_an_early_refresh_still_disables(world: World) -> None:
    """A refused refresh token is permanent even though the access token has time left."""
    a = world.add("a")
    world.add("b")
    a.expires_at = world.pool.clock() + 120
    world.state.enqueue_refresh_fault(invalid_grant(), account=world.sim_accounts["a"])
    assert (await world.ask()).startswith("b:")
    assert not a.enabled and "invalid_grant" in (a.disabled_reason or "")
    assert (await world.ask()).startswith("b:")
    assert refreshes(world) == 1


async def test_a_token_refused_upstream_is_refreshed_despite_the_pause(world: World) -> None:
    """The pause defers refreshes ahead of expiry only: when Kiro refuses the token (403), the
    refresh is tried at once, and its failure cools the account down."""
    a = world.add("a")
    world.add("b")
    a.expires_at = world.pool.clock() + 120
    world.state.enqueue_refresh_fault(
        script.refresh_unavailable(503), account=world.sim_accounts["a"]
    )
    assert (await world.ask()).startswith("a:")  # the early refresh failed; a still serves
    assert world.tokens.refresh_paused(a)
    world.state.expire_access_token(world.sim_accounts["a"])  # now upstream refuses it
    world.state.enqueue_refresh_fault(
        script.refresh_unavailable(503), account=world.sim_accounts["a"]
    )
    # Round robin: b; then a, whose refused token's refresh fails, and b takes over.
    served = [(await world.ask())[0] for _ in range(2)]
    assert served == ["b", "b"] and refreshes(world) == 2
    assert a.consecutive_failures == 1 and a.cooldown_until > world.pool.clock()
