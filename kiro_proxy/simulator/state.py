"""In-memory world of the simulator: accounts, tokens, queued scripts, login sessions, request log.

Tests drive it directly (in-process) or through /_sim routes (out-of-process). Everything is
plain data guarded by the single event loop; no locks needed.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from aiohttp import web

from kiro_proxy.simulator.script import RefreshFault, Scripted

DEFAULT_MODELS: tuple[dict[str, Any], ...] = tuple(
    {
        "modelId": model_id,
        "modelName": name,
        "description": f"{name} (simulated)",
        "supportedInputTypes": ["TEXT", "IMAGE"] if model_id.startswith("claude") else ["TEXT"],
        "rateMultiplier": rate,
        "tokenLimits": {"maxInputTokens": window, "maxOutputTokens": 64000},
    }
    for model_id, name, rate, window in (
        ("auto", "Auto", 1.0, 200000),
        ("claude-sonnet-4", "Claude Sonnet 4", 1.3, 200000),
        ("claude-sonnet-4.5", "Claude Sonnet 4.5", 1.3, 200000),
        ("claude-sonnet-4.6", "Claude Sonnet 4.6", 1.3, 1000000),
        ("claude-haiku-4.5", "Claude Haiku 4.5", 0.4, 200000),
        ("claude-opus-4.5", "Claude Opus 4.5", 2.2, 200000),
        ("claude-opus-4.6", "Claude Opus 4.6", 2.2, 1000000),
        ("claude-opus-4.7", "Claude Opus 4.7", 2.2, 1000000),
        ("deepseek-3.2", "DeepSeek 3.2", 0.25, 128000),
        ("glm-5", "GLM 5", 0.5, 200000),
        ("minimax-m2.1", "MiniMax M2.1", 0.15, 200000),
        ("minimax-m2.5", "MiniMax M2.5", 0.25, 200000),
        ("qwen3-coder-next", "Qwen3 Coder Next", 0.05, 256000),
    )
)
# Older upper-case internal ids (K2A) are still accepted by the real service.
LEGACY_MODEL_IDS = frozenset(
    {
        "CLAUDE_SONNET_4_5_20250929_V1_0",
        "CLAUDE_SONNET_4_20250514_V1_0",
        "CLAUDE_3_7_SONNET_20250219_V1_0",
    }
)

AuthMethod = Literal["social", "idc", "api_key"]


def _token(prefix: str, size: int = 32) -> str:
    return prefix + secrets.token_urlsafe(size)


@dataclass(slots=True)
class SimAccount:
    email: str
    auth_method: AuthMethod
    subscription: str
    usage_limit: float
    current_usage: float
    refresh_token: str
    access_token: str
    access_expires_at: float
    user_id: str
    profile_arn: str | None
    region: str
    client_id: str | None = None
    client_secret: str | None = None
    suspended: bool = False
    refresh_revoked: bool = False
    request_count: int = 0
    # Every access token ever issued (old ones stay valid until they expire, as upstream).
    access_tokens: dict[str, float] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """JSON view for /_sim (includes tokens: the control API is test-only)."""
        return {
            "email": self.email,
            "authMethod": self.auth_method,
            "subscription": self.subscription,
            "usageLimit": self.usage_limit,
            "currentUsage": self.current_usage,
            "refreshToken": self.refresh_token,
            "accessToken": self.access_token,
            "accessExpiresAt": self.access_expires_at,
            "userId": self.user_id,
            "profileArn": self.profile_arn,
            "region": self.region,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "suspended": self.suspended,
            "requestCount": self.request_count,
        }


@dataclass(slots=True)
class RecordedRequest:
    path: str
    account: str | None  # email
    body: Any
    headers: dict[str, str]
    status: int = 0
    validation_error: str | None = None


@dataclass(slots=True)
class OidcClient:
    client_id: str
    client_secret: str
    client_name: str
    grant_types: list[str]
    redirect_uris: list[str]
    scopes: list[str]


DeviceStatus = Literal["pending", "approved", "denied"]


@dataclass(slots=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    client_id: str
    expires_at: float
    interval: float
    status: DeviceStatus = "pending"
    account: SimAccount | None = None
    last_poll: float | None = None
    redeemed: bool = False


@dataclass(slots=True)
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    challenge_method: str
    account: SimAccount
    expires_at: float
    redeemed: bool = False


@dataclass(slots=True)
class PortalCookie:
    account: SimAccount
    expires_at: float


_Item = TypeVar("_Item")


class _Queues(Generic[_Item]):
    """Items consumed in order: an account's own queue (by email) first, then the global one."""

    def __init__(self) -> None:
        self._global: deque[_Item] = deque()
        self._by_account: dict[str, deque[_Item]] = {}

    def put(self, items: tuple[_Item, ...], account: SimAccount | str | None) -> None:
        if account is None:
            self._global.extend(items)
            return
        email = account if isinstance(account, str) else account.email
        self._by_account.setdefault(email, deque()).extend(items)

    def take(self, account: SimAccount | None) -> _Item | None:
        if account is not None:
            queue = self._by_account.get(account.email)
            if queue:
                return queue.popleft()
        return self._global.popleft() if self._global else None

    def __len__(self) -> int:
        return len(self._global) + sum(len(q) for q in self._by_account.values())

    def clear(self) -> None:
        self._global.clear()
        self._by_account.clear()


class SimState:
    """Everything the simulator knows. Attributes are tunables tests may set directly."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.accounts: dict[str, SimAccount] = {}
        self._by_access: dict[str, SimAccount] = {}
        self._by_refresh: dict[str, SimAccount] = {}
        self._scripts: _Queues[Scripted] = _Queues()
        self.always: Scripted | None = None
        # Faults met by token refreshes (social and OIDC), consumed like the generate queues.
        self._refresh_faults: _Queues[RefreshFault] = _Queues()
        # Answers by looking at the request (for clients whose request order is not scripted,
        # e.g. the Claude Code CLI); consulted after the queues, before the default reply.
        self.responder: Callable[[dict[str, Any]], Scripted | None] | None = None
        self.requests: deque[RecordedRequest] = deque(maxlen=10000)
        self.record_bodies = True
        self.models: list[dict[str, Any]] = [dict(m) for m in DEFAULT_MODELS]
        self.models_page_size = 5
        # Kiro rejects prompts past the model's window; counted in characters of content.
        self.max_input_chars = 800_000
        # Accept any bearer token as an anonymous account (benchmarks without registration).
        self.accept_any_token = False
        # Auto-402 when an account's usage reaches its limit.
        self.enforce_quota = True
        self.credits_per_request = 0.1
        self.rotate_refresh_tokens = False
        self.access_token_ttl = 3600
        self.refresh_calls = 0
        self.oidc_refresh_calls = 0
        self.generate_calls = 0
        # OIDC / portal
        self.clients: dict[str, OidcClient] = {}
        self.devices: dict[str, DeviceAuthorization] = {}  # by device code
        self._devices_by_user_code: dict[str, DeviceAuthorization] = {}
        self.device_interval = 1.0
        self.device_expires_in = 600
        self.auth_codes: dict[str, AuthorizationCode] = {}
        # What GET /authorize does: "approve" redirects with a code, "deny" with access_denied.
        self.authorize_decision: Literal["approve", "deny"] = "approve"
        self.authorize_account: SimAccount | None = None
        self.portal_cookies: dict[str, PortalCookie] = {}
        self.portal_sessions: dict[str, SimAccount] = {}
        self._serial = itertools.count(1)

    # --- accounts ---------------------------------------------------------------------------
    def add_account(
        self,
        email: str | None = None,
        *,
        auth_method: AuthMethod = "social",
        subscription: str = "PRO",
        usage_limit: float = 1000.0,
        current_usage: float = 0.0,
        region: str = "us-east-1",
        profile_arn: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        expires_in: float | None = None,
    ) -> SimAccount:
        serial = next(self._serial)
        email = email or f"user{serial}@example.com"
        if profile_arn is None and auth_method == "social":
            profile_arn = (
                f"arn:aws:codewhisperer:us-east-1:{699475941385 + serial}:profile/SIM{serial:08d}"
            )
        account = SimAccount(
            email=email,
            auth_method=auth_method,
            subscription=subscription,
            usage_limit=usage_limit,
            current_usage=current_usage,
            refresh_token=refresh_token or _token("aorAAAAAG", 96),
            access_token="",
            access_expires_at=0.0,
            user_id=f"d-sim.{serial:06d}",
            profile_arn=profile_arn,
            region=region,
        )
        if auth_method == "idc":
            account.client_id = _token("sim-client-", 16)
            account.client_secret = _token("sim-secret-", 32)
            self.clients[account.client_id] = OidcClient(
                account.client_id, account.client_secret, "Kiro", ["refresh_token"], [], []
            )
        if auth_method == "api_key":
            account.refresh_token = ""
            access_token = access_token or _token("ksk_", 32)
            expires_in = expires_in if expires_in is not None else 10 * 365 * 86400
        self.accounts[email] = account
        if account.refresh_token:
            self._by_refresh[account.refresh_token] = account
        self.issue_access_token(account, token=access_token, expires_in=expires_in)
        return account

    def issue_access_token(
        self, account: SimAccount, *, token: str | None = None, expires_in: float | None = None
    ) -> str:
        token = token or _token("aoaAAAAAG", 64)
        ttl = self.access_token_ttl if expires_in is None else expires_in
        account.access_token = token
        account.access_expires_at = self.clock() + ttl
        account.access_tokens[token] = account.access_expires_at
        self._by_access[token] = account
        return token

    def rotate_refresh_token(self, account: SimAccount) -> str:
        self._by_refresh.pop(account.refresh_token, None)
        account.refresh_token = _token("aorAAAAAG", 96)
        self._by_refresh[account.refresh_token] = account
        return account.refresh_token

    def expire_access_token(self, account: SimAccount) -> None:
        """Make every access token of the account expired (upstream answers 403)."""
        past = self.clock() - 1
        account.access_expires_at = past
        for token in account.access_tokens:
            account.access_tokens[token] = past

    def revoke_refresh_token(self, account: SimAccount) -> None:
        account.refresh_revoked = True

    def suspend(self, account: SimAccount, suspended: bool = True) -> None:
        account.suspended = suspended

    def account_for_access_token(self, token: str) -> SimAccount | None:
        """The account a valid (known, unexpired) access token belongs to."""
        account = self._by_access.get(token)
        if account is None:
            if self.accept_any_token and token:
                return self._anonymous(token)
            return None
        if account.access_tokens.get(token, 0.0) <= self.clock():
            return None
        return account

    def account_for_refresh_token(self, token: str) -> SimAccount | None:
        account = self._by_refresh.get(token)
        if account is None or account.refresh_revoked or account.refresh_token != token:
            return None
        return account

    def _anonymous(self, token: str) -> SimAccount:
        account = self.add_account(
            f"anon-{len(self.accounts) + 1}@example.com",
            access_token=token,
            expires_in=10 * 365 * 86400,
            usage_limit=float("inf"),
        )
        return account

    # --- scripts ----------------------------------------------------------------------------
    def enqueue(self, *items: Scripted, account: SimAccount | str | None = None) -> None:
        """Queue replies/faults, consumed in order; per account (email) or global."""
        self._scripts.put(items, account)

    def set_always(self, item: Scripted | None) -> None:
        """Sticky reply for every request when nothing is queued (benchmarks, load)."""
        self.always = item

    def next_script(self, account: SimAccount | None) -> Scripted | None:
        item = self._scripts.take(account)
        return item if item is not None else self.always

    def pending_scripts(self) -> int:
        return len(self._scripts)

    def enqueue_refresh_fault(
        self, *items: RefreshFault, account: SimAccount | str | None = None
    ) -> None:
        """Queue faults for the next token refreshes (social /refreshToken and the OIDC
        /token refresh_token grant), consumed in order before the refresh token is even looked
        at; per account (email, matched by the refresh token sent) or global."""
        self._refresh_faults.put(items, account)

    def next_refresh_fault(self, refresh_token: object) -> RefreshFault | None:
        """The fault the refresh sending `refresh_token` meets, if one is queued."""
        account = self._by_refresh.get(refresh_token) if isinstance(refresh_token, str) else None
        return self._refresh_faults.take(account)

    def pending_refresh_faults(self) -> int:
        return len(self._refresh_faults)

    def clear_scripts(self) -> None:
        self._scripts.clear()
        self._refresh_faults.clear()
        self.always = None
        self.responder = None

    def record(self, entry: RecordedRequest) -> RecordedRequest:
        if not self.record_bodies:
            entry.body = None
        self.requests.append(entry)
        return entry

    # --- OIDC / portal ------------------------------------------------------------------------
    def register_client(
        self,
        name: str,
        grant_types: list[str],
        redirect_uris: list[str],
        scopes: list[str],
    ) -> OidcClient:
        client = OidcClient(
            _token("sim-client-", 16),
            _token("sim-secret-", 32),
            name,
            grant_types,
            redirect_uris,
            scopes,
        )
        self.clients[client.client_id] = client
        return client

    def start_device_authorization(self, client_id: str) -> DeviceAuthorization:
        alphabet = "BCDFGHJKLMNPQRSTVWXZ"
        user_code = "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(2))
        auth = DeviceAuthorization(
            device_code=_token("sim-device-", 32),
            user_code=user_code,
            client_id=client_id,
            expires_at=self.clock() + self.device_expires_in,
            interval=self.device_interval,
        )
        self.devices[auth.device_code] = auth
        self._devices_by_user_code[user_code] = auth
        return auth

    def device_by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        return self._devices_by_user_code.get(user_code)

    def approve_device(self, user_code: str, account: SimAccount | None = None) -> SimAccount:
        """The user approved the code in the browser; tokens go to `account` (new idc if None)."""
        auth = self._devices_by_user_code[user_code]
        account = account or self.add_account(auth_method="idc", profile_arn=None)
        auth.status, auth.account = "approved", account
        return account

    def deny_device(self, user_code: str) -> None:
        self._devices_by_user_code[user_code].status = "denied"

    def expire_device(self, user_code: str) -> None:
        self._devices_by_user_code[user_code].expires_at = self.clock() - 1

    def create_sso_cookie(self, account: SimAccount | None = None, *, expired: bool = False) -> str:
        """A value for the `x-amz-sso_authn` portal cookie (bearer of the portal routes)."""
        account = account or self.add_account(auth_method="idc", profile_arn=None)
        value = _token("sim-sso-", 48)
        ttl = -1 if expired else 8 * 3600
        self.portal_cookies[value] = PortalCookie(account, self.clock() + ttl)
        return value

    def account_for_cookie(self, value: str) -> SimAccount | None:
        cookie = self.portal_cookies.get(value)
        if cookie is None or cookie.expires_at <= self.clock():
            return None
        return cookie.account

    def reset(self) -> None:
        """Forget scripts and the request log (accounts stay)."""
        self.clear_scripts()
        self.requests.clear()
        self.refresh_calls = self.oidc_refresh_calls = self.generate_calls = 0


# Typed aiohttp application key under which the routes find the state.
SIM_STATE_KEY: web.AppKey[SimState] = web.AppKey("sim_state", SimState)
