"""IAM Identity Center (enterprise SSO) login: authorization code with PKCE (protocol doc §6.2).

`start` registers a client for the organisation's start URL and builds the authorize URL; the
user signs in, the browser lands on the redirect URI with `code` and `state`; `complete` takes
that final URL (pasted by the user, or received by the gateway's own `/admin/oauth/callback`
when it runs on the user's machine), checks `state`, and trades the code for tokens.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from kiro_proxy.auth.errors import CredentialFormatError, LoginError
from kiro_proxy.auth.oidc import (
    ClientRegistration,
    OidcApi,
    OidcError,
    TokenGrant,
    build_authorize_url,
    grant_credentials,
    make_pkce,
)
from kiro_proxy.auth.onboarding import CredentialInput

# Kiro-Go's redirect URI: nothing listens there, so the browser shows an error page whose
# address the user copies back. A gateway on the user's machine registers its own callback.
PASTE_REDIRECT_URI = "http://127.0.0.1/oauth/callback"
SESSION_SECONDS = 600.0
Clock = Callable[[], float]


@dataclass(slots=True)
class IdcLogin:
    """One login in progress. Holds the PKCE verifier and client secret: server-side only."""

    start_url: str
    region: str
    registration: ClientRegistration
    redirect_uri: str
    state: str = field(repr=False)
    verifier: str = field(repr=False)
    authorize_url: str
    expires_at: float

    def to_credentials(self, grant: TokenGrant, now: float) -> CredentialInput:
        return grant_credentials(
            grant,
            self.registration,
            provider="Enterprise",
            region=self.region,
            start_url=self.start_url,
            now=now,
        )


def normalize_start_url(start_url: str) -> str:
    url = (start_url or "").strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise CredentialFormatError(
            "the start URL must look like https://<your-org>.awsapps.com/start: copy it from "
            "the AWS access portal or ask your administrator",
            code="invalid_start_url",
        )
    return url.rstrip("/")


async def start(
    api: OidcApi,
    *,
    start_url: str,
    region: str,
    redirect_uri: str = PASTE_REDIRECT_URI,
    clock: Clock = time.time,
) -> IdcLogin:
    start_url = normalize_start_url(start_url)
    registration = await api.register_client(
        client_name="Kiro",
        grant_types=["authorization_code", "refresh_token"],
        issuer_url=start_url,
        redirect_uris=[redirect_uri],
    )
    pkce = make_pkce()
    state = secrets.token_urlsafe(24)
    return IdcLogin(
        start_url=start_url,
        region=region,
        registration=registration,
        redirect_uri=redirect_uri,
        state=state,
        verifier=pkce.verifier,
        authorize_url=build_authorize_url(
            api.base_url,
            client_id=registration.client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=pkce.challenge,
        ),
        expires_at=clock() + SESSION_SECONDS,
    )


def state_of(callback_url: str) -> str | None:
    """The `state` in a callback URL (finds the session a local callback belongs to)."""
    values = parse_qs(urlsplit(callback_url.strip()).query).get("state")
    return values[0] if values else None


def code_from_callback(login: IdcLogin, callback_url: str) -> str:
    """The authorization code in the final URL, after checking it answers this login."""
    text = (callback_url or "").strip()
    query = parse_qs(urlsplit(text).query) if "?" in text else parse_qs(text.lstrip("?"))
    if not query:
        raise CredentialFormatError(
            "that is not the callback URL: after signing in, copy the whole address from the "
            "browser's address bar (it starts with "
            f"{login.redirect_uri} and contains code= and state=)",
            code="invalid_callback_url",
        )
    error = (query.get("error") or [None])[0]
    if error:
        description = (query.get("error_description") or [""])[0][:200]
        if error == "access_denied":
            raise LoginError(
                "the sign-in was denied in the browser: start the login again and allow access",
                code="access_denied",
            )
        raise LoginError(
            f"the sign-in failed ({error}{': ' + description if description else ''}): "
            "start the login again",
            code=error,
        )
    state = (query.get("state") or [None])[0]
    if not state or not secrets.compare_digest(state, login.state):
        raise LoginError(
            "the callback URL belongs to a different login (state mismatch): use the URL from "
            "the sign-in you just started, or start the login again",
            code="state_mismatch",
        )
    code = (query.get("code") or [None])[0]
    if not code:
        raise CredentialFormatError(
            "the callback URL has no code=: copy the complete address after the sign-in finishes",
            code="invalid_callback_url",
        )
    return code


async def complete(
    api: OidcApi, login: IdcLogin, callback_url: str, *, clock: Clock = time.time
) -> TokenGrant:
    if clock() >= login.expires_at:
        raise LoginError(
            "the sign-in took longer than 10 minutes and this login expired: start it again",
            code="expired_token",
        )
    code = code_from_callback(login, callback_url)
    try:
        grant = await api.token_from_code(
            login.registration, code=code, redirect_uri=login.redirect_uri, verifier=login.verifier
        )
    except OidcError as exc:
        raise LoginError(
            f"AWS refused the authorization code ({exc.error or f'HTTP {exc.status}'}); codes "
            "work once and expire within minutes: start the login again",
            code=exc.error or "invalid_grant",
        ) from exc
    if not grant.refresh_token:
        raise LoginError(
            "AWS returned no refresh token, so the account could not be kept signed in: "
            "start the login again",
            code="no_refresh_token",
        )
    return grant
