"""getUsageLimits answer → account subscription and quota fields (protocol doc §7.1)."""

from __future__ import annotations

from typing import Any

from kiro_proxy.pool.account import Account


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _epoch_seconds(value: Any) -> float | None:
    number = _number(value)
    if number is None:
        return None
    return number / 1000.0 if number > 1e12 else number  # some answers use milliseconds


def subscription_type(info: dict[str, Any]) -> str:
    """Kiro-Go's classification by substring of title/name/type."""
    text = " ".join(
        str(info.get(k) or "")
        for k in ("subscriptionTitle", "subscriptionName", "subscriptionType", "type")
    ).upper()
    if "PRO_PLUS" in text or "PROPLUS" in text or "PRO+" in text:
        return "PRO_PLUS"
    if "POWER" in text:
        return "POWER"
    if "PRO" in text:
        return "PRO"
    return "FREE"


def apply_usage_limits(account: Account, data: dict[str, Any], *, now: float) -> None:
    """Copy what getUsageLimits says into the account. Missing fields leave values as they are."""
    info = data.get("subscriptionInfo")
    if isinstance(info, dict):
        account.subscription_type = subscription_type(info)
        title = info.get("subscriptionTitle") or info.get("subscriptionName")
        if isinstance(title, str):
            account.subscription_title = title
    user = data.get("userInfo")
    if isinstance(user, dict) and isinstance(user.get("email"), str) and user["email"]:
        account.email = user["email"]

    breakdowns = data.get("usageBreakdownList")
    first = breakdowns[0] if isinstance(breakdowns, list) and breakdowns else None
    if isinstance(first, dict):
        current = _number(first.get("currentUsageWithPrecision"))
        limit = _number(first.get("usageLimitWithPrecision"))
        account.usage_current = (
            current if current is not None else _number(first.get("currentUsage"))
        )
        account.usage_limit = limit if limit is not None else _number(first.get("usageLimit"))
        trial = first.get("freeTrialInfo")
        if isinstance(trial, dict):
            status = trial.get("freeTrialStatus")
            account.trial_status = status if isinstance(status, str) else None
            tcur = _number(trial.get("currentUsageWithPrecision"))
            tlim = _number(trial.get("usageLimitWithPrecision"))
            account.trial_usage_current = (
                tcur if tcur is not None else _number(trial.get("currentUsage"))
            )
            account.trial_usage_limit = (
                tlim if tlim is not None else _number(trial.get("usageLimit"))
            )
            account.trial_expires_at = _epoch_seconds(trial.get("freeTrialExpiry"))
        reset = _epoch_seconds(first.get("nextDateReset"))
        if reset is not None:
            account.reset_at = reset
    reset_top = _epoch_seconds(data.get("nextDateReset"))
    if reset_top is not None:
        account.reset_at = reset_top

    # A quota-exhausted account parked until a guessed date moves to the real reset date.
    if account.quota_exhausted_until > now and account.reset_at and account.reset_at > now:
        account.quota_exhausted_until = account.reset_at
    account.limits_checked_at = now
