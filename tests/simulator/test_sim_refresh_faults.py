"""Scripted faults on the token refresh endpoints: social /refreshToken and the OIDC /token
refresh_token grant answer a 5xx or drop the connection, once per queued fault, then serve."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from kiro_proxy.kiro.client import KiroClient
from kiro_proxy.kiro.errors import KiroConnectionError, TokenRefreshError
from kiro_proxy.kiro.fingerprint import derive_machine_id
from kiro_proxy.simulator import script as s
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.state import SimAccount
from kiro_proxy.simulator.testing import client_for


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    yield running
    await running.close()


@pytest.fixture
async def kiro(sim: RunningSimulator) -> AsyncIterator[KiroClient]:
    async with client_for(sim.url) as client:
        yield client


async def refresh(kiro: KiroClient, account: SimAccount) -> str:
    """One refresh of the account through the client; the new access token."""
    if account.auth_method == "idc":
        grant = await kiro.refresh_oidc(
            account.refresh_token,
            account.client_id or "",
            account.client_secret or "",
            region=account.region,
        )
    else:
        grant = await kiro.refresh_social(
            account.refresh_token, machine_id=derive_machine_id(refresh_token="x")
        )
    return grant.access_token


@pytest.mark.parametrize("auth_method", ["social", "idc"])
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_once_then_refresh_works(
    sim: RunningSimulator, kiro: KiroClient, auth_method: str, status: int
) -> None:
    account = sim.state.add_account(auth_method=auth_method)  # type: ignore[arg-type]
    sim.state.enqueue_refresh_fault(s.refresh_unavailable(status), account=account)
    with pytest.raises(TokenRefreshError) as failed:
        await refresh(kiro, account)
    assert failed.value.status == status and not failed.value.is_permanent
    assert sim.state.requests[-1].status == status
    assert await refresh(kiro, account) == account.access_token  # the fault was used up
    calls = sim.state.oidc_refresh_calls if auth_method == "idc" else sim.state.refresh_calls
    assert calls == 2


@pytest.mark.parametrize("auth_method", ["social", "idc"])
async def test_disconnect_drops_the_connection_without_an_answer(
    sim: RunningSimulator, kiro: KiroClient, auth_method: str
) -> None:
    account = sim.state.add_account(auth_method=auth_method)  # type: ignore[arg-type]
    sim.state.enqueue_refresh_fault(s.Disconnect(), account=account)
    with pytest.raises(KiroConnectionError):
        await refresh(kiro, account)
    assert sim.state.requests[-1].status == 0
    assert await refresh(kiro, account) == account.access_token


async def test_account_faults_hit_only_that_account_global_ones_anyone(
    sim: RunningSimulator, kiro: KiroClient
) -> None:
    first, second = sim.state.add_account(), sim.state.add_account(auth_method="idc")
    sim.state.enqueue_refresh_fault(s.refresh_unavailable(), account=first)
    await refresh(kiro, second)  # not first's fault
    sim.state.enqueue_refresh_fault(s.refresh_unavailable(502))
    with pytest.raises(TokenRefreshError, match="HTTP 503"):
        await refresh(kiro, first)  # its own queue first
    with pytest.raises(TokenRefreshError, match="HTTP 502"):
        await refresh(kiro, second)  # then the global one, for any account
    assert sim.state.pending_refresh_faults() == 0
    await refresh(kiro, first)


async def test_refresh_faults_leave_login_polls_and_generate_alone(
    sim: RunningSimulator, kiro: KiroClient
) -> None:
    account = sim.state.add_account(auth_method="idc")
    sim.state.enqueue_refresh_fault(s.Disconnect())
    async with aiohttp.ClientSession() as http:
        body = {
            "clientId": account.client_id,
            "clientSecret": account.client_secret,
            "grantType": "urn:ietf:params:oauth:grant-type:device_code",
            "deviceCode": "unknown",
        }
        async with http.post(sim.url + "/token", json=body) as response:
            assert response.status == 400  # an answer: the device grant is no refresh
    assert sim.state.pending_refresh_faults() == 1
    sim.state.reset()
    assert sim.state.pending_refresh_faults() == 0


async def test_control_route_queues_refresh_faults(sim: RunningSimulator, kiro: KiroClient) -> None:
    account = sim.state.add_account()
    faults = [s.refresh_unavailable(500), s.Disconnect(delay=0.01)]
    for item in faults:
        assert (
            s.refresh_fault_from_json(orjson.loads(orjson.dumps(s.refresh_fault_to_json(item))))
            == item
        )
    async with aiohttp.ClientSession() as http:
        payload = {"account": account.email, "faults": [s.refresh_fault_to_json(f) for f in faults]}
        async with http.post(sim.url + "/_sim/refresh_faults", json=payload) as response:
            assert (response.status, await response.json()) == (200, {"queued": 2, "pending": 2})
        bad = {"faults": [{"kind": "reply", "steps": []}]}
        async with http.post(sim.url + "/_sim/refresh_faults", json=bad) as response:
            assert response.status == 400
    with pytest.raises(TokenRefreshError, match="HTTP 500"):
        await refresh(kiro, account)
    with pytest.raises(KiroConnectionError):
        await refresh(kiro, account)
    await refresh(kiro, account)
