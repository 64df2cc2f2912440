"""Credential JSON import (protocol doc §6.6): one document in, one parsed item per account.

Accepted documents: a single credential object, an array of them, a Kiro Account Manager export
(`{version, accounts:[{…, credentials:{…}}]}`) and a Kiro-Go `config.json` (`{accounts:[…]}`
with flat items). Field names may be camelCase (Kiro-Go, KAM, the IDE cache) or snake_case
(kiro-cli). Every item gets its own outcome: one broken item never sinks the batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from kiro_proxy.auth.errors import CredentialFormatError, LoginError
from kiro_proxy.auth.onboarding import CredentialInput
from kiro_proxy.auth.regions import checked_region
from kiro_proxy.store.import_kiro_go import normalize_auth_method

ParsedItem = tuple[str, CredentialInput | LoginError]  # (label without secrets, result)


def _get(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return value
    return None


def _text(data: dict[str, Any], *names: str) -> str | None:
    value = _get(data, *names)
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_time(value: Any) -> float | None:
    """Unix seconds from epoch seconds, epoch milliseconds (KAM export) or ISO 8601 (IDE)."""
    if isinstance(value, bool) or value in (None, "", 0):
        return None
    if isinstance(value, int | float):
        return value / 1000.0 if value > 1e12 else float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return parse_time(float(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp() if moment.year >= 2000 else None
    return None


def _is_external_idp(data: dict[str, Any]) -> bool:
    method = str(_get(data, "authMethod", "auth_method") or "").lower().replace("_", "")
    provider = str(_get(data, "provider", "idp") or "").lower()
    return method == "externalidp" or provider == "externalidp"


def credential_from_mapping(
    data: dict[str, Any], *, outer: dict[str, Any] | None = None
) -> CredentialInput:
    """One credential object → CredentialInput. `outer` is the KAM account wrapping it
    (email, nickname, machineId live there)."""
    outer = outer or {}
    if _is_external_idp(data):
        raise CredentialFormatError(
            "external identity provider (Entra ID / Okta) credentials are not supported: "
            "sign in with IAM Identity Center instead",
            code="unsupported_auth_method",
        )
    api_key = _text(data, "kiroApiKey", "apiKey", "api_key")
    fields = {
        "authMethod": _get(data, "authMethod", "auth_method"),
        "clientId": _get(data, "clientId", "client_id"),
        "clientSecret": _get(data, "clientSecret", "client_secret"),
    }
    method = "api_key" if api_key and api_key.startswith("ksk_") else normalize_auth_method(fields)
    region = checked_region(_text(data, "region", "authRegion", "auth_region"))
    return CredentialInput(
        refresh_token=_text(data, "refreshToken", "refresh_token") or "",
        access_token=api_key if method == "api_key" else _text(data, "accessToken", "access_token"),
        expires_at=parse_time(_get(data, "expiresAt", "expires_at")),
        auth_method=method,
        provider=_text(data, "provider", "idp") or _text(outer, "idp", "provider"),
        region=region,
        client_id=_text(data, "clientId", "client_id"),
        client_secret=_text(data, "clientSecret", "client_secret"),
        start_url=_text(data, "startUrl", "start_url"),
        profile_arn=_text(data, "profileArn", "profile_arn") or _text(outer, "profileArn"),
        email=_text(outer, "email") or _text(data, "email"),
        nickname=_text(outer, "nickname") or _text(data, "nickname"),
        machine_id=_text(outer, "machineId") or _text(data, "machineId", "machine_id"),
    )


def _label(index: int, item: Any) -> str:
    if isinstance(item, dict):
        for source in (
            item,
            item.get("credentials") if isinstance(item.get("credentials"), dict) else {},
        ):
            name = _text(source, "email") or _text(source, "nickname")
            if name:
                return f"item {index + 1} ({name})"
    return f"item {index + 1}"


def _item(index: int, item: Any) -> ParsedItem:
    label = _label(index, item)
    if not isinstance(item, dict):
        return label, CredentialFormatError(
            f"expected a JSON object, got {type(item).__name__}: each item must be an object "
            "with at least refreshToken"
        )
    try:
        nested = item.get("credentials")
        if isinstance(nested, dict):  # Kiro Account Manager export item
            return label, credential_from_mapping(nested, outer=item)
        return label, credential_from_mapping(item)
    except LoginError as exc:
        return label, exc


def parse_document(raw: bytes | str) -> list[ParsedItem]:
    """Parse a whole upload. Raises CredentialFormatError when nothing can be read at all."""
    text = raw.decode("utf-8-sig", "replace") if isinstance(raw, bytes) else raw.lstrip("\ufeff")
    if not text.strip():
        raise CredentialFormatError("the file is empty: paste or upload the credential JSON")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CredentialFormatError(
            f"not valid JSON ({exc}): check for a missing comma, quote or bracket; the file "
            "must be one object, an array, or a Kiro Account Manager / Kiro-Go export",
            code="malformed_json",
        ) from exc
    return parse_value(data)


def parse_value(data: Any) -> list[ParsedItem]:
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict) and isinstance(data.get("accounts"), list):
        items = data["accounts"]  # KAM export or Kiro-Go config.json
    elif isinstance(data, dict):
        items = [data]
    else:
        raise CredentialFormatError(
            f"expected a JSON object or array of credentials, got {type(data).__name__}",
            code="malformed_json",
        )
    if not items:
        raise CredentialFormatError("the document contains no accounts", code="empty")
    return [_item(index, item) for index, item in enumerate(items)]
