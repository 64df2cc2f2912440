"""AWS SSO-OIDC and SSO-portal HTTP calls used by the login flows (protocol doc §6).

One small class per service; the base URLs come from settings (`oidc_url(region)`,
`portal_url(region)`) so that tests point them at the simulator. JSON bodies use camelCase keys:
SSO-OIDC rejects form-encoded snake_case (protocol doc §5.2).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.onboarding import CredentialInput
from kiro_proxy.kiro.fingerprint import oidc_headers

# The scopes Kiro's IDE asks for (Kiro-Go asks for all five; AIC only the first three).
KIRO_SCOPES = (
    "codewhisperer:completions",
    "codewhisperer:analysis",
    "codewhisperer:conversations",
    "codewhisperer:transformations",
    "codewhisperer:taskassist",
)
BUILDER_ID_START_URL = "https://view.awsapps.com/start"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# The portal checks the Referer of the user-code calls (Kiro-Go sso_token.go).
PORTAL_REFERER = "https://view.awsapps.com/"
HTTP_TIMEOUT_SECONDS = 30.0
_MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class ClientRegistration:
    client_id: str
    client_secret: str = field(repr=False)  # reprs end up in logs and tracebacks
    expires_at: float | None = None  # unix seconds


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: float
    expires_in: float


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: float


def grant_credentials(
    grant: TokenGrant,
    registration: ClientRegistration,
    *,
    provider: str,
    region: str,
    start_url: str,
    now: float,
) -> CredentialInput:
    """The credential every OIDC login ends with (Builder ID, IAM Identity Center, SSO cookie):
    the grant's tokens plus the client registration needed to refresh them."""
    return CredentialInput(
        refresh_token=grant.refresh_token or "",
        access_token=grant.access_token,
        expires_at=now + grant.expires_in,
        auth_method="idc",
        provider=provider,
        region=region,
        client_id=registration.client_id,
        client_secret=registration.client_secret,
        start_url=start_url,
    )


class OidcError(Exception):
    """A non-200 answer from SSO-OIDC or the portal; `error` is the OAuth error code."""

    def __init__(self, status: int, error: str | None, description: str) -> None:
        self.status = status
        self.error = error
        self.description = description
        super().__init__(f"HTTP {status} [{error or 'unknown'}] {description}".strip())


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str = field(repr=False)
    challenge: str


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_pkce() -> Pkce:
    """RFC 7636 S256: verifier = base64url(32 random bytes), challenge = base64url(sha256)."""
    verifier = _b64url(secrets.token_bytes(32))
    return Pkce(verifier, _b64url(hashlib.sha256(verifier.encode("ascii")).digest()))


def build_authorize_url(
    oidc_base: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    scopes: tuple[str, ...] = KIRO_SCOPES,
) -> str:
    # SSO-OIDC takes `scopes` comma-joined (not the OAuth space-separated `scope`).
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scopes": ",".join(scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{oidc_base.rstrip('/')}/authorize?{query}"


def _error_from_body(status: int, body: bytes) -> OidcError:
    try:
        data: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error = data.get("error") or data.get("__type") or data.get("code")
        if isinstance(error, str):
            error = error.rsplit("#", 1)[-1]
            # AWS SDK style names (ExpiredTokenException) → OAuth codes the flows understand.
            error = _AWS_EXCEPTION_CODES.get(error, error)
        description = data.get("error_description") or data.get("message") or data.get("Message")
        return OidcError(
            status,
            error if isinstance(error, str) else None,
            str(description)[:_MAX_ERROR_CHARS] if description else "",
        )
    text = body.decode("utf-8", "replace")[:_MAX_ERROR_CHARS] if body else ""
    return OidcError(status, None, text)


_AWS_EXCEPTION_CODES = {
    "AuthorizationPendingException": "authorization_pending",
    "SlowDownException": "slow_down",
    "ExpiredTokenException": "expired_token",
    "AccessDeniedException": "access_denied",
    "InvalidGrantException": "invalid_grant",
    "InvalidClientException": "invalid_client",
}


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _require_str(data: dict[str, Any], key: str, what: str) -> str:
    value = _optional_str(data, key)
    if value is None:
        raise LoginError(
            f"{what}: the answer had no {key}; this is an upstream problem, try again later",
            code="upstream_error",
            status=502,
        )
    return value


def _number(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and value > 0 else default


class _JsonService:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        what: str,
    ) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        all_headers = oidc_headers()
        all_headers.update(headers or {})
        try:
            async with self._session.request(
                method,
                url,
                data=orjson.dumps(body) if body is not None else None,
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LoginError(
                f"{what}: could not reach {self.base_url} ({type(exc).__name__}); "
                "check the network or the outbound proxy setting and try again",
                code="network_error",
                status=502,
            ) from exc
        if status != 200:
            raise _error_from_body(status, raw)
        try:
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as exc:
            raise LoginError(
                f"{what}: the answer was not JSON; try again later",
                code="upstream_error",
                status=502,
            ) from exc
        return data if isinstance(data, dict) else {}


class OidcApi(_JsonService):
    """SSO-OIDC at `https://oidc.{region}.amazonaws.com` (or the simulator)."""

    async def register_client(
        self,
        *,
        client_name: str,
        grant_types: list[str],
        issuer_url: str,
        redirect_uris: list[str] | None = None,
    ) -> ClientRegistration:
        body: dict[str, Any] = {
            "clientName": client_name,
            "clientType": "public",
            "scopes": list(KIRO_SCOPES),
            "grantTypes": grant_types,
            "issuerUrl": issuer_url,
        }
        if redirect_uris:
            body["redirectUris"] = redirect_uris
        data = await self._call(
            "POST", "/client/register", body=body, what="registering the client"
        )
        expires = data.get("clientSecretExpiresAt")
        return ClientRegistration(
            client_id=_require_str(data, "clientId", "registering the client"),
            client_secret=_require_str(data, "clientSecret", "registering the client"),
            expires_at=float(expires) if isinstance(expires, int | float) else None,
        )

    async def start_device_authorization(
        self, registration: ClientRegistration, *, start_url: str, default_interval: float = 5.0
    ) -> DeviceAuthorization:
        what = "starting the device authorization"
        data = await self._call(
            "POST",
            "/device_authorization",
            body={
                "clientId": registration.client_id,
                "clientSecret": registration.client_secret,
                "startUrl": start_url,
            },
            what=what,
        )
        return DeviceAuthorization(
            device_code=_require_str(data, "deviceCode", what),
            user_code=_require_str(data, "userCode", what),
            verification_uri=_optional_str(data, "verificationUri") or BUILDER_ID_START_URL,
            verification_uri_complete=_optional_str(data, "verificationUriComplete"),
            interval=_number(data, "interval", default_interval),
            expires_in=_number(data, "expiresIn", 600.0),
        )

    async def _token(self, body: dict[str, Any]) -> TokenGrant:
        data = await self._call("POST", "/token", body=body, what="fetching the token")
        return TokenGrant(
            access_token=_require_str(data, "accessToken", "fetching the token"),
            refresh_token=_optional_str(data, "refreshToken"),
            expires_in=_number(data, "expiresIn", 3600.0),
        )

    async def token_from_device_code(
        self, registration: ClientRegistration, device_code: str
    ) -> TokenGrant:
        """One poll. Raises OidcError with authorization_pending / slow_down / expired_token /
        access_denied while the user has not finished."""
        return await self._token(
            {
                "clientId": registration.client_id,
                "clientSecret": registration.client_secret,
                "grantType": DEVICE_CODE_GRANT,
                "deviceCode": device_code,
            }
        )

    async def token_from_code(
        self, registration: ClientRegistration, *, code: str, redirect_uri: str, verifier: str
    ) -> TokenGrant:
        return await self._token(
            {
                "clientId": registration.client_id,
                "clientSecret": registration.client_secret,
                "grantType": "authorization_code",
                "redirectUri": redirect_uri,
                "code": code,
                "codeVerifier": verifier,
            }
        )

    async def accept_user_code(self, user_code: str, session_token: str) -> dict[str, Any] | None:
        data = await self._call(
            "POST",
            "/device_authorization/accept_user_code",
            body={"userCode": user_code, "userSessionId": session_token},
            headers={"referer": PORTAL_REFERER},
            what="accepting the user code",
        )
        context = data.get("deviceContext")
        return context if isinstance(context, dict) else None

    async def associate_token(self, device_context: dict[str, Any], session_token: str) -> None:
        await self._call(
            "POST",
            "/device_authorization/associate_token",
            body={"deviceContext": device_context, "userSessionId": session_token},
            headers={"referer": PORTAL_REFERER},
            what="approving the device",
        )


class PortalApi(_JsonService):
    """The AWS access portal at `https://portal.sso.{region}.amazonaws.com`: the
    `x-amz-sso_authn` cookie value is its bearer token."""

    async def who_am_i(self, bearer: str) -> dict[str, Any]:
        return await self._call(
            "GET",
            "/token/whoAmI",
            headers={"authorization": f"Bearer {bearer}"},
            what="checking the SSO cookie",
        )

    async def create_device_session(self, bearer: str) -> str:
        what = "opening a portal device session"
        data = await self._call(
            "POST",
            "/session/device",
            body={},
            headers={"authorization": f"Bearer {bearer}"},
            what=what,
        )
        return _require_str(data, "token", what)


def new_session(proxy_url: str | None = None) -> aiohttp.ClientSession:
    """A short-lived HTTP session for one login (logins are rare; no pooling needed). The
    global outbound proxy applies: a host that needs it for Kiro needs it for AWS too."""
    if proxy_url and proxy_url != "direct":
        from aiohttp_socks import ProxyConnector

        return aiohttp.ClientSession(connector=ProxyConnector.from_url(proxy_url))
    return aiohttp.ClientSession()
