"""Regions from login forms and imported credentials go into upstream URLs; only AWS-shaped
names are accepted, so a pasted value cannot redirect a token to another host."""

from __future__ import annotations

import pytest

from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.regions import checked_region
from kiro_proxy.auth.service import LoginService
from kiro_proxy.simulator.app import RunningSimulator

BAD = [
    "evil.example/#",
    "us-east-1.evil.example",
    "us east 1",
    "US-EAST-1",
    "a\x00b",
    "-1",
    "x" * 500,
]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
def test_aws_regions_pass(region: str) -> None:
    assert checked_region(f" {region} ") == region


def test_missing_region_is_the_default() -> None:
    assert checked_region(None) == checked_region("") == checked_region("  ") == "us-east-1"


@pytest.mark.parametrize("region", BAD)
def test_other_values_are_refused_with_a_short_message(region: str) -> None:
    with pytest.raises(LoginError) as caught:
        checked_region(region)
    assert caught.value.code == "invalid_region" and caught.value.status == 400
    assert len(caught.value.message) < 160


async def test_login_with_a_bad_region_fails_before_any_request(
    service: LoginService, sim: RunningSimulator
) -> None:
    before = len(sim.state.requests)
    with pytest.raises(LoginError) as caught:
        await service.builder_id_start("evil.example/#")
    assert caught.value.code == "invalid_region"
    assert len(sim.state.requests) == before


async def test_imported_credential_with_a_bad_region_is_a_per_item_error(
    service: LoginService, sim: RunningSimulator
) -> None:
    account = sim.state.add_account("dave@example.com")
    good = {"refreshToken": account.refresh_token, "authMethod": "social"}
    bad = {**good, "region": "evil.example/#"}
    report = await service.import_value([bad, good])
    assert [(item.ok, item.code) for item in report.items] == [
        (False, "invalid_region"),
        (True, None),
    ]
