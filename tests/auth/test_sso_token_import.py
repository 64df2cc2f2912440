"""SSO cookie import (x-amz-sso_authn), one cookie per line, against the simulator."""

from __future__ import annotations

from kiro_proxy.auth.service import LoginService
from kiro_proxy.auth.sso_token import split_cookies
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.store.accounts import AccountRepository


def test_split_cookies_accepts_values_and_cookie_headers() -> None:
    text = "\n".join(
        [
            "  abc123  ",
            "",
            "# a comment",
            "x-amz-sso_authn=def456",
            "Cookie: other=1; x-amz-sso_authn=ghi789; more=2",
            '"quoted"',
        ]
    )
    assert split_cookies(text) == ["abc123", "def456", "ghi789", "quoted"]


async def test_several_cookies_report_per_line(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    alice = sim.state.add_account("alice@example.com", auth_method="idc", profile_arn=None)
    bob = sim.state.add_account("bob@example.com", auth_method="idc", profile_arn=None)
    good_a = sim.state.create_sso_cookie(alice)
    expired = sim.state.create_sso_cookie(bob, expired=True)
    good_b = sim.state.create_sso_cookie(bob)
    text = "\n".join([good_a, "not-a-real-cookie-value", expired, good_b])

    report = await service.sso_tokens(text, "us-east-1")

    outcomes = [(item.ok, item.code) for item in report.items]
    assert outcomes == [
        (True, None),
        (False, "invalid_cookie"),
        (False, "invalid_cookie"),
        (True, None),
    ]
    assert report.items[0].result is not None and report.items[0].result.email == alice.email
    assert report.items[3].result is not None and report.items[3].result.email == bob.email
    for failed in report.failed:
        assert "copy a fresh x-amz-sso_authn" in (failed.error or "")
        # the report names the line, never the cookie itself
        assert "not-a-real-cookie-value" not in failed.label
        assert "not-a-real-cookie-value" not in (failed.error or "")
    assert {a.email for a in await repo.list_all()} == {alice.email, bob.email}
    body = report.as_dict()
    assert body["imported"] == 2 and body["failed"] == 2 and body["success"] is False


async def test_all_good_cookies(service: LoginService, sim: RunningSimulator) -> None:
    cookie = sim.state.create_sso_cookie()
    report = await service.sso_tokens(cookie + "\n")
    assert report.as_dict()["success"] is True
    (item,) = report.items
    assert item.result is not None and item.result.auth_method == "idc"


async def test_same_cookie_account_twice_is_deduplicated(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    account = sim.state.add_account("carol@example.com", auth_method="idc", profile_arn=None)
    first = await service.sso_tokens(sim.state.create_sso_cookie(account))
    second = await service.sso_tokens(sim.state.create_sso_cookie(account))
    assert first.items[0].result is not None and first.items[0].result.created
    assert second.items[0].result is not None and not second.items[0].result.created
    assert len(await repo.list_all()) == 1


async def test_cookie_with_control_characters_is_a_per_line_error(
    service: LoginService, sim: RunningSimulator
) -> None:
    # aiohttp refuses control characters in a header with ValueError: that was a 500.
    report = await service.sso_tokens("abc\x00def\nabc\x7fdef\n\x1b[0m")
    assert [(item.ok, item.code) for item in report.items] == [(False, "invalid_cookie")] * 3
