"""Admin access: password login → server-side session cookie, CSRF token, login throttling.

Kiro-Go sends the plaintext password with every call and remembers it in localStorage with a
client-side 72-hour check (protocol doc §9.2, §10 item 19). Here the browser only ever holds an
opaque, HttpOnly, SameSite=Strict session cookie whose 72-hour lifetime the server enforces,
every change needs a CSRF token in a header, and wrong passwords are throttled per client IP.
Sessions and throttle records are in the database, shared by every worker process.

`require_admin` is the FastAPI dependency every admin route (ours and auth_routes.py) uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import sys
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

from starlette.requests import Request

from kiro_proxy.admin.common import ServiceUnavailable
from kiro_proxy.admin.passwords import (
    generate_password,
    hash_password,
    is_password_hash,
    password_problem,
    verify_password,
)
from kiro_proxy.admin.throttle import MAX_TRACKED_ADDRESSES, LoginThrottle
from kiro_proxy.config_file import ConfigFile
from kiro_proxy.errors import AuthenticationError, InvalidRequestError, PermissionDeniedError
from kiro_proxy.store.admin_sessions import AdminSession, AdminSessionRepository
from kiro_proxy.store.database import Database

SESSION_COOKIE = "kiro_admin_session"
CSRF_HEADER = "x-csrf-token"
SESSION_LIFETIME_SECONDS = 72 * 3600
MAX_SESSIONS = 1000
# How long a worker trusts a session it has read from the database before reading it again.
SESSION_CACHE_SECONDS = 1.0
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PasswordStore(Protocol):
    """Where the admin password hash lives between runs (the config file by default)."""

    def load_hash(self) -> str | None: ...

    def save_hash(self, encoded: str) -> None: ...


class ConfigFilePasswordStore:
    """The hash in config.json's `password` field (where Kiro-Go kept plaintext)."""

    def __init__(self, config: ConfigFile) -> None:
        self._config = config

    def load_hash(self) -> str | None:
        value = self._config.read().get("password")
        return value if isinstance(value, str) and value else None

    def save_hash(self, encoded: str) -> None:
        data = self._config.read()
        data["password"] = encoded
        self._config.write(data)


class MemoryPasswordStore:
    def __init__(self, encoded: str | None = None) -> None:
        self.encoded = encoded

    def load_hash(self) -> str | None:
        return self.encoded

    def save_hash(self, encoded: str) -> None:
        self.encoded = encoded


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong passwords: try again in {retry_after} s")
        self.retry_after = retry_after


class WrongPassword(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("wrong password")
        self.retry_after = retry_after


def _session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _print_once(message: str) -> None:
    # Straight to the console, not through logging: log lines are shipped and kept, the
    # generated password must be seen by the operator once and then live only as a hash.
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class AdminAuth:
    """The admin password, the sessions and the login throttle.

    Sessions and throttle records live in the database (attached at start-up with `attach`),
    so that every worker process honours every login, logout and wrong password. A worker
    keeps a session it has just checked for up to SESSION_CACHE_SECONDS, so a logout or a
    password change made through another worker holds here within that time.
    """

    def __init__(
        self,
        store: PasswordStore,
        *,
        env_password: str | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        announce: Callable[[str], None] = _print_once,
        throttle_addresses: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        self._store = store
        # How many client addresses the login throttle keeps records of (oldest dropped).
        self._throttle_addresses = throttle_addresses
        self._clock = clock
        self._monotonic = monotonic
        self._repo: AdminSessionRepository | None = None
        self._throttle: LoginThrottle | None = None
        self._cache: dict[str, tuple[AdminSession, float]] = {}
        self.password_from_env = bool(env_password)
        self.generated_password = False
        if env_password:
            self._hash = hash_password(env_password)
            return
        stored = store.load_hash()
        if stored and is_password_hash(stored):
            self._hash = stored
        elif stored:
            # A Kiro-Go config.json keeps the password in plaintext: keep it working, store a hash.
            self._hash = hash_password(stored)
            store.save_hash(self._hash)
        else:
            password = generate_password()
            self._hash = hash_password(password)
            store.save_hash(self._hash)
            self.generated_password = True
            announce(
                "\n  kiro-proxy admin panel: no admin password was configured, so one was generated.\n"
                f"  Admin password: {password}\n"
                "  It is shown only this once (only its hash is stored). Change it in the panel's\n"
                "  Settings page, or set ADMIN_PASSWORD.\n"
            )

    def attach(self, database: Database) -> None:
        """Start-up, once the database is open: keep sessions and throttle records there."""
        self._repo = AdminSessionRepository(database)
        self._throttle = LoginThrottle(
            database, clock=self._clock, max_addresses=self._throttle_addresses
        )
        self._cache.clear()

    @property
    def throttle(self) -> LoginThrottle:
        if self._throttle is None:
            raise ServiceUnavailable("the gateway is still starting: try again in a moment")
        return self._throttle

    @property
    def _sessions(self) -> AdminSessionRepository:
        if self._repo is None:
            raise ServiceUnavailable("the gateway is still starting: try again in a moment")
        return self._repo

    # --- login / sessions -------------------------------------------------------------------

    async def login(self, password: str, address: str) -> tuple[AdminSession, str]:
        """Returns the new session and the cookie value; raises LoginThrottled / WrongPassword."""
        wait = await self.throttle.retry_after(address)
        if wait > 0:
            raise LoginThrottled(wait)
        # scrypt is deliberately slow (~0.2 s): keep it off the event loop.
        if not await asyncio.to_thread(self._verify, password):
            raise WrongPassword(await self.throttle.failure(address))
        await self.throttle.success(address)
        return await self._new_session(address)

    def _verify(self, password: str) -> bool:
        # Another worker may have changed the password: the stored hash is the current one.
        if not self.password_from_env:
            stored = self._store.load_hash()
            if stored and is_password_hash(stored):
                self._hash = stored
        return verify_password(password, self._hash)

    async def _new_session(self, address: str) -> tuple[AdminSession, str]:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = AdminSession(
            key=_session_key(token),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME_SECONDS,
            address=address,
        )
        await self._sessions.add(session, now=now, max_sessions=MAX_SESSIONS)
        return session, token

    async def session_for(self, token: str | None) -> AdminSession | None:
        if not token:
            return None
        key = _session_key(token)
        checked = self._monotonic()
        cached = self._cache.get(key)
        if cached is not None and checked - cached[1] < SESSION_CACHE_SECONDS:
            session = cached[0]
        else:
            found = await self._sessions.get(key)
            if found is None:
                self._cache.pop(key, None)
                return None
            session = found
            if len(self._cache) >= MAX_SESSIONS:
                self._cache.clear()
            self._cache[key] = (session, checked)
        if self._clock() >= session.expires_at:
            self._cache.pop(key, None)
            await self._sessions.delete(key)
            return None
        return session

    async def logout(self, session: AdminSession) -> None:
        self._cache.pop(session.key, None)
        await self._sessions.delete(session.key)

    async def session_count(self) -> int:
        return await self._sessions.count_live(self._clock())

    # --- password change --------------------------------------------------------------------

    async def change_password(
        self, session: AdminSession, current: str, new: str
    ) -> tuple[AdminSession, str]:
        """Sets a new password, ends every other session, returns a fresh session for the caller."""
        if self.password_from_env:
            raise InvalidRequestError(
                "the admin password comes from the ADMIN_PASSWORD environment variable: "
                "change it there and restart"
            )
        if not await asyncio.to_thread(self._verify, current):
            raise PermissionDeniedError("the current password is not correct")
        problem = password_problem(new)
        if problem:
            raise InvalidRequestError(problem, param="newPassword")
        encoded = await asyncio.to_thread(hash_password, new)
        self._store.save_hash(encoded)
        self._hash = encoded
        self._cache.clear()
        await self._sessions.delete_all()
        return await self._new_session(session.address)


def client_address(request: Request) -> str:
    # The direct peer: X-Forwarded-For is client-controlled unless a trusted proxy sets it, and
    # trusting it would let a guesser pick a fresh "address" for every try.
    return request.client.host if request.client else "unknown"


def admin_auth(request: Request) -> AdminAuth:
    auth = getattr(request.app.state, "admin_auth", None)
    if auth is None:
        raise RuntimeError("admin panel not installed: call kiro_proxy.admin.routes.install_admin")
    return auth  # type: ignore[no-any-return]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def require_admin(request: Request) -> AdminSession:
    """FastAPI dependency: a valid admin session, and for changes a matching CSRF header."""
    session = await admin_auth(request).session_for(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise AuthenticationError("not logged in to the admin panel (or the session expired)")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise PermissionDeniedError("missing or wrong CSRF token: reload the admin panel")
        if not _same_origin(request):
            raise PermissionDeniedError("cross-origin request refused")
    return session
