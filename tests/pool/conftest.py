"""A scripted in-process stand-in for KiroClient, for fast unit tests of the pool."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kiro_proxy.kiro.client import UpstreamCredentials
from kiro_proxy.kiro.events import KiroEvent, MeteringEvent, TextEvent
from kiro_proxy.pool.account import Account
from kiro_proxy.pool.dispatcher import Dispatcher
from kiro_proxy.pool.pool import AccountPool
from kiro_proxy.pool.tokens import TokenManager
from kiro_proxy.pool.usage import UsageRecorder


@dataclass
class FakeGrant:
    access_token: str
    refresh_token: str | None
    expires_in: int
    profile_arn: str | None = None


@dataclass
class FakeClient:
    """Outcomes are queued per account id: an exception (raised before the first event) or a
    list of events. With nothing queued an account answers "hi"."""

    owner_of_token: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, deque[Any]] = field(default_factory=lambda: defaultdict(deque))
    refresh_outcomes: dict[str, deque[Any]] = field(default_factory=lambda: defaultdict(deque))
    generate_calls: list[tuple[str, UpstreamCredentials, str]] = field(default_factory=list)
    refresh_calls: list[tuple[str, str]] = field(default_factory=list)
    refresh_delay: float = 0.01
    rotate_refresh_tokens: bool = False
    _serial: itertools.count = field(default_factory=lambda: itertools.count(1))

    def register(self, account: Account) -> None:
        if account.access_token:
            self.owner_of_token[account.access_token] = account.id

    def generate(
        self, request: Any, creds: UpstreamCredentials, *, endpoint: str = "auto"
    ) -> AsyncIterator[KiroEvent]:
        owner = self.owner_of_token.get(creds.access_token, "?")
        self.generate_calls.append((owner, creds, endpoint))
        queue = self.outcomes.get(owner)
        outcome = queue.popleft() if queue else [TextEvent("hi"), MeteringEvent(0.25)]
        return self._stream(outcome)

    async def _stream(self, outcome: Any) -> AsyncIterator[KiroEvent]:
        await asyncio.sleep(0)
        if isinstance(outcome, BaseException):
            raise outcome
        for event in outcome:
            if isinstance(event, BaseException):
                raise event
            yield event

    async def _refresh(self, kind: str, refresh_token: str) -> FakeGrant:
        owner = next((k for k, v in self.refresh_owner.items() if v == refresh_token), "?")
        self.refresh_calls.append((kind, owner))
        await asyncio.sleep(self.refresh_delay)
        queue = self.refresh_outcomes.get(owner)
        if queue:
            outcome = queue.popleft()
            if isinstance(outcome, BaseException):
                raise outcome
        token = f"access-{owner}-{next(self._serial)}"
        self.owner_of_token[token] = owner
        new_refresh = None
        if self.rotate_refresh_tokens:
            new_refresh = f"refresh-{owner}-{next(self._serial)}"
            self.refresh_owner[owner] = new_refresh
        return FakeGrant(token, new_refresh, 3600, profile_arn=f"arn:{owner}")

    @property
    def refresh_owner(self) -> dict[str, str]:
        if not hasattr(self, "_refresh_owner"):
            self._refresh_owner: dict[str, str] = {}
        return self._refresh_owner

    async def refresh_social(
        self, refresh_token: str, *, machine_id: str, region: str, proxy_url: str | None
    ) -> FakeGrant:
        return await self._refresh("social", refresh_token)

    async def refresh_oidc(
        self,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        *,
        region: str,
        proxy_url: str | None,
    ) -> FakeGrant:
        return await self._refresh("oidc", refresh_token)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class PoolKit:
    client: FakeClient
    pool: AccountPool
    tokens: TokenManager
    recorder: UsageRecorder
    dispatcher: Dispatcher
    clock: Clock

    def add(self, name: str, **fields: Any) -> Account:
        fields.setdefault("refresh_token", f"refresh-{name}")
        fields.setdefault("access_token", f"access-{name}-0")
        fields.setdefault("expires_at", self.clock.now + 3600)
        account = Account(id=name, email=f"{name}@example.com", created_at=len(self.pool), **fields)
        self.pool.upsert(account)
        self.client.register(account)
        if account.refresh_token:
            self.client.refresh_owner[name] = account.refresh_token
        return account


def make_kit(strategy: str = "round-robin", max_attempts: int = 3) -> PoolKit:
    clock = Clock()
    client = FakeClient()
    pool = AccountPool(strategy, clock=clock)
    tokens = TokenManager(client, pool)
    recorder = UsageRecorder()
    dispatcher = Dispatcher(client, pool, tokens, recorder, max_attempts=max_attempts)
    return PoolKit(client, pool, tokens, recorder, dispatcher, clock)


@pytest.fixture
def kit() -> PoolKit:
    return make_kit()


@pytest.fixture
def kit_factory() -> Any:
    return make_kit
