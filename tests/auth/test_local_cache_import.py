"""Kiro IDE cache files and the kiro-cli SQLite store: parsed read-only, then onboarded."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import orjson
import pytest

from kiro_proxy.auth.errors import CredentialFormatError
from kiro_proxy.auth.local_cache import (
    LocalSources,
    credential_from_token_file,
    read_kiro_cli_db,
    read_sso_cache,
    scan_local,
)
from kiro_proxy.auth.service import LoginService
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.state import SimAccount
from kiro_proxy.store.accounts import AccountRepository


def social_token_file(account: SimAccount) -> dict[str, object]:
    return {
        "accessToken": account.access_token,
        "refreshToken": account.refresh_token,
        "expiresAt": "2027-01-15T08:00:00.000Z",
        "authMethod": "social",
        "provider": "Github",
        "profileArn": account.profile_arn,
    }


def idc_files(account: SimAccount) -> tuple[dict[str, object], dict[str, object], str]:
    assert account.client_id is not None
    digest = hashlib.sha1(account.client_id.encode()).hexdigest()
    token = {
        "accessToken": account.access_token,
        "refreshToken": account.refresh_token,
        "expiresAt": "2027-01-15T08:00:00.000Z",
        "authMethod": "IdC",
        "provider": "BuilderId",
        "region": "us-east-1",
        "clientIdHash": digest,
    }
    registration = {
        "clientId": account.client_id,
        "clientSecret": account.client_secret,
        "expiresAt": "2027-04-15T08:00:00.000Z",
    }
    return token, registration, digest


async def test_social_token_file_upload(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    sim_account = sim.state.add_account("mia@example.com")
    result = await service.import_token_file(orjson.dumps(social_token_file(sim_account)), None)
    assert result.created and result.email == "mia@example.com" and result.provider == "Github"
    (account,) = await repo.list_all()
    assert account.auth_method == "social"


async def test_idc_token_file_needs_and_uses_registration(
    service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    sim_account = sim.state.add_account("noah@example.com", auth_method="idc", profile_arn=None)
    token, registration, digest = idc_files(sim_account)
    with pytest.raises(CredentialFormatError) as caught:
        credential_from_token_file(token, None)
    assert f"{digest}.json" in caught.value.message
    assert caught.value.code == "missing_client_registration"

    result = await service.import_token_file(token, orjson.dumps(registration))
    assert result.created and result.auth_method == "idc"
    (account,) = await repo.list_all()
    assert account.client_id == sim_account.client_id


def test_token_file_without_refresh_token() -> None:
    with pytest.raises(CredentialFormatError, match="sign in to the Kiro IDE first"):
        credential_from_token_file({"accessToken": "x"})
    with pytest.raises(CredentialFormatError, match="not valid JSON"):
        credential_from_token_file(b"{oops")


def _write_cache(folder: Path, files: dict[str, object]) -> dict[Path, tuple[bytes, float]]:
    folder.mkdir(parents=True, exist_ok=True)
    before = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(orjson.dumps(data))
        os.chmod(path, 0o400)  # the IDE's files: we must never need to write them
        before[path] = (path.read_bytes(), path.stat().st_mtime)
    return before


def _assert_untouched(folder: Path, before: dict[Path, tuple[bytes, float]]) -> None:
    assert set(folder.iterdir()) == set(before)  # no journal, lock or temp file appeared
    for path, (content, mtime) in before.items():
        assert path.read_bytes() == content and path.stat().st_mtime == mtime


async def test_sso_cache_folder_with_registration(
    tmp_path: Path, service: LoginService, sim: RunningSimulator
) -> None:
    sim_account = sim.state.add_account("olga@example.com", auth_method="idc", profile_arn=None)
    token, registration, digest = idc_files(sim_account)
    folder = tmp_path / "sso-cache"
    before = _write_cache(folder, {"kiro-auth-token.json": token, f"{digest}.json": registration})
    items = read_sso_cache(folder)
    report = await service.import_items(items)
    assert [i.ok for i in report.items] == [True]
    _assert_untouched(folder, before)


def _make_cli_db(path: Path, rows: dict[str, object], profile_arn: str | None) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT)")
    connection.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB)")
    for key, value in rows.items():
        connection.execute("INSERT INTO auth_kv VALUES (?, ?)", (key, orjson.dumps(value).decode()))
    if profile_arn:
        connection.execute(
            "INSERT INTO state VALUES (?, ?)",
            ("api.codewhisperer.profile", orjson.dumps({"arn": profile_arn})),
        )
    connection.commit()
    connection.close()


async def test_kiro_cli_sqlite_social_and_idc(
    tmp_path: Path, service: LoginService, sim: RunningSimulator, repo: AccountRepository
) -> None:
    social = sim.state.add_account("pia@example.com")
    builder = sim.state.add_account("quinn@example.com", auth_method="idc", profile_arn=None)
    folder = tmp_path / "kiro-cli"
    folder.mkdir()
    db = folder / "data.sqlite3"
    _make_cli_db(
        db,
        {
            "kirocli:social:token": {
                "access_token": social.access_token,
                "refresh_token": social.refresh_token,
                "expires_at": "2027-01-15T08:00:00Z",
            },
            "kirocli:odic:token": {
                "access_token": builder.access_token,
                "refresh_token": builder.refresh_token,
                "region": "us-east-1",
            },
            "kirocli:odic:device-registration": {
                "client_id": builder.client_id,
                "client_secret": builder.client_secret,
                "region": "us-east-1",
            },
        },
        social.profile_arn,
    )
    os.chmod(db, 0o400)
    os.chmod(folder, 0o500)  # read-only folder: a write or a journal would fail loudly
    before = {db: (db.read_bytes(), db.stat().st_mtime)}
    try:
        items = read_kiro_cli_db(db)
        assert [label.rsplit("[", 1)[1] for label, _ in items] == [
            "kirocli:social:token]",
            "kirocli:odic:token]",
        ]
        report = await service.import_items(items)
    finally:
        os.chmod(folder, 0o700)
    assert [i.ok for i in report.items] == [True, True], report.as_dict()
    methods = {a.email: a.auth_method for a in await repo.list_all()}
    assert methods == {"pia@example.com": "social", "quinn@example.com": "idc"}
    _assert_untouched(folder, before)


def test_scan_local_finds_nothing_in_empty_places(tmp_path: Path) -> None:
    assert scan_local(LocalSources(tmp_path / "none", tmp_path / "none.sqlite3")) == []


def test_kiro_cli_db_without_tables(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite3"
    sqlite3.connect(db).close()
    ((_label, problem),) = read_kiro_cli_db(db)
    assert isinstance(problem, CredentialFormatError) and "auth_kv" in problem.message
