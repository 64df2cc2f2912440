"""AWS Builder ID device login end to end against the simulator."""

from __future__ import annotations

import pytest
from auth_fakes import FakeClock

from kiro_proxy.auth.builder_id import PollResult
from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.service import LoginService
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.store.accounts import AccountRepository


async def test_pending_then_slow_down_then_approved_creates_account(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository, clock: FakeClock
) -> None:
    login = await service.builder_id_start("us-east-1")
    assert login.device.user_code in login.verification_url
    assert login.interval == sim.state.device_interval

    first = await service.builder_id_poll(login)
    assert first.status == "pending"
    # Polling again at once is too fast: the server says slow_down and we add 5 s (RFC 8628).
    second = await service.builder_id_poll(login)
    assert second.status == "slow_down"
    assert second.interval == pytest.approx(sim.state.device_interval + 5)

    clock.now += second.interval
    sim_account = sim.state.approve_device(login.device.user_code)
    done = await service.builder_id_poll(login)
    assert done.status == "approved" and done.grant is not None

    result = await service.builder_id_finish(login, done.grant)
    assert result.created and result.email == sim_account.email
    stored = await repo.list_all()
    assert len(stored) == 1
    account = stored[0]
    assert account.auth_method == "idc" and account.provider == "BuilderId"
    assert account.client_id == login.registration.client_id
    assert account.refresh_token == sim_account.refresh_token
    assert account.subscription_type == "PRO"


async def test_wait_honours_interval_and_slow_down(
    service: LoginService, sim: RunningSimulator, clock: FakeClock
) -> None:
    login = await service.builder_id_start()
    ticks: list[PollResult] = []

    def on_tick(result: PollResult, seconds_left: float) -> None:
        ticks.append(result)
        assert 0 < seconds_left <= sim.state.device_expires_in
        if len(ticks) == 2:
            sim.state.approve_device(login.device.user_code)

    result = await service.builder_id_wait(login, on_tick=on_tick)
    assert result.created
    assert [t.status for t in ticks] == ["pending", "pending"]
    # We slept exactly the server's interval between polls, never less.
    assert clock.sleeps == [sim.state.device_interval] * 2


async def test_expired_device_code_says_start_again(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    login = await service.builder_id_start()
    sim.state.expire_device(login.device.user_code)
    with pytest.raises(LoginError) as caught:
        await service.builder_id_poll(login)
    assert caught.value.code == "expired_token"
    assert "expired after 10 minutes" in caught.value.message
    assert "start the login again" in caught.value.message
    assert await repo.list_all() == []


async def test_device_code_expiry_is_detected_locally(
    service: LoginService, clock: FakeClock
) -> None:
    login = await service.builder_id_start()
    clock.now += login.device.expires_in + 1
    with pytest.raises(LoginError, match="start the login again") as caught:
        await service.builder_id_poll(login)
    assert caught.value.code == "expired_token"


async def test_access_denied(service: LoginService, sim: RunningSimulator) -> None:
    login = await service.builder_id_start()
    sim.state.deny_device(login.device.user_code)
    with pytest.raises(LoginError) as caught:
        await service.builder_id_wait(login)
    assert caught.value.code == "access_denied"
    assert "denied" in caught.value.message and "start the login again" in caught.value.message


async def test_same_builder_id_twice_updates_instead_of_doubling(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    first_login = await service.builder_id_start()
    sim_account = sim.state.approve_device(first_login.device.user_code)
    first = await service.builder_id_wait(first_login)

    second_login = await service.builder_id_start()
    sim.state.approve_device(second_login.device.user_code, sim_account)
    second = await service.builder_id_wait(second_login)

    assert first.created and not second.created
    assert second.account_id == first.account_id
    stored = await repo.list_all()
    assert len(stored) == 1
    # The newer registration replaced the old one.
    assert stored[0].client_id == second_login.registration.client_id
