"""Secret redaction for everything that reaches a log handler.

Two layers, because neither alone is a guarantee:
- shapes: values after secret-looking keys (`"refreshToken": "..."`, `password=...`,
  `Authorization: ...`, cookies) and self-identifying tokens (Kiro's `aoa…`/`aor…` tokens, `ksk_`
  API keys, JWTs, `sk-` keys, bearer credentials) are masked wherever they appear;
- known values: secrets the process knows (the admin password, the configured API key, account
  tokens seen by the pool) are registered and masked verbatim, whatever their shape
  (secret_registry.py).
"""

from __future__ import annotations

import re

from kiro_proxy.observability.secret_registry import (
    MASK,
    MIN_KNOWN_SECRET_LENGTH,
    SecretRegistry,
)

__all__ = [
    "MASK",
    "MIN_KNOWN_SECRET_LENGTH",
    "SecretRegistry",
    "known_secrets",
    "needs_redaction",
    "redact",
]

_SECRET_KEYS = (
    r"access[_-]?token|refresh[_-]?token|id[_-]?token|session[_-]?token|csrf[_-]?token|"
    r"api[_-]?key|x-api-key|client[_-]?secret|secret[_-]?key|secret|password|passwd|"
    r"admin[_-]?password|password[_-]?hash|private[_-]?key|credentials?|token"
)

# One pattern, one scan per line (this runs on every log record, including each request line):
# - `key`: a value after a secret-looking key: `"key": "value"`, `key=value`, `key: value`;
# - `header`: a header whose whole value is secret, spaces included ("Bearer x", "a=1; b=2");
# - `token`: self-identifying tokens wherever they appear.
_SHAPES = re.compile(
    r"(?P<header>\b(?:authorization|proxy-authorization|cookie|set-cookie)\b[\"']?\s*[:=]\s*[\"']?)"
    r"[^\"'\r\n]+"
    r"|(?P<key>(?P<kq>[\"']?)\b(?:" + _SECRET_KEYS + r")\b(?P=kq)\s*[:=]\s*(?P<q>[\"']?))"
    r"[^\"'\s,;&}\])]+"
    r"|(?<![A-Za-z0-9])(?:"
    r"ao[ar][A-Za-z0-9_-]{20,}[A-Za-z0-9:._/+=-]*"  # Kiro social access/refresh tokens
    r"|ksk_[A-Za-z0-9_-]{8,}"  # Kiro API keys
    r"|sk-[A-Za-z0-9_-]{16,}"  # OpenAI-style client keys
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWTs
    r")"
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}",
    re.IGNORECASE,
)


known_secrets = SecretRegistry()


# Every match of _SHAPES contains one of these (lower-cased); a line with none of them and no
# known secret is returned untouched after a few substring checks instead of a regex scan.
_TRIGGERS = (
    "token", "key", "secret", "passw", "cred", "auth", "cookie", "bearer",
    "aoa", "aor", "ksk_", "sk-", "eyj",
)  # fmt: skip


def needs_redaction(text: str, registry: SecretRegistry = known_secrets) -> bool:
    lower = text.lower()
    for trigger in _TRIGGERS:
        if trigger in lower:
            return True
    return registry.found_in(text)


def _mask_shape(match: re.Match[str]) -> str:
    head = match.group("header") or match.group("key")
    return f"{head}{MASK}" if head else MASK


def redact(text: str, registry: SecretRegistry = known_secrets) -> str:
    """Mask every secret in `text`: known values first, then secret shapes."""
    if not needs_redaction(text, registry):
        return text
    return _SHAPES.sub(_mask_shape, registry.mask(text))
