"""KiroClient refresh / getUsageLimits / ListAvailableModels against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kiro_proxy.kiro.client import KiroClient, api_region
from kiro_proxy.kiro.errors import KiroConnectionError, KiroHTTPError, TokenRefreshError
from kiro_proxy.kiro.events import TextEvent
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.testing import client_for, credentials_for, simple_request


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[KiroClient]:
    async with client_for(sim.url) as kiro:
        yield kiro


async def test_social_refresh_gives_a_working_token(
    client: KiroClient, sim: RunningSimulator
) -> None:
    account = sim.state.add_account(auth_method="social")
    sim.state.expire_access_token(account)
    with pytest.raises(KiroHTTPError) as caught:
        [e async for e in client.generate(simple_request(), credentials_for(account))]
    assert caught.value.is_invalid_token

    grant = await client.refresh_social(account.refresh_token, machine_id="a" * 64)
    assert grant.access_token == account.access_token and grant.expires_in == 3600
    assert grant.refresh_token == account.refresh_token and grant.profile_arn == account.profile_arn
    assert sim.state.refresh_calls == 1
    headers = sim.state.requests[-1].headers
    assert headers["user-agent"] == f"KiroIDE-0.11.107-{'a' * 64}"
    assert grant.access_token not in repr(grant)

    creds = credentials_for(account, access_token=grant.access_token)
    events = [e async for e in client.generate(simple_request(), creds)]
    assert TextEvent("Hello! ") in events


async def test_social_refresh_rotation(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.rotate_refresh_tokens = True
    account = sim.state.add_account(auth_method="social")
    old = account.refresh_token
    grant = await client.refresh_social(old, machine_id="b" * 64)
    assert grant.refresh_token == account.refresh_token != old
    with pytest.raises(TokenRefreshError) as caught:
        await client.refresh_social(old, machine_id="b" * 64)
    assert caught.value.is_permanent


@pytest.mark.parametrize("case", ["unknown", "revoked"])
async def test_social_refresh_invalid_grant(
    client: KiroClient, sim: RunningSimulator, case: str
) -> None:
    token = "nope" * 30
    if case == "revoked":
        account = sim.state.add_account(auth_method="social")
        sim.state.revoke_refresh_token(account)
        token = account.refresh_token
    with pytest.raises(TokenRefreshError) as caught:
        await client.refresh_social(token, machine_id="c" * 64)
    error = caught.value
    assert error.status == 400 and error.error == "invalid_grant" and error.is_permanent
    assert "Invalid refresh token provided" in str(error) and token not in str(error)


async def test_oidc_refresh(client: KiroClient, sim: RunningSimulator) -> None:
    account = sim.state.add_account(auth_method="idc")
    assert account.client_id and account.client_secret
    old_access = account.access_token
    grant = await client.refresh_oidc(
        account.refresh_token, account.client_id, account.client_secret, region="eu-west-1"
    )
    assert grant.access_token != old_access and grant.access_token == account.access_token
    assert grant.refresh_token == account.refresh_token and grant.profile_arn is None
    assert sim.state.oidc_refresh_calls == 1
    assert sim.state.requests[-1].headers["x-amz-user-agent"].startswith("aws-sdk-js/3.")


async def test_oidc_refresh_invalid_grant(client: KiroClient, sim: RunningSimulator) -> None:
    account = sim.state.add_account(auth_method="idc")
    assert account.client_id and account.client_secret
    sim.state.revoke_refresh_token(account)
    with pytest.raises(TokenRefreshError) as caught:
        await client.refresh_oidc(
            account.refresh_token, account.client_id, account.client_secret, region="us-east-1"
        )
    assert caught.value.is_permanent and caught.value.error == "invalid_grant"


async def test_oidc_refresh_wrong_client_is_not_permanent(
    client: KiroClient, sim: RunningSimulator
) -> None:
    account = sim.state.add_account(auth_method="idc")
    assert account.client_id
    with pytest.raises(TokenRefreshError) as caught:
        await client.refresh_oidc(
            account.refresh_token, account.client_id, "wrong", region="us-east-1"
        )
    assert caught.value.status == 401 and caught.value.error == "invalid_client"
    assert not caught.value.is_permanent


async def test_usage_limits_shape(client: KiroClient, sim: RunningSimulator) -> None:
    account = sim.state.add_account(
        "pro@example.com", subscription="PRO", usage_limit=1000, current_usage=12.5
    )
    data = await client.get_usage_limits(credentials_for(account))
    breakdown = data["usageBreakdownList"][0]
    assert breakdown["resourceType"] == "AGENTIC_REQUEST"
    assert breakdown["usageLimitWithPrecision"] == 1000.0
    assert breakdown["currentUsageWithPrecision"] == 12.5
    assert set(breakdown["freeTrialInfo"]) >= {"freeTrialStatus", "usageLimit", "freeTrialExpiry"}
    assert data["nextDateReset"] > sim.state.clock()
    assert data["subscriptionInfo"]["subscriptionTitle"] == "KIRO PRO"
    assert data["subscriptionInfo"]["subscriptionType"] == "PRO"
    assert data["userInfo"] == {"email": "pro@example.com", "userId": account.user_id}
    query = sim.state.requests[-1].body
    assert query["origin"] == "AI_EDITOR" and query["resourceType"] == "AGENTIC_REQUEST"
    assert query["profileArn"] == account.profile_arn


async def test_usage_limits_invalid_token(client: KiroClient, sim: RunningSimulator) -> None:
    account = sim.state.add_account()
    sim.state.expire_access_token(account)
    with pytest.raises(KiroHTTPError) as caught:
        await client.get_usage_limits(credentials_for(account))
    assert caught.value.is_invalid_token


async def test_usage_limits_suspended(client: KiroClient, sim: RunningSimulator) -> None:
    account = sim.state.add_account()
    sim.state.suspend(account)
    with pytest.raises(KiroHTTPError) as caught:
        await client.get_usage_limits(credentials_for(account))
    assert caught.value.is_suspended and not caught.value.is_invalid_token


async def test_list_models_follows_pagination(client: KiroClient, sim: RunningSimulator) -> None:
    sim.state.models_page_size = 4
    account = sim.state.add_account()
    models = await client.list_models(credentials_for(account))
    assert [m["modelId"] for m in models] == [m["modelId"] for m in sim.state.models]
    pages = [r for r in sim.state.requests if r.path == "/ListAvailableModels"]
    assert len(pages) == -(-len(sim.state.models) // 4)
    assert "nextToken" not in pages[0].body and all("nextToken" in p.body for p in pages[1:])
    assert {"modelId", "tokenLimits", "supportedInputTypes"} <= set(models[0])


def test_api_region_from_profile_arn() -> None:
    assert api_region("arn:aws:codewhisperer:eu-central-1:123:profile/X") == "eu-central-1"
    assert api_region("arn:aws:codewhisperer:ap-south-1:123:profile/X") == "us-east-1"
    assert api_region(None) == "us-east-1"


async def test_per_account_http_proxy_is_used(sim: RunningSimulator) -> None:
    # The simulator doubles as an HTTP forward proxy target: an unresolvable upstream host only
    # works if the request really goes through the proxy.
    account = sim.state.add_account()
    kiro = client_for("http://kiro.invalid")
    try:
        creds = credentials_for(account, proxy_url=sim.url)
        events = [e async for e in kiro.generate(simple_request(), creds)]  # starts lazily
        assert TextEvent("Hello! ") in events
        assert sim.state.requests[-1].headers["host"] == "kiro.invalid"
        data = await kiro.get_usage_limits(creds)
        assert data["userInfo"]["email"] == account.email
    finally:
        await kiro.close()


async def test_a_closed_client_opens_no_session_again(sim: RunningSimulator) -> None:
    """A refresh or request still running when the app shut the client down (lifespan exit)
    fails instead of opening a new session that nobody would close ("Unclosed client
    session" from a finalizer, later, in another test)."""
    account = sim.state.add_account(auth_method="social")
    kiro = client_for(sim.url)  # never started: the first call starts it
    grant = await kiro.refresh_social(account.refresh_token, machine_id="c" * 64)
    await kiro.close()
    with pytest.raises(KiroConnectionError, match="closed"):
        await kiro.refresh_social(grant.refresh_token, machine_id="c" * 64)
    with pytest.raises(KiroConnectionError, match="closed"):
        [e async for e in kiro.generate(simple_request(), credentials_for(account))]
    assert kiro._session is None and kiro._http1 is None
    await kiro.start()  # an explicit start opens it again
    try:
        await kiro.refresh_social(grant.refresh_token, machine_id="c" * 64)
    finally:
        await kiro.close()
