"""The five ways to add an account behind one object, shared by the admin API and the CLI.

It binds settings (upstream URLs, outbound proxy), the Kiro client (refresh, getUsageLimits)
and the account store, and runs each method to the end: credential → onboarding → stored.
Each call opens its own short-lived HTTP session for AWS SSO-OIDC and the portal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kiro_proxy.auth import builder_id, idc, sso_token
from kiro_proxy.auth.credential_json import ParsedItem, parse_document, parse_value
from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.local_cache import credential_from_token_file
from kiro_proxy.auth.oidc import OidcApi, PortalApi, TokenGrant, new_session
from kiro_proxy.auth.onboarding import (
    AccountChanged,
    AccountStore,
    BatchReport,
    CredentialInput,
    KiroAuthClient,
    Onboarder,
    OnboardResult,
)
from kiro_proxy.auth.regions import checked_region
from kiro_proxy.settings import Settings

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
# The portal of AWS Builder ID lives in us-east-1 whatever the account's region (Kiro-Go).
PORTAL_REGION = "us-east-1"


class LoginService:
    def __init__(
        self,
        settings: Settings,
        client: KiroAuthClient,
        accounts: AccountStore,
        *,
        on_changed: AccountChanged | None = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.onboarder = Onboarder(
            client, accounts, on_changed=on_changed, proxy_url=settings.proxy_url, clock=clock
        )
        self._clock = clock
        self._sleep = sleep

    def _region(self, region: str | None) -> str:
        return checked_region(region)

    # --- Builder ID -------------------------------------------------------------------------

    async def builder_id_start(self, region: str | None = None) -> builder_id.BuilderIdLogin:
        region = self._region(region)
        async with new_session(self.settings.proxy_url) as http:
            return await builder_id.start(
                OidcApi(http, self.settings.oidc_url(region)), region=region, clock=self._clock
            )

    async def builder_id_poll(self, login: builder_id.BuilderIdLogin) -> builder_id.PollResult:
        async with new_session(self.settings.proxy_url) as http:
            return await builder_id.poll_once(
                OidcApi(http, self.settings.oidc_url(login.region)), login, clock=self._clock
            )

    async def builder_id_wait(
        self, login: builder_id.BuilderIdLogin, *, on_tick: builder_id.Tick | None = None
    ) -> OnboardResult:
        async with new_session(self.settings.proxy_url) as http:
            grant = await builder_id.wait(
                OidcApi(http, self.settings.oidc_url(login.region)),
                login,
                clock=self._clock,
                sleep=self._sleep,
                on_tick=on_tick,
            )
        return await self.builder_id_finish(login, grant)

    async def builder_id_finish(
        self, login: builder_id.BuilderIdLogin, grant: TokenGrant
    ) -> OnboardResult:
        return await self.onboarder.add(login.to_credentials(grant, self._clock()))

    # --- IAM Identity Center ----------------------------------------------------------------

    async def idc_start(
        self, start_url: str, region: str | None, *, redirect_uri: str = idc.PASTE_REDIRECT_URI
    ) -> idc.IdcLogin:
        region = self._region(region)
        async with new_session(self.settings.proxy_url) as http:
            return await idc.start(
                OidcApi(http, self.settings.oidc_url(region)),
                start_url=start_url,
                region=region,
                redirect_uri=redirect_uri,
                clock=self._clock,
            )

    async def idc_complete(self, login: idc.IdcLogin, callback_url: str) -> OnboardResult:
        async with new_session(self.settings.proxy_url) as http:
            grant = await idc.complete(
                OidcApi(http, self.settings.oidc_url(login.region)),
                login,
                callback_url,
                clock=self._clock,
            )
        return await self.onboarder.add(login.to_credentials(grant, self._clock()))

    # --- SSO cookie -------------------------------------------------------------------------

    async def sso_tokens(self, text: str, region: str | None = None) -> BatchReport:
        """One account per cookie line; a bad line never stops the others."""
        region = self._region(region)
        cookies = sso_token.split_cookies(text)
        if not cookies:
            raise LoginError(
                "no cookie given: paste one x-amz-sso_authn value per line", code="empty"
            )
        items: list[tuple[str, CredentialInput | LoginError]] = []
        async with new_session(self.settings.proxy_url) as http:
            oidc = OidcApi(http, self.settings.oidc_url(region))
            portal = PortalApi(http, self.settings.portal_url(PORTAL_REGION))
            for index, cookie in enumerate(cookies):
                label = sso_token.cookie_label(index, cookie)
                try:
                    cred = await sso_token.login_with_cookie(
                        oidc, portal, cookie, region=region, clock=self._clock, sleep=self._sleep
                    )
                except LoginError as exc:
                    items.append((label, exc))
                    continue
                items.append((label, cred))
        return await self.onboarder.add_many(items)

    # --- files and JSON ---------------------------------------------------------------------

    async def import_document(self, raw: bytes | str) -> BatchReport:
        return await self.import_items(parse_document(raw))

    async def import_value(self, data: Any) -> BatchReport:
        return await self.import_items(parse_value(data))

    async def import_items(self, items: Iterable[ParsedItem]) -> BatchReport:
        return await self.onboarder.add_many(items)

    async def import_token_file(
        self, token: dict[str, Any] | bytes | str, registration: dict[str, Any] | bytes | str | None
    ) -> OnboardResult:
        return await self.onboarder.add(credential_from_token_file(token, registration))
