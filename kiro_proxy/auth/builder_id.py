"""AWS Builder ID login: the OAuth device authorization grant (protocol doc §6.1).

`start` registers a public client and asks for a device code; the user opens the verification
URL and types the code; `poll_once` asks `/token` whether they have. Polling honours the server's
`interval` and adds 5 s on every `slow_down` (RFC 8628 §3.5). `wait` loops `poll_once` for the
CLI; the admin API calls `poll_once` once per panel poll so no request blocks for minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.oidc import (
    BUILDER_ID_START_URL,
    DEVICE_CODE_GRANT,
    ClientRegistration,
    DeviceAuthorization,
    OidcApi,
    OidcError,
    TokenGrant,
    grant_credentials,
)
from kiro_proxy.auth.onboarding import CredentialInput

SLOW_DOWN_STEP_SECONDS = 5.0
Clock = Callable[[], float]


@dataclass(slots=True)
class BuilderIdLogin:
    """One login in progress. Holds the client secret: keep it server-side only."""

    region: str
    registration: ClientRegistration
    device: DeviceAuthorization
    interval: float
    expires_at: float
    start_url: str = BUILDER_ID_START_URL

    @property
    def verification_url(self) -> str:
        # The complete URL pre-fills the code, one click less for the user (Kiro-Go shows it too).
        return self.device.verification_uri_complete or self.device.verification_uri

    def to_credentials(self, grant: TokenGrant, now: float) -> CredentialInput:
        return grant_credentials(
            grant,
            self.registration,
            provider="BuilderId",
            region=self.region,
            start_url=self.start_url,
            now=now,
        )


PollStatus = Literal["pending", "slow_down", "approved"]


@dataclass(frozen=True, slots=True)
class PollResult:
    status: PollStatus
    interval: float
    grant: TokenGrant | None = None


async def start(api: OidcApi, *, region: str, clock: Clock = time.time) -> BuilderIdLogin:
    registration = await api.register_client(
        client_name="Kiro",
        grant_types=[DEVICE_CODE_GRANT, "refresh_token"],
        issuer_url=BUILDER_ID_START_URL,
    )
    device = await api.start_device_authorization(registration, start_url=BUILDER_ID_START_URL)
    return BuilderIdLogin(
        region=region,
        registration=registration,
        device=device,
        interval=device.interval,
        expires_at=clock() + device.expires_in,
    )


def _expired_message(login: BuilderIdLogin) -> str:
    minutes = max(1, round(login.device.expires_in / 60))
    return (
        f"the device code expired after {minutes} minute{'s' if minutes != 1 else ''} "
        "without being approved: start the login again and approve the code sooner"
    )


async def poll_once(api: OidcApi, login: BuilderIdLogin, *, clock: Clock = time.time) -> PollResult:
    """Ask once whether the user approved. Raises LoginError when the login cannot succeed."""
    if clock() >= login.expires_at:
        raise LoginError(_expired_message(login), code="expired_token")
    try:
        grant = await api.token_from_device_code(login.registration, login.device.device_code)
    except OidcError as exc:
        if exc.error == "authorization_pending":
            return PollResult("pending", login.interval)
        if exc.error == "slow_down":
            login.interval += SLOW_DOWN_STEP_SECONDS
            return PollResult("slow_down", login.interval)
        if exc.error == "expired_token":
            raise LoginError(_expired_message(login), code="expired_token") from exc
        if exc.error == "access_denied":
            raise LoginError(
                "the sign-in was denied in the browser: start the login again and choose "
                "'Allow' on the AWS page",
                code="access_denied",
            ) from exc
        raise LoginError(
            f"AWS refused the device login ({exc.error or f'HTTP {exc.status}'}): "
            "start the login again; if it keeps failing, check the region",
            code=exc.error or "login_failed",
        ) from exc
    if not grant.refresh_token:
        raise LoginError(
            "AWS returned no refresh token, so the account could not be kept signed in: "
            "start the login again",
            code="no_refresh_token",
        )
    return PollResult("approved", login.interval, grant)


Sleep = Callable[[float], Awaitable[None]]
Tick = Callable[[PollResult, float], None]


async def wait(
    api: OidcApi,
    login: BuilderIdLogin,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
    on_tick: Tick | None = None,
) -> TokenGrant:
    """Poll until approved; `on_tick(result, seconds_left)` after every answer (CLI countdown)."""
    while True:
        result = await poll_once(api, login, clock=clock)
        if result.grant is not None:
            return result.grant
        if on_tick is not None:
            on_tick(result, max(0.0, login.expires_at - clock()))
        await sleep(result.interval)
