"""Kiro's own credential caches (protocol doc §6.5), read-only.

* the IDE's `~/.aws/sso/cache/kiro-auth-token.json` (+ `<clientIdHash>.json` with the IdC
  device registration), uploaded through the panel or read from disk by `accounts import-local`;
* kiro-cli's SQLite store `~/.local/share/kiro-cli/data.sqlite3` (table `auth_kv`).

The IDE and kiro-cli keep using these files and rotate the tokens in them; writing to them would
log the user out of their IDE (a bug report against a peer), so we only ever open them read-only.
Note that a refresh here rotates the refresh token for our copy, after which the IDE refreshes
its own copy independently: social refresh tokens remain valid in parallel.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kiro_proxy.auth.credential_json import ParsedItem, credential_from_mapping
from kiro_proxy.auth.errors import CredentialFormatError, LoginError
from kiro_proxy.auth.onboarding import CredentialInput

TOKEN_FILE_NAME = "kiro-auth-token.json"
SSO_CACHE_DIR = Path.home() / ".aws" / "sso" / "cache"
KIRO_CLI_DB = Path.home() / ".local" / "share" / "kiro-cli" / "data.sqlite3"

# kiro-cli keys, most specific first (JW kiro/auth.py); "odic" is kiro-cli's own spelling.
_CLI_TOKEN_KEYS = (
    "kirocli:social:token",
    "kirocli:odic:token",
    "codewhisperer:odic:token",
)
_CLI_EXTERNAL_KEY = "kirocli:external-idp:token"
_CLI_REGISTRATION_KEYS = (
    "kirocli:odic:device-registration",
    "codewhisperer:odic:device-registration",
)
_CLI_PROFILE_KEY = "api.codewhisperer.profile"


def _load_json(raw: bytes | str, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CredentialFormatError(
            f"{what} is not valid JSON ({exc}): upload the file exactly as Kiro wrote it",
            code="malformed_json",
        ) from exc
    if not isinstance(data, dict):
        raise CredentialFormatError(f"{what} must hold a JSON object", code="malformed_json")
    return data


def credential_from_token_file(
    token: dict[str, Any] | bytes | str,
    registration: dict[str, Any] | bytes | str | None = None,
) -> CredentialInput:
    """The IDE's `kiro-auth-token.json` (and for IdC its `<clientIdHash>.json`)."""
    data = token if isinstance(token, dict) else _load_json(token, TOKEN_FILE_NAME)
    if not isinstance(data.get("refreshToken"), str) or not data["refreshToken"]:
        raise CredentialFormatError(
            f"{TOKEN_FILE_NAME} has no refreshToken: sign in to the Kiro IDE first, then upload "
            "the file again",
            code="missing_refresh_token",
        )
    merged = dict(data)
    if registration is not None:
        reg = (
            registration
            if isinstance(registration, dict)
            else _load_json(registration, "the registration file")
        )
        for key in ("clientId", "clientSecret"):
            if reg.get(key) and not merged.get(key):
                merged[key] = reg[key]
    is_idc = str(data.get("authMethod") or "").lower() == "idc" or bool(data.get("clientIdHash"))
    if is_idc and not (merged.get("clientId") and merged.get("clientSecret")):
        digest = data.get("clientIdHash") or "<clientIdHash>"
        raise CredentialFormatError(
            f"this is an IdC/Builder ID login: also upload ~/.aws/sso/cache/{digest}.json "
            "(the device registration with clientId and clientSecret)",
            code="missing_client_registration",
        )
    if is_idc:
        merged["authMethod"] = "idc"
    return credential_from_mapping(merged)


@dataclass(frozen=True, slots=True)
class LocalSources:
    sso_cache_dir: Path = SSO_CACHE_DIR
    kiro_cli_db: Path = KIRO_CLI_DB


def read_sso_cache(directory: Path) -> list[ParsedItem]:
    """The IDE token file in an `~/.aws/sso/cache` folder, joined to its registration file."""
    path = directory / TOKEN_FILE_NAME
    if not path.is_file():
        return []
    label = str(path)
    try:
        token = _load_json(path.read_bytes(), TOKEN_FILE_NAME)
        registration: dict[str, Any] | None = None
        digest = token.get("clientIdHash")
        if isinstance(digest, str) and digest and "/" not in digest and "\\" not in digest:
            reg_path = directory / f"{digest}.json"
            if reg_path.is_file():
                registration = _load_json(reg_path.read_bytes(), reg_path.name)
        return [(label, credential_from_token_file(token, registration))]
    except OSError as exc:
        return [(label, CredentialFormatError(f"cannot read the file ({exc.strerror})"))]
    except LoginError as exc:
        return [(label, exc)]


def _open_read_only(path: Path) -> sqlite3.Connection:
    # mode=ro: SQLite refuses every write, and no journal or WAL file is created.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def read_kiro_cli_db(path: Path) -> list[ParsedItem]:
    """kiro-cli's tokens (snake_case JSON values in `auth_kv`)."""
    if not path.is_file():
        return []
    label = str(path)
    try:
        connection = _open_read_only(path)
    except sqlite3.Error as exc:
        return [(label, CredentialFormatError(f"cannot open kiro-cli's database ({exc})"))]
    try:
        auth = dict(connection.execute("SELECT key, value FROM auth_kv").fetchall())
        try:
            state = dict(
                connection.execute(
                    "SELECT key, value FROM state WHERE key = ?", (_CLI_PROFILE_KEY,)
                ).fetchall()
            )
        except sqlite3.Error:
            state = {}
    except sqlite3.Error as exc:
        return [(label, CredentialFormatError(f"kiro-cli's database has no auth_kv table ({exc})"))]
    finally:
        connection.close()
    return _items_from_cli(label, auth, state)


def _json_value(value: Any) -> dict[str, Any] | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _items_from_cli(label: str, auth: dict[str, Any], state: dict[str, Any]) -> list[ParsedItem]:
    profile = _json_value(state.get(_CLI_PROFILE_KEY)) or {}
    registration: dict[str, Any] = {}
    for key in _CLI_REGISTRATION_KEYS:
        registration = _json_value(auth.get(key)) or {}
        if registration:
            break
    items: list[ParsedItem] = []
    for key in _CLI_TOKEN_KEYS:
        token = _json_value(auth.get(key))
        if token is None:
            continue
        merged = dict(token)
        if "odic" in key:
            merged["authMethod"] = "idc"
            merged.setdefault(
                "client_id", registration.get("client_id") or registration.get("clientId")
            )
            merged.setdefault(
                "client_secret",
                registration.get("client_secret") or registration.get("clientSecret"),
            )
            merged.setdefault("region", registration.get("region"))
        else:
            merged["authMethod"] = "social"
        if profile.get("arn") and not merged.get("profile_arn"):
            merged["profile_arn"] = profile["arn"]
        try:
            items.append((f"{label} [{key}]", credential_from_mapping(merged)))
        except LoginError as exc:
            items.append((f"{label} [{key}]", exc))
    if not items and _CLI_EXTERNAL_KEY in auth:
        items.append(
            (
                f"{label} [{_CLI_EXTERNAL_KEY}]",
                CredentialFormatError(
                    "kiro-cli is signed in with an external identity provider, which is not "
                    "supported: sign in with IAM Identity Center instead",
                    code="unsupported_auth_method",
                ),
            )
        )
    return items


def scan_local(sources: LocalSources | None = None) -> list[ParsedItem]:
    """Everything `accounts import-local` finds on this machine."""
    sources = sources or LocalSources()
    return [*read_sso_cache(sources.sso_cache_dir), *read_kiro_cli_db(sources.kiro_cli_db)]


def join_registration_file(token_path: Path, raw: bytes) -> bytes:
    """A `kiro-auth-token.json` read from disk, with the `<clientIdHash>.json` beside it merged
    in (the IDE's own folder layout); other documents come back unchanged."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    digest = data.get("clientIdHash") if isinstance(data, dict) else None
    if not isinstance(digest, str) or not digest or "/" in digest or "\\" in digest:
        return raw
    if data.get("clientSecret"):
        return raw
    try:
        registration = orjson.loads(token_path.with_name(f"{digest}.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return raw
    if not isinstance(registration, dict):
        return raw
    merged = {**data, "authMethod": "idc"}
    for key in ("clientId", "clientSecret"):
        merged.setdefault(key, registration.get(key))
    return orjson.dumps(merged)
