"""How an account looks to the admin panel: no secrets, a single state word, camelCase."""

from __future__ import annotations

from typing import Any

from kiro_proxy.admin.common import camel_keys
from kiro_proxy.pool.account import Account


def account_state(account: Account, now: float) -> dict[str, Any]:
    """healthy / cooling / exhausted / disabled / no-credentials, with reason and until-time."""
    if not account.enabled:
        return {"state": "disabled", "reason": account.disabled_reason or "disabled by the admin"}
    if account.quota_exhausted_until > now:
        return {"state": "exhausted", "until": account.quota_exhausted_until}
    if account.cooldown_until > now:
        return {"state": "cooling", "until": account.cooldown_until}
    if not (account.refresh_token or account.access_token):
        return {"state": "no-credentials"}
    return {"state": "healthy"}


def account_json(view: dict[str, Any], account: Account, now: float) -> dict[str, Any]:
    data = camel_keys(view)
    data.pop("inFlight", None)
    data["state"] = account_state(account, now)
    data["totalTokens"] = account.total_tokens
    data["proxyUrl"] = _masked_proxy(account.proxy_url)
    return data


def _masked_proxy(url: str | None) -> str | None:
    # A proxy URL can carry a password (http://user:pass@host): show only scheme and host.
    if not url:
        return None
    if url == "direct":
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host = rest.rsplit("@", 1)[-1]
    return f"{scheme}://{'***@' if '@' in rest else ''}{host}"
