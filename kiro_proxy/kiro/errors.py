"""Typed failures of the Kiro HTTP client.

The pool decides what to do (refresh, cool down, fail over, give up) from these types and their
boolean properties alone, so every Kiro quirk about status codes and bodies is classified here
(protocol doc §4). Messages never contain tokens: they come from upstream bodies or fixed text.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

TimeoutPhase = Literal["connect", "first_byte", "idle"]

# Upstream text is echoed into logs and client errors; bound it.
_MAX_MESSAGE_CHARS = 500

# 403 bodies that mean the account itself is blocked (a refresh cannot fix it).
_SUSPENSION_MARKERS = (
    "suspended",
    "suspension",
    "banned",
    "violation",
    "terms of service",
    "account is locked",
    "disabled",
)


class KiroError(Exception):
    """Base class of everything the Kiro client raises."""


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "…"


def parse_error_body(body: bytes) -> tuple[str | None, str]:
    """(reason, message) from a Kiro/AWS error body; tolerant of every shape peers have seen.

    Shapes: `{"message","reason"}`, `{"Message"}`, `{"error":{"reason","message"}}`,
    `{"error":"invalid_grant","error_description":…}`, `{"__type":…}` or plain text.
    """
    try:
        data: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return None, _clip(body.decode("utf-8", "replace")) if body else ""
    reason = data.get("reason")
    message = data.get("message") or data.get("Message") or data.get("error_description")
    nested = data.get("error")
    if isinstance(nested, dict):
        reason = reason or nested.get("reason") or nested.get("code")
        message = message or nested.get("message")
    elif isinstance(nested, str) and not reason:
        reason = nested
    if not reason and isinstance(data.get("__type"), str):
        reason = data["__type"].rsplit("#", 1)[-1]
    return (
        reason if isinstance(reason, str) and reason else None,
        _clip(message) if isinstance(message, str) else "",
    )


class KiroHTTPError(KiroError):
    """A non-200 answer before any stream data."""

    def __init__(
        self,
        status: int,
        reason: str | None,
        message: str,
        retry_after: float | None = None,
        *,
        endpoint: str | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.endpoint = endpoint
        where = f" from {endpoint}" if endpoint else ""
        why = f" [{reason}]" if reason else ""
        super().__init__(f"Kiro HTTP {status}{where}{why}: {message or '(no message)'}")

    @classmethod
    def from_body(
        cls,
        status: int,
        body: bytes,
        retry_after_header: str | None = None,
        *,
        endpoint: str | None = None,
    ) -> KiroHTTPError:
        reason, message = parse_error_body(body)
        return cls(
            status, reason, message, parse_retry_after(retry_after_header), endpoint=endpoint
        )

    @property
    def _text(self) -> str:
        return f"{self.reason or ''} {self.message}".lower()

    @property
    def is_suspended(self) -> bool:
        return self.status == 403 and any(marker in self._text for marker in _SUSPENSION_MARKERS)

    @property
    def is_invalid_token(self) -> bool:
        """Expired/invalid bearer token: refresh and retry on the same account."""
        if self.status == 401:
            return True
        if self.status != 403 or self.is_suspended:
            return False
        text = self._text
        return "token" in text and ("invalid" in text or "expired" in text)

    @property
    def is_quota_exhausted(self) -> bool:
        return self.status == 402 or (self.reason or "").upper() == "MONTHLY_REQUEST_COUNT"

    @property
    def is_throttled(self) -> bool:
        return self.status == 429

    @property
    def is_transient(self) -> bool:
        return self.status >= 500 or self.status == 408

    @property
    def is_context_too_long(self) -> bool:
        return (
            (self.reason or "").upper() == "CONTENT_LENGTH_EXCEEDS_THRESHOLD"
            or "input is too long" in self.message.lower()
        )

    @property
    def is_bad_request(self) -> bool:
        return self.status == 400 and not self.is_context_too_long


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form only; dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class KiroTimeoutError(KiroError):
    """No progress within a configured limit. `phase` says which one fired."""

    def __init__(self, phase: TimeoutPhase, seconds: float, *, endpoint: str | None = None) -> None:
        self.phase = phase
        self.seconds = seconds
        self.endpoint = endpoint
        labels = {
            "connect": "connecting to",
            "first_byte": "waiting for the first byte from",
            "idle": "waiting for more stream data from",
        }
        super().__init__(f"timed out after {seconds:g}s {labels[phase]} {endpoint or 'Kiro'}")


class KiroConnectionError(KiroError):
    """The connection failed or was cut (DNS, refused, reset, proxy failure)."""


class KiroStreamError(KiroError):
    """The event stream is unreadable: too many corrupt frames, or it ended mid-frame."""


class TokenRefreshError(KiroError):
    """A token refresh failed. `is_permanent` means the refresh token is dead (re-login needed)."""

    def __init__(self, status: int, error: str | None, message: str) -> None:
        self.status = status
        self.error = error
        self.message = message
        why = f" [{error}]" if error else ""
        super().__init__(f"token refresh failed: HTTP {status}{why}: {message or '(no message)'}")

    @property
    def is_permanent(self) -> bool:
        """Only a refusal of the token (a 4xx invalid_grant answer) is; a server error is
        transient whatever its body says."""
        if self.status >= 500:
            return False
        text = f"{self.error or ''} {self.message}".lower()
        return "invalid_grant" in text or "invalid refresh token" in text
