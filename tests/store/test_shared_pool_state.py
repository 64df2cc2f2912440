"""Two PoolRuntimes on one database (as two worker processes would be), SQLite and PostgreSQL:
counters add up, health marks travel, admin changes reach the other, and a token refresh is
made once across both, with the simulator rotating refresh tokens."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_runtime_restart import QUIET, ask, settings_for, write_kiro_go_config

from kiro_proxy.pool.runtime import PoolRuntime, create_runtime
from kiro_proxy.pool.tokens import REFRESH_RETRY_PAUSE_SECONDS, RefreshFailed
from kiro_proxy.simulator import script
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.testing import client_for


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    simulator = await start_simulator()
    clients = [client_for(simulator.url), client_for(simulator.url)]
    for client in clients:
        await client.start()
    try:
        yield SimpleNamespace(url=simulator.url, state=simulator.state, clients=clients)
    finally:
        for client in clients:
            await client.close()
        await simulator.close()


@pytest.fixture
async def pair(
    tmp_path: Path, database_url: str, sim: Any, data_dir: Path
) -> AsyncIterator[tuple[PoolRuntime, PoolRuntime]]:
    write_kiro_go_config(tmp_path / "config.json", sim, ["a", "b"])
    settings = settings_for(tmp_path, database_url, sim)
    first = await create_runtime(settings, sim.clients[0], intervals=QUIET)
    second = await create_runtime(settings, sim.clients[1], intervals=QUIET)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def by_name(runtime: PoolRuntime) -> dict[str, Any]:
    return {a.nickname: a for a in runtime.pool.all()}


async def test_counters_from_both_runtimes_add_up(pair: tuple[PoolRuntime, PoolRuntime]) -> None:
    first, second = pair
    before = by_name(first)["a"].request_count  # 9, imported from Kiro-Go
    for _ in range(3):
        await asyncio.gather(*(ask(first) for _ in range(5)), *(ask(second) for _ in range(7)))
        # Interleaved flushes: with absolute writes the last one would win.
        await first.sync.sync()
        await second.sync.sync()
        await first.sync.sync()
    stored = {a.nickname: a for a in await first.accounts.list_all()}
    served = sum(stored[n].request_count for n in "ab") - 2 * before
    assert served == 36
    assert sum(stored[n].success_count for n in "ab") - 2 * (before - 1) == 36
    # Each runtime now shows what both counted.
    for runtime in pair:
        assert sum(a.request_count for a in runtime.pool.all()) == served + 2 * before
        assert runtime.stats()["totalRequests"] == 100 + 36  # Kiro-Go's 100 + ours


async def test_a_cooldown_set_by_one_runtime_is_skipped_by_the_other(
    pair: tuple[PoolRuntime, PoolRuntime],
) -> None:
    first, second = pair
    first.pool.cool_down(by_name(first)["a"], 600)
    first.pool.disable(by_name(first)["b"], "refresh token rejected (invalid_grant)")
    assert second.available_accounts() == 2
    await first.sync.sync()
    await second.sync.sync()
    assert second.available_accounts() == 0
    b = by_name(second)["b"]
    assert (b.enabled, b.disabled_reason) == (False, "refresh token rejected (invalid_grant)")
    assert by_name(second)["a"].cooldown_until > time.time() + 500
    # An admin change in the second reaches the first (editable fields too, via a reload).
    await second.update_account(b.id, enabled=True, weight=5)
    await first.sync.sync()
    assert (by_name(first)["b"].enabled, by_name(first)["b"].weight) == (True, 5)
    assert first.available_accounts() == 1


async def test_admin_added_and_deleted_accounts_reach_the_other(
    pair: tuple[PoolRuntime, PoolRuntime], sim: Any
) -> None:
    first, second = pair
    from kiro_proxy.pool.account import Account

    sim_c = sim.state.add_account("c@example.com")
    added = await first.add_account(
        Account(id="", nickname="c", refresh_token=sim_c.refresh_token, created_at=time.time())
    )
    await first.delete_account(by_name(first)["a"].id)
    await second.sync.sync()
    assert set(by_name(second)) == {"b", "c"}
    assert second.pool.get(added.id) is not None


async def _expire_everywhere(pair: tuple[PoolRuntime, PoolRuntime], sim: Any, name: str) -> None:
    """Upstream and both runtimes know the access token expired (as after a long idle)."""
    first, _ = pair
    sim.state.expire_access_token(sim.state.accounts[f"{name}@example.com"])
    past = time.time() - 1
    for runtime in pair:
        by_name(runtime)[name].expires_at = past
    account = by_name(first)[name]
    await first.accounts.save(account, ("expires_at",))


async def test_concurrent_refresh_in_two_runtimes_is_made_once(
    pair: tuple[PoolRuntime, PoolRuntime], sim: Any
) -> None:
    sim.state.rotate_refresh_tokens = True
    await _expire_everywhere(pair, sim, "a")
    sim.state.refresh_calls = sim.state.oidc_refresh_calls = 0
    first, second = pair
    await asyncio.gather(
        *(first.tokens.ensure_fresh(by_name(first)["a"]) for _ in range(10)),
        *(second.tokens.ensure_fresh(by_name(second)["a"]) for _ in range(10)),
    )
    assert sim.state.refresh_calls + sim.state.oidc_refresh_calls == 1
    a1, a2 = by_name(first)["a"], by_name(second)["a"]
    assert a1.enabled and a2.enabled
    assert a1.access_token == a2.access_token and a1.refresh_token == a2.refresh_token
    stored = await first.accounts.get(a1.id)
    assert stored is not None and stored.refresh_token == a1.refresh_token
    # Requests through both still work (the adopted token is valid upstream).
    assert await ask(first) and await ask(second)


async def test_a_token_rejected_upstream_is_refreshed_once_across_runtimes(
    pair: tuple[PoolRuntime, PoolRuntime], sim: Any
) -> None:
    """The 403 path (stale_access_token): both runtimes' requests hit the expired token."""
    sim.state.rotate_refresh_tokens = True
    first, second = pair
    for runtime in pair:
        runtime.pool.disable(by_name(runtime)["b"], "test: one account only")
    sim.state.expire_access_token(sim.state.accounts["a@example.com"])
    sim.state.refresh_calls = sim.state.oidc_refresh_calls = 0
    await asyncio.gather(*(ask(first) for _ in range(8)), *(ask(second) for _ in range(8)))
    assert sim.state.refresh_calls + sim.state.oidc_refresh_calls == 1
    assert by_name(first)["a"].enabled and by_name(second)["a"].enabled


async def test_without_the_lock_the_second_refresh_disables_the_account(
    pair: tuple[PoolRuntime, PoolRuntime], sim: Any
) -> None:
    """Negative control: what the lock prevents really happens without it."""
    sim.state.rotate_refresh_tokens = True
    await _expire_everywhere(pair, sim, "a")
    first, second = pair
    for runtime in pair:
        runtime.tokens._locks = None  # one-process behaviour
    await first.tokens.ensure_fresh(by_name(first)["a"])
    with pytest.raises(RefreshFailed) as failure:
        await second.tokens.ensure_fresh(by_name(second)["a"])
    assert failure.value.permanent and not by_name(second)["a"].enabled


async def test_an_early_refresh_outage_is_tried_once_across_runtimes_and_keeps_serving(
    pair: tuple[PoolRuntime, PoolRuntime], sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """One account whose token has 120 s left, its refresh answering 503: both runtimes keep
    serving with the token and nothing cools down; the failed refresh stores a retry pause
    under the row lock, so the other runtime does not try again (one call, one WARNING). After
    the pause one runtime refreshes and the other adopts its token instead of spending the
    rotated refresh token a second time."""
    caplog.set_level(logging.INFO)
    sim.state.rotate_refresh_tokens = True
    first, second = pair
    offset = [0.0]
    for runtime in pair:
        runtime.pool.clock = lambda: time.time() + offset[0]
        runtime.pool.disable(by_name(runtime)["b"], "test: one account only")
        by_name(runtime)["a"].expires_at = time.time() + 120  # refreshed ahead of expiry
    a = by_name(first)["a"]
    await first.accounts.save(a, ("expires_at",))
    old_token = a.access_token
    sim.state.refresh_calls = sim.state.oidc_refresh_calls = 0
    sim.state.enqueue_refresh_fault(
        script.refresh_unavailable(503), account=sim.state.accounts["a@example.com"]
    )

    assert await ask(first) == a.id
    assert await ask(second) == a.id  # reads the pause under the lock: no second attempt
    assert sim.state.refresh_calls + sim.state.oidc_refresh_calls == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "a@example.com" in warnings[0] and "HTTP 503" in warnings[0]
    for runtime in pair:
        await runtime.sync.sync()
        mine = by_name(runtime)["a"]
        assert (mine.enabled, mine.cooldown_until, mine.consecutive_failures) == (True, 0.0, 0)
        assert mine.access_token == old_token
        assert await ask(runtime) == a.id  # within the pause: no refresh
    assert sim.state.refresh_calls + sim.state.oidc_refresh_calls == 1
    stored = await first.accounts.get(a.id)
    assert stored is not None and stored.enabled and stored.cooldown_until == 0.0
    assert stored.access_token == old_token and stored.consecutive_failures == 0

    offset[0] = REFRESH_RETRY_PAUSE_SECONDS + 1  # the pause is over, the endpoint healthy
    assert await ask(second) == a.id
    assert await ask(first) == a.id
    assert sim.state.refresh_calls + sim.state.oidc_refresh_calls == 2
    a1, a2 = by_name(first)["a"], by_name(second)["a"]
    assert a1.enabled and a2.enabled and a1.access_token == a2.access_token != old_token
    stored = await first.accounts.get(a.id)
    assert stored is not None and stored.refresh_token == a1.refresh_token == a2.refresh_token
