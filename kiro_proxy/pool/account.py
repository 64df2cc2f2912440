"""One pooled Kiro account: credentials, subscription info, health and counters, in memory.

The database row (store/models.py) and this dataclass carry the same fields; the pool works on
this object and the store persists it. Times are unix seconds (floats) everywhere in the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AuthMethod = Literal["social", "idc", "api_key"]

# Fields the request path changes often (health, counters): flushed to the database in batches.
HEALTH_FIELDS = (
    "enabled",
    "disabled_reason",
    "cooldown_until",
    "quota_exhausted_until",
    "consecutive_failures",
    "request_count",
    "success_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "total_credits",
    "last_used_at",
)

# Fields a token refresh changes: written at once, a rotated refresh token must never be lost.
TOKEN_FIELDS = ("access_token", "refresh_token", "expires_at", "profile_arn", "last_refresh_at")

# Fields a getUsageLimits poll changes.
LIMITS_FIELDS = (
    "email",
    "subscription_type",
    "subscription_title",
    "usage_current",
    "usage_limit",
    "reset_at",
    "trial_status",
    "trial_usage_current",
    "trial_usage_limit",
    "trial_expires_at",
    "limits_checked_at",
    "quota_exhausted_until",
)


@dataclass(slots=True, eq=False)
class Account:
    id: str
    email: str | None = None
    nickname: str | None = None
    auth_method: AuthMethod = "social"
    provider: str | None = None
    region: str = "us-east-1"
    start_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    access_token: str | None = None
    expires_at: float | None = None
    profile_arn: str | None = None
    machine_id: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    weight: int = 1
    proxy_url: str | None = None

    # Subscription and quota (getUsageLimits).
    subscription_type: str | None = None
    subscription_title: str | None = None
    usage_current: float | None = None
    usage_limit: float | None = None
    reset_at: float | None = None
    trial_status: str | None = None
    trial_usage_current: float | None = None
    trial_usage_limit: float | None = None
    trial_expires_at: float | None = None
    limits_checked_at: float | None = None
    last_refresh_at: float | None = None

    # Health.
    cooldown_until: float = 0.0
    quota_exhausted_until: float = 0.0
    consecutive_failures: int = 0

    # Counters.
    request_count: int = 0
    success_count: int = 0
    error_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_credits: float = 0.0
    last_used_at: float | None = None
    created_at: float = 0.0

    # Not persisted: requests currently streaming from this account.
    in_flight: int = field(default=0)

    @property
    def label(self) -> str:
        """A name for logs and messages (never a secret)."""
        return self.email or self.nickname or self.id[:8]

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def unusable_reason(self, now: float) -> str | None:
        """Why the pool must skip this account now, or None when it may serve a request."""
        if not self.enabled:
            return "disabled"
        if self.quota_exhausted_until > now:
            return "quota-exhausted"
        if self.cooldown_until > now:
            return "cooling-down"
        if not (self.refresh_token or self.access_token):
            return "no-credentials"
        return None

    def available_at(self) -> float:
        """When a cooling-down or exhausted (but enabled) account becomes usable again."""
        return max(self.cooldown_until, self.quota_exhausted_until)
