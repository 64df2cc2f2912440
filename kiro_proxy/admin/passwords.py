"""Admin password hashing: scrypt from the standard library, self-describing encoded form.

Kiro-Go keeps the admin password in plaintext (default `changeme`) and compares it with `==`
(protocol doc §10 item 19). Here only a salted scrypt hash is ever stored, and checks run in
constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# 2^15 × 8 × 128 B = 32 MiB and ~0.2 s per check (measured on a shared 2-core box): slow
# for a guesser, fine for a login.
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def is_password_hash(value: str) -> bool:
    """True for our encoded hashes; False for a plaintext password (an imported Kiro-Go file)."""
    parts = value.split("$")
    return len(parts) == 6 and parts[0] == SCHEME and all(x.isdigit() for x in parts[1:4])


def verify_password(password: str, encoded: str) -> bool:
    if not is_password_hash(encoded):
        return False
    _, n, r, p, salt, expected = encoded.split("$")
    try:
        digest = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=32,
        )
        return hmac.compare_digest(digest, _unb64(expected))
    except (ValueError, TypeError):
        return False


def generate_password() -> str:
    """A random first-run password: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "the password must not start or end with spaces"
    return None
