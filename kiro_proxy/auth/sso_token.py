"""SSO-token import: turn the AWS portal's `x-amz-sso_authn` browser cookie into an account
(protocol doc §6.3).

The cookie is a portal bearer token. With it we approve, on the user's behalf, a device login we
start ourselves: register a device client, start a device authorization, open a portal device
session, accept the user code, associate the token, then poll `/token` as Builder ID does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from kiro_proxy.auth.builder_id import SLOW_DOWN_STEP_SECONDS
from kiro_proxy.auth.errors import CredentialFormatError, LoginError
from kiro_proxy.auth.oidc import (
    BUILDER_ID_START_URL,
    DEVICE_CODE_GRANT,
    OidcApi,
    OidcError,
    PortalApi,
    grant_credentials,
)
from kiro_proxy.auth.onboarding import CredentialInput

POLL_LIMIT_SECONDS = 120.0  # Kiro-Go polls for up to 2 minutes
_COOKIE_NAME = "x-amz-sso_authn"
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def split_cookies(text: str) -> list[str]:
    """One cookie value per line. Accepts `x-amz-sso_authn=<value>` and `Cookie:` lines too;
    blank lines and `#` comments are skipped."""
    values: list[str] = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("cookie:"):
            line = line[len("cookie:") :].strip()
        if _COOKIE_NAME in line:
            # "a=b; x-amz-sso_authn=VALUE; c=d" → VALUE
            for part in line.split(";"):
                name, _, value = part.strip().partition("=")
                if name == _COOKIE_NAME:
                    line = value.strip()
                    break
        values.append(line.strip('"'))
    return values


def cookie_label(index: int, value: str) -> str:
    """Names a cookie in a report without revealing it."""
    return f"line {index + 1} (…{value[-4:]})" if len(value) > 12 else f"line {index + 1}"


async def login_with_cookie(
    oidc: OidcApi,
    portal: PortalApi,
    cookie: str,
    *,
    region: str,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
    poll_limit: float = POLL_LIMIT_SECONDS,
) -> CredentialInput:
    # Control characters cannot go into a Cookie header (aiohttp refuses them with ValueError).
    if not cookie or any(ch.isspace() or not ch.isprintable() for ch in cookie):
        raise CredentialFormatError(
            "that is not an x-amz-sso_authn cookie value: copy the value of the cookie named "
            f"{_COOKIE_NAME} (browser dev tools → Application → Cookies) on view.awsapps.com",
            code="invalid_cookie",
        )
    try:
        await portal.who_am_i(cookie)
    except OidcError as exc:
        if exc.status in (401, 403):
            raise LoginError(
                "the SSO cookie was refused by the AWS portal (it is invalid or expired): sign in "
                "at https://view.awsapps.com/start again and copy a fresh x-amz-sso_authn value",
                code="invalid_cookie",
            ) from exc
        raise LoginError(
            f"the AWS portal could not check the cookie (HTTP {exc.status}); try again later",
            code="portal_error",
            status=502,
        ) from exc

    registration = await oidc.register_client(
        client_name="Kiro",
        grant_types=[DEVICE_CODE_GRANT, "refresh_token"],
        issuer_url=BUILDER_ID_START_URL,
    )
    device = await oidc.start_device_authorization(
        registration, start_url=BUILDER_ID_START_URL, default_interval=1.0
    )
    try:
        session_token = await portal.create_device_session(cookie)
        context = await oidc.accept_user_code(device.user_code, session_token)
        if context is not None:
            await oidc.associate_token(context, session_token)
    except OidcError as exc:
        raise LoginError(
            f"the AWS portal refused to approve the device ({exc.error or f'HTTP {exc.status}'}): "
            "copy a fresh x-amz-sso_authn cookie and try again",
            code=exc.error or "portal_error",
        ) from exc

    deadline = clock() + min(poll_limit, device.expires_in)
    interval = device.interval
    while True:
        try:
            grant = await oidc.token_from_device_code(registration, device.device_code)
            break
        except OidcError as exc:
            if exc.error == "slow_down":
                interval += SLOW_DOWN_STEP_SECONDS
            elif exc.error != "authorization_pending":
                raise LoginError(
                    f"AWS did not issue a token for the approved device ({exc.error or exc.status}): "
                    "copy a fresh cookie and try again",
                    code=exc.error or "login_failed",
                ) from exc
        if clock() + interval > deadline:
            raise LoginError(
                "the device approval did not complete within 2 minutes: try again with a fresh "
                "cookie",
                code="expired_token",
            )
        await sleep(interval)
    if not grant.refresh_token:
        raise LoginError(
            "AWS returned no refresh token for this cookie: try again with a fresh cookie",
            code="no_refresh_token",
        )
    return grant_credentials(
        grant,
        registration,
        provider="BuilderId",
        region=region,
        start_url=BUILDER_ID_START_URL,
        now=clock(),
    )
