"""What every login and import method does once it holds a credential (issue 6):

1. check the credential is complete (a refresh token; client id/secret for IdC);
2. validate it by refreshing at once (a dead refresh token is refused here, not at the first
   user request);
3. fetch the email and subscription with getUsageLimits;
4. deduplicate: the same Kiro identity added twice updates the stored account, never doubles it;
5. store it (secrets encrypted by the repository) and tell the pool to reload it.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from kiro_proxy.auth.errors import CredentialFormatError, LoginError
from kiro_proxy.auth.results import BatchReport, ItemOutcome, OnboardResult
from kiro_proxy.kiro.client import TokenGrant, UpstreamCredentials
from kiro_proxy.kiro.errors import KiroError, KiroHTTPError, TokenRefreshError
from kiro_proxy.kiro.fingerprint import normalize_machine_id
from kiro_proxy.pool.account import Account, AuthMethod
from kiro_proxy.pool.limits import apply_usage_limits

log = logging.getLogger(__name__)

# Kiro-Go keeps a supplied access token this long when the refresh fails for a transient reason.
FALLBACK_ACCESS_TOKEN_SECONDS = 300.0
# Copies of tokens cut by the IDE's UI ("aorAAAA...xyz") can never work (KRS rejects them too).
_TRUNCATION_MARKERS = ("...", "…")


@dataclass(slots=True)
class CredentialInput:
    """A credential from any method, before validation. Never log it (it holds secrets)."""

    refresh_token: str = ""
    access_token: str | None = None
    expires_at: float | None = None  # unix seconds
    auth_method: AuthMethod = "social"
    provider: str | None = None
    region: str = "us-east-1"
    client_id: str | None = None
    client_secret: str | None = None
    start_url: str | None = None
    profile_arn: str | None = None
    email: str | None = None
    nickname: str | None = None
    machine_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"CredentialInput(auth_method={self.auth_method!r}, provider={self.provider!r}, "
            f"region={self.region!r}, email={self.email!r})"
        )


class KiroAuthClient(Protocol):
    """The part of kiro.client.KiroClient onboarding uses."""

    async def refresh_social(
        self, refresh_token: str, *, machine_id: str, region: str = ..., proxy_url: str | None = ...
    ) -> TokenGrant: ...

    async def refresh_oidc(
        self,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        *,
        region: str,
        proxy_url: str | None = ...,
    ) -> TokenGrant: ...

    async def get_usage_limits(self, creds: UpstreamCredentials) -> dict[str, Any]: ...


class AccountStore(Protocol):
    """The part of store.accounts.AccountRepository onboarding uses."""

    async def list_all(self) -> list[Account]: ...

    async def insert(self, account: Account, *, source: str | None = None) -> None: ...

    async def save(self, account: Account, names: Iterable[str]) -> None: ...


AccountChanged = Callable[[str], Awaitable[None]]

# Attributes onboarding writes when it updates an existing account (never counters or health).
_UPDATED_FIELDS = (
    "email",
    "nickname",
    "auth_method",
    "provider",
    "region",
    "start_url",
    "client_id",
    "client_secret",
    "refresh_token",
    "access_token",
    "expires_at",
    "profile_arn",
    "machine_id",
    "enabled",
    "disabled_reason",
    "cooldown_until",
    "consecutive_failures",
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
    "last_refresh_at",
    "quota_exhausted_until",
)


def check_credential(cred: CredentialInput) -> None:
    """Refuse what can never work before any network call, saying how to fix it."""
    if cred.auth_method == "api_key":
        if not cred.access_token:
            raise CredentialFormatError("an API-key account needs its ksk_ key")
        return
    token = (cred.refresh_token or "").strip()
    if not token:
        raise CredentialFormatError(
            "no refreshToken: copy the whole credential (the refresh token is what keeps the "
            "account signed in)",
            code="missing_refresh_token",
        )
    if any(marker in token for marker in _TRUNCATION_MARKERS):
        raise CredentialFormatError(
            "the refreshToken is truncated (it contains '...'): copy the full value from the "
            "file, not from a preview",
            code="truncated_refresh_token",
        )
    if cred.auth_method == "idc" and not (cred.client_id and cred.client_secret):
        raise CredentialFormatError(
            "an IdC/Builder ID credential needs clientId and clientSecret: include the "
            "<clientIdHash>.json registration file, or add both fields",
            code="missing_client_registration",
        )


def dedupe_key(account: Account) -> tuple[str, str] | None:
    """The same Kiro identity: same sign-in kind and same email (case-insensitive)."""
    if account.email:
        return (account.auth_method, account.email.strip().lower())
    return None


def find_duplicate(existing: Iterable[Account], candidate: Account) -> Account | None:
    key = dedupe_key(candidate)
    for account in existing:
        if key is not None and dedupe_key(account) == key:
            return account
        # Without an email (getUsageLimits failed) the same refresh token still identifies it.
        if candidate.refresh_token and account.refresh_token == candidate.refresh_token:
            return account
        if (
            candidate.auth_method == "api_key"
            and candidate.access_token
            and account.access_token == candidate.access_token
        ):
            return account
    return None


def _refresh_failure(exc: TokenRefreshError, cred: CredentialInput) -> LoginError:
    if exc.is_permanent:
        how = (
            "log in again (or export a fresh credential from Kiro) and add it again"
            if cred.auth_method == "social"
            else "log in again with Builder ID / IAM Identity Center and add it again"
        )
        return LoginError(
            f"the refresh token was refused ({exc.error or 'invalid_grant'}): it is expired, "
            f"revoked or already replaced by a newer one; {how}",
            code="invalid_refresh_token",
        )
    if exc.status in (400, 401) and cred.auth_method == "idc":
        return LoginError(
            f"AWS SSO-OIDC refused the refresh (HTTP {exc.status}, {exc.error or 'no reason'}): "
            "check that clientId/clientSecret belong to this token and the region is right",
            code="refresh_rejected",
        )
    return LoginError(
        f"could not validate the credential: the token refresh failed (HTTP {exc.status}); "
        "try again in a minute",
        code="refresh_failed",
        status=502,
    )


class Onboarder:
    """Validates, enriches, deduplicates and stores credentials. One per request or CLI run."""

    def __init__(
        self,
        client: KiroAuthClient,
        accounts: AccountStore,
        *,
        on_changed: AccountChanged | None = None,
        proxy_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._accounts = accounts
        self._on_changed = on_changed
        self._proxy_url = proxy_url
        self._clock = clock

    async def add(self, cred: CredentialInput) -> OnboardResult:
        check_credential(cred)
        warnings: list[str] = []
        machine_id = (
            cred.machine_id and normalize_machine_id(cred.machine_id)
        ) or secrets.token_hex(32)
        now = self._clock()
        account = Account(
            id=uuid.uuid4().hex,
            email=cred.email,
            nickname=cred.nickname,
            auth_method=cred.auth_method,
            provider=cred.provider,
            region=cred.region or "us-east-1",
            start_url=cred.start_url,
            client_id=cred.client_id,
            client_secret=cred.client_secret,
            refresh_token=cred.refresh_token.strip() or None,
            access_token=cred.access_token,
            expires_at=cred.expires_at,
            profile_arn=cred.profile_arn,
            machine_id=machine_id,
            created_at=now,
        )
        await self._validate(account, cred, warnings)
        await self._fetch_limits(account, warnings)
        return await self._store(account, cred, warnings)

    async def add_many(
        self, items: Iterable[tuple[str, CredentialInput | LoginError]]
    ) -> BatchReport:
        """Items already parsed (or already failed parsing); one outcome per item, in order."""
        report = BatchReport()
        for index, (label, item) in enumerate(items):
            outcome = ItemOutcome(index=index, label=label)
            if isinstance(item, LoginError):
                outcome.error, outcome.code = item.message, item.code
            else:
                try:
                    outcome.result = await self.add(item)
                except LoginError as exc:
                    outcome.error, outcome.code = exc.message, exc.code
            report.items.append(outcome)
        return report

    async def _validate(self, account: Account, cred: CredentialInput, warnings: list[str]) -> None:
        if account.auth_method == "api_key":
            return  # a ksk_ key is used as is; getUsageLimits below proves it works
        assert account.refresh_token is not None
        try:
            if account.auth_method == "idc":
                grant = await self._client.refresh_oidc(
                    account.refresh_token,
                    account.client_id or "",
                    account.client_secret or "",
                    region=account.region,
                    proxy_url=self._proxy_url,
                )
            else:
                grant = await self._client.refresh_social(
                    account.refresh_token,
                    machine_id=account.machine_id or "",
                    region=account.region,
                    proxy_url=self._proxy_url,
                )
        except TokenRefreshError as exc:
            error = _refresh_failure(exc, cred)
            if exc.is_permanent or not cred.access_token:
                raise error from exc
            # Kiro-Go's rule: a transient refresh failure with a usable access token still
            # imports; the pool refreshes again before the token runs out.
            account.expires_at = self._clock() + FALLBACK_ACCESS_TOKEN_SECONDS
            warnings.append(f"{error.message} (kept the supplied access token for now)")
            return
        except KiroError as exc:
            raise LoginError(
                f"could not reach Kiro to validate the credential ({type(exc).__name__}); "
                "check the network or proxy and try again",
                code="network_error",
                status=502,
            ) from exc
        now = self._clock()
        account.access_token = grant.access_token
        if grant.refresh_token:
            account.refresh_token = grant.refresh_token
        if grant.profile_arn:
            account.profile_arn = grant.profile_arn
        account.expires_at = now + float(grant.expires_in)
        account.last_refresh_at = now

    async def _fetch_limits(self, account: Account, warnings: list[str]) -> None:
        creds = UpstreamCredentials(
            access_token=account.access_token or "",
            machine_id=account.machine_id or "",
            auth_method=account.auth_method,
            region=account.region,
            profile_arn=account.profile_arn,
            proxy_url=self._proxy_url,
        )
        try:
            data = await self._client.get_usage_limits(creds)
        except KiroHTTPError as exc:
            if account.auth_method == "api_key" and exc.is_invalid_token:
                raise LoginError(
                    "Kiro refused the API key: check that the ksk_ key is complete and not revoked",
                    code="invalid_api_key",
                ) from exc
            if exc.is_suspended:
                raise LoginError(
                    "Kiro says this account is suspended; it cannot be used",
                    code="account_suspended",
                ) from exc
            warnings.append(
                f"could not read email and subscription (HTTP {exc.status}); "
                "use 'refresh' on the account later"
            )
            return
        except KiroError as exc:
            warnings.append(
                f"could not read email and subscription ({type(exc).__name__}); "
                "use 'refresh' on the account later"
            )
            return
        apply_usage_limits(account, data, now=self._clock())

    async def _store(
        self, account: Account, cred: CredentialInput, warnings: list[str]
    ) -> OnboardResult:
        existing = find_duplicate(await self._accounts.list_all(), account)
        if existing is None:
            await self._accounts.insert(account, source=None)
            target, created = account, True
        else:
            target, created = _merge_into(existing, account, cred), False
            await self._accounts.save(target, _UPDATED_FIELDS)
        log.info(
            "%s account %s (%s)",
            "added" if created else "updated",
            target.label,
            target.auth_method,
        )
        if self._on_changed is not None:
            try:
                await self._on_changed(target.id)
            except Exception:
                log.exception("pool reload after adding account %s failed", target.label)
        return OnboardResult(
            account_id=target.id,
            email=target.email,
            created=created,
            auth_method=target.auth_method,
            provider=target.provider,
            subscription=target.subscription_title or target.subscription_type,
            warnings=tuple(warnings),
        )


def _merge_into(existing: Account, fresh: Account, cred: CredentialInput) -> Account:
    """Fresh credentials and limits over the stored account; its id, counters and the user's
    nickname/machine id stay (a changing machine id would look like a new computer to Kiro)."""
    for name in _UPDATED_FIELDS:
        if name in ("nickname", "machine_id", "enabled", "disabled_reason"):
            continue
        if name in ("cooldown_until", "consecutive_failures", "quota_exhausted_until"):
            continue
        value = getattr(fresh, name)
        if value is not None:
            setattr(existing, name, value)
    if cred.nickname:
        existing.nickname = cred.nickname
    if cred.machine_id and fresh.machine_id:
        existing.machine_id = fresh.machine_id
    existing.machine_id = existing.machine_id or fresh.machine_id
    # An account the pool disabled for a dead token ("refresh token rejected…") works again
    # with the new credential; an account disabled by hand or for suspension stays disabled.
    if not existing.enabled and "token" in (existing.disabled_reason or "").lower():
        existing.enabled = True
        existing.disabled_reason = None
    existing.consecutive_failures = 0
    existing.cooldown_until = 0.0
    return existing
