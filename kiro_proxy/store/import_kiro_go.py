"""Import a Kiro-Go `config.json` (protocol doc §9.3): its `accounts` and its global counters.

Idempotent: each imported account is remembered by its Kiro-Go id (or a hash of its refresh
token), and a remembered account is never imported again, even after it was deleted here; the
database, not the file, owns tokens after the first import (refresh tokens rotate).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiro_proxy.pool.account import Account, AuthMethod
from kiro_proxy.settings import read_config_file
from kiro_proxy.store.accounts import AccountRepository
from kiro_proxy.store.settings_kv import SettingsRepository

log = logging.getLogger(__name__)

SEEN_KEY = "import.kiro_go.seen_accounts"
COUNTERS_KEY = "import.kiro_go.counters_imported"
TOTALS_KEY = "stats.totals"
_COUNTER_FIELDS = (
    "totalRequests",
    "successRequests",
    "failedRequests",
    "totalTokens",
    "totalCredits",
)


@dataclass(slots=True)
class ImportReport:
    added: list[str] = field(default_factory=list)  # labels, never secrets
    skipped: int = 0
    counters_imported: bool = False


def normalize_auth_method(raw: dict[str, Any]) -> AuthMethod:
    method = str(raw.get("authMethod") or "").strip().lower().replace("-", "").replace("_", "")
    if method in ("idc", "builderid", "enterprise", "iam", "iamsso"):
        return "idc"
    if method in ("social", "google", "github"):
        return "social"
    if method in ("apikey", "ksk"):
        return "api_key"
    if raw.get("clientId") and raw.get("clientSecret"):
        return "idc"
    return "social"


def _epoch(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, "", 0):
        return None
    if isinstance(value, int | float):
        return value / 1000.0 if value > 1e12 else float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10 and text[4] == "-":  # nextResetDate is YYYY-MM-DD
                return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return None if moment.year < 2000 else moment.timestamp()  # Go's zero time
    return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def source_key(raw: dict[str, Any]) -> str | None:
    if _str(raw.get("id")):
        return f"kiro-go:{raw['id'].strip()}"
    secret = _str(raw.get("refreshToken")) or _str(raw.get("accessToken"))
    if secret:
        return "kiro-go:sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:32]
    return None


def account_from_kiro_go(raw: dict[str, Any], *, now: float) -> Account:
    method = normalize_auth_method(raw)
    access = _str(raw.get("accessToken")) or _str(raw.get("kiroApiKey"))
    return Account(
        id=uuid.uuid4().hex,
        email=_str(raw.get("email")),
        nickname=_str(raw.get("nickname")),
        auth_method=method,
        provider=_str(raw.get("provider")),
        region=_str(raw.get("region")) or "us-east-1",
        start_url=_str(raw.get("startUrl")),
        client_id=_str(raw.get("clientId")),
        client_secret=_str(raw.get("clientSecret")),
        refresh_token=_str(raw.get("refreshToken")),
        access_token=access,
        expires_at=_epoch(raw.get("expiresAt")),
        profile_arn=_str(raw.get("profileArn")),
        machine_id=_str(raw.get("machineId")),
        enabled=raw.get("enabled") is not False,
        weight=max(1, _int(raw.get("weight")) or 1),
        proxy_url=_str(raw.get("proxyUrl")) or _str(raw.get("proxyURL")),
        subscription_type=_str(raw.get("subscriptionType")),
        subscription_title=_str(raw.get("subscriptionTitle")),
        usage_current=_float(raw.get("usageCurrent")),
        usage_limit=_float(raw.get("usageLimit")),
        reset_at=_epoch(raw.get("nextResetDate")),
        trial_status=_str(raw.get("trialStatus")),
        trial_usage_current=_float(raw.get("trialUsageCurrent")),
        trial_usage_limit=_float(raw.get("trialUsageLimit")),
        trial_expires_at=_epoch(raw.get("trialExpiresAt")),
        last_refresh_at=_epoch(raw.get("lastRefresh")),
        request_count=_int(raw.get("requestCount")),
        success_count=max(0, _int(raw.get("requestCount")) - _int(raw.get("errorCount"))),
        error_count=_int(raw.get("errorCount")),
        # Kiro-Go keeps only the sum of input and output tokens.
        input_tokens=_int(raw.get("totalTokens")),
        total_credits=_float(raw.get("totalCredits")) or 0.0,
        last_used_at=_epoch(raw.get("lastUsed")),
        created_at=now,
    )


async def import_kiro_go_config(
    path: Path, accounts: AccountRepository, kv: SettingsRepository
) -> ImportReport:
    report = ImportReport()
    data = read_config_file(path)
    if not data:
        return report
    seen: list[str] = list(await kv.get(SEEN_KEY, []) or [])
    known = set(seen) | await accounts.sources()
    now = time.time()
    raw_accounts = data.get("accounts")
    for index, raw in enumerate(raw_accounts if isinstance(raw_accounts, list) else []):
        if not isinstance(raw, dict):
            log.warning("config.json accounts[%d] is not an object; skipped", index)
            continue
        key = source_key(raw)
        if key is None:
            log.warning("config.json accounts[%d] has no id and no token; skipped", index)
            continue
        if key in known:
            report.skipped += 1
            continue
        account = account_from_kiro_go(raw, now=now + index * 1e-3)  # keep file order
        await accounts.insert(account, source=key)
        known.add(key)
        seen.append(key)
        report.added.append(account.label)
    if report.added:
        await kv.set(SEEN_KEY, seen)

    if not await kv.get(COUNTERS_KEY, False):
        counters = {name: data.get(name) for name in _COUNTER_FIELDS}
        if any(isinstance(v, int | float) and v for v in counters.values()):
            totals = dict(await kv.get(TOTALS_KEY, {}) or {})
            for name, value in counters.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    totals[name] = totals.get(name, 0) + value
            await kv.set_many({TOTALS_KEY: totals, COUNTERS_KEY: True})
            report.counters_imported = True
    if report.added:
        log.info("imported %d account(s) from %s", len(report.added), path)
    return report
