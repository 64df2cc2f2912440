"""Export accounts in the Kiro Account Manager format (protocol doc §9.2 `/export`).

THE EXPORT CONTAINS SECRETS: refresh tokens, access tokens and client secrets, in plain text,
because that is what makes it importable elsewhere. Callers must say so to the user and should
write it with owner-only permissions. `credential_json.parse_value` reads it back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from kiro_proxy.pool.account import Account

EXPORT_VERSION = "1.0"
SECRETS_WARNING = (
    "This export contains the accounts' refresh tokens, access tokens and client secrets in "
    "plain text. Anyone holding it can use these Kiro accounts: store it like a password and "
    "delete it when done."
)

# KAM's subscription names.
_KAM_SUBSCRIPTION = {"FREE": "Free", "PRO": "Pro", "PRO_PLUS": "Pro_Plus", "POWER": "Power"}


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if seconds else None


def account_to_kam(account: Account) -> dict[str, Any]:
    limit = account.usage_limit or 0.0
    current = account.usage_current or 0.0
    auth_method = "social" if account.auth_method == "social" else "IdC"
    credentials: dict[str, Any] = {
        "accessToken": account.access_token or "",
        "csrfToken": "",
        "refreshToken": account.refresh_token or "",
        "clientId": account.client_id or "",
        "clientSecret": account.client_secret or "",
        "region": account.region or "us-east-1",
        "expiresAt": _ms(account.expires_at),
        "authMethod": auth_method,
        "provider": account.provider or ("Google" if auth_method == "social" else "BuilderId"),
    }
    if account.auth_method == "api_key":
        # KAM has no API-key kind; Kiro-Go's field name keeps it importable here.
        credentials["authMethod"] = "api_key"
        credentials["kiroApiKey"] = account.access_token or ""
    if account.start_url:
        credentials["startUrl"] = account.start_url
    if account.profile_arn:
        credentials["profileArn"] = account.profile_arn
    return {
        "id": account.id,
        "email": account.email or "",
        "nickname": account.nickname or "",
        "idp": credentials["provider"],
        "userId": "",
        "machineId": account.machine_id or "",
        "credentials": credentials,
        "subscription": {
            "type": _KAM_SUBSCRIPTION.get(account.subscription_type or "FREE", "Free"),
            "title": account.subscription_title or "",
        },
        "usage": {
            "current": current,
            "limit": limit,
            "percentUsed": (current / limit) if limit else 0.0,
            "lastUpdated": _ms(account.limits_checked_at),
        },
        "tags": [],
        "status": "active" if account.enabled else "disabled",
        "createdAt": _ms(account.created_at),
        "lastUsedAt": _ms(account.last_used_at),
    }


def build_export(
    accounts: Iterable[Account], *, ids: Iterable[str] | None = None, now: float | None = None
) -> dict[str, Any]:
    """The export document; `ids` empty or None means every account."""
    wanted = {i for i in ids or () if i}
    chosen = [a for a in accounts if not wanted or a.id in wanted]
    return {
        "version": EXPORT_VERSION,
        "exportedAt": int((now if now is not None else time.time()) * 1000),
        "containsSecrets": True,
        "warning": SECRETS_WARNING,
        "accounts": [account_to_kam(a) for a in chosen],
        "groups": [],
        "tags": [],
    }
