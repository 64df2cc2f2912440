"""Secrets at rest: refresh/access tokens, client secrets and proxy credentials are encrypted
with Fernet (AES-128-CBC + HMAC-SHA256) before they reach the database.

The key comes from `KIRO_PROXY_SECRET_KEY` (a Fernet key, or any passphrase, which is stretched
with SHA-256), else from `secret.key` in the data folder, created on first run with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

ENV_KEY = "KIRO_PROXY_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
# Marks a stored value as ciphertext, so a plaintext value from an old row is never fed to Fernet.
_PREFIX = "enc1:"


class SecretKeyError(Exception):
    """The key cannot decrypt stored secrets (the key changed, or the data is damaged)."""


def _fernet_key(material: str) -> bytes:
    raw = material.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def load_or_create_key(data_dir: Path) -> bytes:
    """The Fernet key: from the environment, else from the key file (created if missing)."""
    from_env = os.environ.get(ENV_KEY)
    if from_env:
        return _fernet_key(from_env)
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return _fernet_key(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker created it first
        return _fernet_key(path.read_text())
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        return cls(load_or_create_key(data_dir))

    def encrypt(self, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        return _PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, stored: str | None) -> str | None:
        if stored is None or stored == "" or not stored.startswith(_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError(
                f"cannot decrypt stored secrets: {ENV_KEY} or {KEY_FILE_NAME} differs from the "
                "key they were written with"
            ) from exc
