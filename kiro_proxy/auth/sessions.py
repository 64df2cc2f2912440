"""Logins in progress between two admin API calls (Builder ID start → poll, IdC start →
complete). In memory: they hold client secrets and PKCE verifiers that must never be stored,
and they live 10 minutes at most, like Kiro-Go's."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
SESSION_SECONDS = 600.0
MAX_SESSIONS = 200


@dataclass(slots=True)
class LoginSession(Generic[T]):
    id: str
    kind: str
    login: T
    expires_at: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LoginSessions:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, LoginSession[object]] = {}

    def add(
        self, kind: str, login: object, *, lifetime: float = SESSION_SECONDS
    ) -> LoginSession[object]:
        self._purge()
        session = LoginSession(secrets.token_urlsafe(18), kind, login, self._clock() + lifetime)
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:  # oldest first
            del self._sessions[next(iter(self._sessions))]
        return session

    def get(self, session_id: str, kind: str) -> LoginSession[object] | None:
        session = self._sessions.get(session_id)
        if session is None or session.kind != kind:
            return None
        if self._clock() >= session.expires_at:
            del self._sessions[session_id]
            return None
        return session

    def find(self, kind: str, predicate: Callable[[object], bool]) -> LoginSession[object] | None:
        self._purge()
        for session in self._sessions.values():
            if session.kind == kind and predicate(session.login):
                return session
        return None

    def remove(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        self._purge()
        return len(self._sessions)

    def _purge(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[key]
