"""Login flows on the simulator with plain aiohttp: device code, auth code + PKCE, SSO cookie."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import orjson
import pytest

from kiro_proxy.simulator.app import RunningSimulator, start_simulator

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REDIRECT = "http://127.0.0.1/oauth/callback"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sim(clock: Clock) -> AsyncIterator[RunningSimulator]:
    from kiro_proxy.simulator.state import SimState

    running = await start_simulator(state=SimState(clock=clock))
    yield running
    await running.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    async with http.request(
        method,
        url,
        data=orjson.dumps(body) if body is not None else None,
        headers=headers,
        allow_redirects=False,
    ) as response:
        raw = await response.read()
        return response.status, orjson.loads(raw) if raw else {}


async def register(
    http: aiohttp.ClientSession,
    sim: RunningSimulator,
    grants: list[str],
    redirect: list[str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clientName": "Kiro",
        "clientType": "public",
        "scopes": ["codewhisperer:completions"],
        "grantTypes": grants,
        "issuerUrl": "https://view.awsapps.com/start",
    }
    if redirect:
        body["redirectUris"] = redirect
    status, data = await call(http, "POST", sim.url + "/client/register", body)
    assert status == 200 and data["clientId"] and data["clientSecret"]
    return data


async def start_device(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> tuple[dict[str, Any], dict[str, Any]]:
    client = await register(http, sim, [DEVICE_GRANT, "refresh_token"])
    status, device = await call(
        http,
        "POST",
        sim.url + "/device_authorization",
        {
            **{k: client[k] for k in ("clientId", "clientSecret")},
            "startUrl": "https://view.awsapps.com/start",
        },
    )
    assert status == 200
    assert set(device) >= {
        "deviceCode",
        "userCode",
        "verificationUri",
        "verificationUriComplete",
        "interval",
        "expiresIn",
    }
    return client, device


async def poll(
    http: aiohttp.ClientSession,
    sim: RunningSimulator,
    client: dict[str, Any],
    device: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    return await call(
        http,
        "POST",
        sim.url + "/token",
        {
            "clientId": client["clientId"],
            "clientSecret": client["clientSecret"],
            "grantType": DEVICE_GRANT,
            "deviceCode": device["deviceCode"],
        },
    )


async def test_device_flow_pending_slow_down_approved(
    http: aiohttp.ClientSession, sim: RunningSimulator, clock: Clock
) -> None:
    client, device = await start_device(http, sim)
    assert await poll(http, sim, client, device) == (
        400,
        {"error": "authorization_pending", "error_description": "Authorization is still pending"},
    )
    status, body = await poll(http, sim, client, device)  # no time passed: too fast
    assert (status, body["error"]) == (400, "slow_down")
    clock.now += 10
    assert (await poll(http, sim, client, device))[1]["error"] == "authorization_pending"

    account = sim.state.approve_device(device["userCode"])
    status, tokens = await poll(http, sim, client, device)
    assert status == 200 and tokens["accessToken"] == account.access_token
    assert tokens["refreshToken"] == account.refresh_token and tokens["expiresIn"] == 3600
    assert account.client_id == client["clientId"]
    # The device code is single use.
    assert (await poll(http, sim, client, device))[1]["error"] == "invalid_grant"
    # The new tokens work for refresh with the registering client.
    status, refreshed = await call(
        http,
        "POST",
        sim.url + "/token",
        {
            "clientId": client["clientId"],
            "clientSecret": client["clientSecret"],
            "grantType": "refresh_token",
            "refreshToken": tokens["refreshToken"],
        },
    )
    assert status == 200 and refreshed["accessToken"] != tokens["accessToken"]


async def test_device_flow_expired(
    http: aiohttp.ClientSession, sim: RunningSimulator, clock: Clock
) -> None:
    client, device = await start_device(http, sim)
    clock.now += device["expiresIn"] + 1
    assert (await poll(http, sim, client, device))[1]["error"] == "expired_token"


async def test_device_flow_denied(http: aiohttp.ClientSession, sim: RunningSimulator) -> None:
    client, device = await start_device(http, sim)
    sim.state.deny_device(device["userCode"])
    assert (await poll(http, sim, client, device))[1]["error"] == "access_denied"


async def test_device_authorization_needs_valid_client(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    status, body = await call(
        http,
        "POST",
        sim.url + "/device_authorization",
        {"clientId": "x", "clientSecret": "y", "startUrl": "s"},
    )
    assert status == 401 and body["error"] == "invalid_client"


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


async def authorize(
    http: aiohttp.ClientSession, sim: RunningSimulator, client: dict[str, Any], challenge: str
) -> dict[str, list[str]]:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client["clientId"],
            "redirect_uri": REDIRECT,
            "scopes": "codewhisperer:completions",
            "state": "st-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    async with http.get(f"{sim.url}/authorize?{query}", allow_redirects=False) as response:
        assert response.status == 302
        location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def test_auth_code_with_pkce(http: aiohttp.ClientSession, sim: RunningSimulator) -> None:
    client = await register(http, sim, ["authorization_code", "refresh_token"], [REDIRECT])
    verifier, challenge = pkce()
    params = await authorize(http, sim, client, challenge)
    assert params["state"] == ["st-1"]
    code = params["code"][0]
    base = {
        "clientId": client["clientId"],
        "clientSecret": client["clientSecret"],
        "grantType": "authorization_code",
        "redirectUri": REDIRECT,
        "code": code,
    }
    status, body = await call(
        http, "POST", sim.url + "/token", {**base, "codeVerifier": "wrong" * 10}
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    status, tokens = await call(
        http, "POST", sim.url + "/token", {**base, "codeVerifier": verifier}
    )
    assert status == 200 and tokens["accessToken"] and tokens["refreshToken"]
    assert sim.state.account_for_access_token(tokens["accessToken"]) is not None
    status, body = await call(http, "POST", sim.url + "/token", {**base, "codeVerifier": verifier})
    assert body["error"] == "invalid_grant"  # codes are single use


async def test_auth_code_denied(http: aiohttp.ClientSession, sim: RunningSimulator) -> None:
    client = await register(http, sim, ["authorization_code"], [REDIRECT])
    sim.state.authorize_decision = "deny"
    params = await authorize(http, sim, client, pkce()[1])
    assert (
        params["error"] == ["access_denied"]
        and params["state"] == ["st-1"]
        and "code" not in params
    )


async def test_authorize_rejects_unregistered_redirect(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    client = await register(http, sim, ["authorization_code"], [REDIRECT])
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client["clientId"],
            "redirect_uri": "http://evil.example/cb",
            "code_challenge": "x",
            "code_challenge_method": "S256",
        }
    )
    status, body = await call(http, "GET", f"{sim.url}/authorize?{query}")
    assert status == 400 and body["error"] == "invalid_request"


async def test_sso_cookie_portal_flow(http: aiohttp.ClientSession, sim: RunningSimulator) -> None:
    account = sim.state.add_account("sso@example.com", auth_method="idc", profile_arn=None)
    cookie = sim.state.create_sso_cookie(account)
    client, device = await start_device(http, sim)
    auth = {"Authorization": f"Bearer {cookie}"}
    status, me = await call(http, "GET", sim.url + "/token/whoAmI", headers=auth)
    assert status == 200 and me["email"] == "sso@example.com"
    status, session = await call(http, "POST", sim.url + "/session/device", {}, headers=auth)
    assert status == 200 and session["token"]
    referer = {"Referer": "https://view.awsapps.com/"}
    status, accepted = await call(
        http,
        "POST",
        sim.url + "/device_authorization/accept_user_code",
        {"userCode": device["userCode"], "userSessionId": session["token"]},
        headers=referer,
    )
    assert status == 200 and accepted["deviceContext"]["clientId"] == client["clientId"]
    status, _ = await call(
        http,
        "POST",
        sim.url + "/device_authorization/associate_token",
        {"deviceContext": accepted["deviceContext"], "userSessionId": session["token"]},
        headers=referer,
    )
    assert status == 200
    status, tokens = await poll(http, sim, client, device)
    assert status == 200 and tokens["accessToken"] == account.access_token


@pytest.mark.parametrize("cookie_kind", ["expired", "unknown"])
async def test_portal_rejects_bad_cookie(
    http: aiohttp.ClientSession, sim: RunningSimulator, cookie_kind: str
) -> None:
    cookie = sim.state.create_sso_cookie(expired=True) if cookie_kind == "expired" else "garbage"
    auth = {"Authorization": f"Bearer {cookie}"}
    assert (await call(http, "GET", sim.url + "/token/whoAmI", headers=auth))[0] == 401
    assert (await call(http, "POST", sim.url + "/session/device", {}, headers=auth))[0] == 401


async def test_accept_user_code_needs_portal_session(
    http: aiohttp.ClientSession, sim: RunningSimulator
) -> None:
    _, device = await start_device(http, sim)
    status, body = await call(
        http,
        "POST",
        sim.url + "/device_authorization/accept_user_code",
        {"userCode": device["userCode"], "userSessionId": "forged"},
    )
    assert status == 401 and body["error"] == "invalid_grant"
