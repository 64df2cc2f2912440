"""Kiro Account Manager export: explicit about secrets, and importable again."""

from __future__ import annotations

import orjson

from kiro_proxy.auth.export import SECRETS_WARNING, build_export
from kiro_proxy.auth.service import LoginService
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.store.accounts import AccountRepository


async def test_export_round_trips_through_import(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    social = sim.state.add_account("rita@example.com", subscription="PRO_PLUS")
    builder = sim.state.add_account("sam@example.com", auth_method="idc", profile_arn=None)
    await service.import_value(
        [
            {"refreshToken": social.refresh_token, "nickname": "Rita"},
            {
                "refreshToken": builder.refresh_token,
                "clientId": builder.client_id,
                "clientSecret": builder.client_secret,
                "authMethod": "idc",
                "provider": "BuilderId",
            },
        ]
    )
    originals = {a.email: a for a in await repo.list_all()}
    document = build_export(await repo.list_all(), now=1_800_000_000)

    assert document["containsSecrets"] is True and document["warning"] == SECRETS_WARNING
    assert document["exportedAt"] == 1_800_000_000_000
    by_email = {a["email"]: a for a in document["accounts"]}
    rita = by_email["rita@example.com"]
    assert rita["credentials"]["authMethod"] == "social"
    assert rita["credentials"]["refreshToken"] == originals["rita@example.com"].refresh_token
    assert rita["subscription"]["type"] == "Pro_Plus"
    assert by_email["sam@example.com"]["credentials"]["authMethod"] == "IdC"
    assert isinstance(by_email["sam@example.com"]["credentials"]["expiresAt"], int)  # ms

    # Import into an empty store: same identities, same kinds, same nicknames.
    for account in await repo.list_all():
        await repo.delete(account.id)
    report = await service.import_document(orjson.dumps(document))
    assert [i.ok for i in report.items] == [True, True], report.as_dict()
    again = {a.email: a for a in await repo.list_all()}
    assert set(again) == set(originals)
    for email, account in again.items():
        assert account.auth_method == originals[email].auth_method
        assert account.nickname == originals[email].nickname
        assert account.machine_id == originals[email].machine_id
        assert account.client_id == originals[email].client_id

    # And importing the same export once more only updates.
    report = await service.import_document(orjson.dumps(document))
    assert all(i.result is not None and not i.result.created for i in report.items)
    assert len(await repo.list_all()) == 2


def test_export_selects_ids() -> None:
    from kiro_proxy.pool.account import Account

    accounts = [Account(id="a", email="a@x"), Account(id="b", email="b@x")]
    assert [a["id"] for a in build_export(accounts, ids=["b"])["accounts"]] == ["b"]
    assert len(build_export(accounts, ids=[])["accounts"]) == 2
