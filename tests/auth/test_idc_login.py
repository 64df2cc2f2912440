"""IAM Identity Center authorization code + PKCE against the simulator."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from kiro_proxy.auth.errors import CredentialFormatError, LoginError
from kiro_proxy.auth.idc import PASTE_REDIRECT_URI, IdcLogin, state_of
from kiro_proxy.auth.service import LoginService
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.store.accounts import AccountRepository

START_URL = "https://example-org.awsapps.com/start"


async def browser_sign_in(authorize_url: str) -> str:
    """What the user's browser does: open the authorize URL and end on the redirect URI."""
    async with aiohttp.ClientSession() as http:
        async with http.get(authorize_url, allow_redirects=False) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]


async def test_pasted_callback_url_creates_account(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    login = await service.idc_start(START_URL, "eu-west-1")
    query = parse_qs(urlsplit(login.authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [PASTE_REDIRECT_URI]
    assert query["state"] == [login.state]
    assert login.verifier not in login.authorize_url  # only the challenge travels

    callback = await browser_sign_in(login.authorize_url)
    assert callback.startswith(PASTE_REDIRECT_URI)
    result = await service.idc_complete(login, callback)

    assert result.created and result.provider == "Enterprise"
    (account,) = await repo.list_all()
    assert account.auth_method == "idc"
    assert account.region == "eu-west-1"
    assert account.start_url == START_URL
    assert account.email == result.email
    assert account.id == result.account_id


async def test_state_mismatch_is_rejected(service: LoginService) -> None:
    login = await service.idc_start(START_URL, "us-east-1")
    callback = await browser_sign_in(login.authorize_url)
    forged = callback.replace(f"state={login.state}", "state=someone-elses-state")
    with pytest.raises(LoginError) as caught:
        await service.idc_complete(login, forged)
    assert caught.value.code == "state_mismatch"
    assert "start the login again" in caught.value.message


async def test_a_callback_from_another_login_is_rejected(service: LoginService) -> None:
    first = await service.idc_start(START_URL, "us-east-1")
    second = await service.idc_start(START_URL, "us-east-1")
    callback_for_first = await browser_sign_in(first.authorize_url)
    with pytest.raises(LoginError, match="state mismatch"):
        await service.idc_complete(second, callback_for_first)


async def test_denied_sign_in(service: LoginService, sim: RunningSimulator) -> None:
    sim.state.authorize_decision = "deny"
    login = await service.idc_start(START_URL, "us-east-1")
    callback = await browser_sign_in(login.authorize_url)
    with pytest.raises(LoginError) as caught:
        await service.idc_complete(login, callback)
    assert caught.value.code == "access_denied"


async def test_code_works_once(service: LoginService, repo: AccountRepository) -> None:
    login = await service.idc_start(START_URL, "us-east-1")
    callback = await browser_sign_in(login.authorize_url)
    await service.idc_complete(login, callback)
    with pytest.raises(LoginError, match="start the login again") as caught:
        await service.idc_complete(login, callback)
    assert caught.value.code == "invalid_grant"
    assert len(await repo.list_all()) == 1


async def test_local_callback_redirect_uri(service: LoginService) -> None:
    local = "http://127.0.0.1:8080/admin/oauth/callback"
    login = await service.idc_start(START_URL, "us-east-1", redirect_uri=local)
    callback = await browser_sign_in(login.authorize_url)
    assert callback.startswith(local)
    assert state_of(callback) == login.state
    result = await service.idc_complete(login, callback)
    assert result.created


@pytest.mark.parametrize(
    "pasted",
    ["", "not a url", "http://127.0.0.1/oauth/callback", "http://127.0.0.1/oauth/callback?state=x"],
)
async def test_garbage_pasted_is_explained(service: LoginService, pasted: str) -> None:
    login = await service.idc_start(START_URL, "us-east-1")
    with pytest.raises(LoginError) as caught:
        await service.idc_complete(login, pasted)
    assert caught.value.message  # every variant explains itself
    assert caught.value.code in {"invalid_callback_url", "state_mismatch"}


async def test_bad_start_url(service: LoginService) -> None:
    with pytest.raises(CredentialFormatError, match=r"awsapps\.com/start"):
        await service.idc_start("example-org", "us-east-1")


async def test_expired_login(service: LoginService, clock: object) -> None:
    login: IdcLogin = await service.idc_start(START_URL, "us-east-1")
    callback = await browser_sign_in(login.authorize_url)
    clock.now = login.expires_at + 1  # type: ignore[attr-defined]
    with pytest.raises(LoginError, match="longer than 10 minutes"):
        await service.idc_complete(login, callback)
