"""Credential JSON import: single object, array, Kiro Account Manager export, Kiro-Go config,
malformed documents and partial items, dead refresh tokens, dedupe."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kiro_proxy.auth.credential_json import parse_document, parse_time
from kiro_proxy.auth.errors import CredentialFormatError
from kiro_proxy.auth.service import LoginService
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.state import SimAccount
from kiro_proxy.store.accounts import AccountRepository


def social_item(account: SimAccount) -> dict[str, Any]:
    return {"refreshToken": account.refresh_token, "authMethod": "social", "provider": "Google"}


def idc_item(account: SimAccount) -> dict[str, Any]:
    return {
        "refreshToken": account.refresh_token,
        "clientId": account.client_id,
        "clientSecret": account.client_secret,
        "authMethod": "IdC",
        "region": "us-east-1",
    }


async def test_single_social_object(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    sim_account = sim.state.add_account("dave@example.com")
    report = await service.import_document(orjson.dumps(social_item(sim_account)))
    (item,) = report.items
    assert item.ok and item.result is not None
    assert item.result.email == "dave@example.com" and item.result.subscription
    (account,) = await repo.list_all()
    assert account.auth_method == "social"
    assert account.profile_arn == sim_account.profile_arn  # learnt from the refresh answer
    assert account.access_token == sim_account.access_token
    assert sim.state.refresh_calls == 1  # validated by refreshing at once


async def test_array_with_idc_and_partial_items(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    good = sim.state.add_account("erin@example.com", auth_method="idc", profile_arn=None)
    doc = [
        idc_item(good),
        {"accessToken": "only-an-access-token"},
        {"refreshToken": "aorAAAA...truncated"},
        {"refreshToken": good.refresh_token, "authMethod": "IdC"},  # no client registration
        "just a string",
    ]
    report = await service.import_value(doc)
    codes = [i.code for i in report.items]
    assert codes == [
        None,
        "missing_refresh_token",
        "truncated_refresh_token",
        "missing_client_registration",
        "invalid_credentials",
    ]
    assert report.items[0].ok
    assert len(await repo.list_all()) == 1
    body = report.as_dict()
    assert body["imported"] == 1 and body["failed"] == 4
    assert all(e.count(":") >= 1 for e in body["errors"])  # "item N: what to do"


async def test_kiro_account_manager_export(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    a = sim.state.add_account("frank@example.com")
    b = sim.state.add_account("grace@example.com", auth_method="idc", profile_arn=None)
    doc = {
        "version": "1.0",
        "exportedAt": 1_800_000_000_000,
        "accounts": [
            {
                "id": "kam-1",
                "email": "frank@example.com",
                "nickname": "Frank's",
                "machineId": "ab" * 32,
                "credentials": {**social_item(a), "expiresAt": 1_800_000_000_000},
            },
            {"id": "kam-2", "email": "grace@example.com", "credentials": idc_item(b)},
        ],
        "groups": [],
        "tags": [],
    }
    report = await service.import_document(orjson.dumps(doc))
    assert [i.ok for i in report.items] == [True, True]
    stored = {acc.email: acc for acc in await repo.list_all()}
    assert stored["frank@example.com"].nickname == "Frank's"
    assert stored["frank@example.com"].machine_id == "ab" * 32
    assert stored["grace@example.com"].auth_method == "idc"


async def test_kiro_go_config(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    a = sim.state.add_account("heidi@example.com")
    config = {
        "password": "changeme",
        "port": 8080,
        "accounts": [
            {"id": "kg-1", "email": "heidi@example.com", "nickname": "h", **social_item(a),
             "expiresAt": 1_800_000_000, "enabled": True},
            {"id": "kg-2", "email": "ghost@example.com"},
        ],
    }  # fmt: skip
    report = await service.import_document(orjson.dumps(config))
    assert [i.ok for i in report.items] == [True, False]
    assert report.items[1].label == "item 2 (ghost@example.com)"
    assert report.items[1].code == "missing_refresh_token"
    (account,) = await repo.list_all()
    assert account.nickname == "h"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "invalid_credentials"),
        (b"{not json", "malformed_json"),
        (b'{"refreshToken": "x",}', "malformed_json"),
        (b"42", "malformed_json"),
        (b"[]", "empty"),
    ],
)
def test_malformed_documents(raw: bytes, code: str) -> None:
    with pytest.raises(CredentialFormatError) as caught:
        parse_document(raw)
    assert caught.value.code == code
    assert caught.value.message


async def test_dead_refresh_token_is_refused_with_next_step(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    sim_account = sim.state.add_account("ivan@example.com")
    sim.state.revoke_refresh_token(sim_account)
    report = await service.import_value(social_item(sim_account) | {"accessToken": "stale"})
    (item,) = report.items
    assert item.code == "invalid_refresh_token"
    assert "log in again" in (item.error or "")
    assert sim_account.refresh_token not in (item.error or "")
    assert await repo.list_all() == []


async def test_dead_idc_refresh_token(service: LoginService, sim: RunningSimulator) -> None:
    sim_account = sim.state.add_account("judy@example.com", auth_method="idc", profile_arn=None)
    sim.state.revoke_refresh_token(sim_account)
    report = await service.import_value(idc_item(sim_account))
    assert report.items[0].code == "invalid_refresh_token"
    assert "Builder ID / IAM Identity Center" in (report.items[0].error or "")


async def test_same_account_twice_updates_it(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    sim.state.rotate_refresh_tokens = True
    sim_account = sim.state.add_account("kim@example.com")
    first = await service.import_value(social_item(sim_account) | {"nickname": "first"})
    # The first import rotated the token; a later export from the IDE carries the new one.
    second = await service.import_value(social_item(sim_account))
    assert first.items[0].result is not None and first.items[0].result.created
    assert second.items[0].result is not None and not second.items[0].result.created
    (account,) = await repo.list_all()
    assert account.id == first.items[0].result.account_id
    assert account.nickname == "first"  # kept: the second import had none
    assert account.refresh_token == sim_account.refresh_token


async def test_reimport_re_enables_an_account_disabled_for_its_dead_token(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    sim_account = sim.state.add_account("leo@example.com")
    await service.import_value(social_item(sim_account))
    (account,) = await repo.list_all()
    account.enabled = False
    account.disabled_reason = "refresh token rejected (invalid_grant): re-login needed"
    await repo.save(account, ("enabled", "disabled_reason"))
    await service.import_value(social_item(sim_account))
    (account,) = await repo.list_all()
    assert account.enabled and account.disabled_reason is None


PARSED = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def test_parse_time_variants() -> None:
    assert parse_time(1_800_000_000) == 1_800_000_000
    assert parse_time(1_800_000_000_000) == 1_800_000_000
    assert parse_time("2027-01-15T08:00:00.000Z") == PARSED
    assert parse_time("2027-01-15T08:00:00") == PARSED  # naive times are UTC
    assert parse_time("1800000000") == 1_800_000_000
    assert parse_time("garbage") is None
    assert parse_time(None) is None
