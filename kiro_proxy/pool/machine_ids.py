"""The machine id Kiro sees for an account: fixed once, stored with it, 64 hex on the wire.

Deriving it from the refresh token on every call would change it whenever the token rotates,
and an account that changes computers looks suspicious. Kiro-Go's UUID ids are kept as stored
and widened to 64 hex on the wire (fingerprint.normalize_machine_id).
"""

from __future__ import annotations

from kiro_proxy.kiro.fingerprint import derive_machine_id, normalize_machine_id
from kiro_proxy.pool.account import Account

_MAX_CACHED = 4096


class MachineIds:
    """The wire form of stored machine ids, cached: normalising is a strip, a lower and two
    regexes, and every request needs it (TokenManager.credentials)."""

    def __init__(self) -> None:
        # Stored machine id → its 64-hex wire form.
        self._wire: dict[str, str] = {}

    def ensure(self, account: Account) -> str:
        """The account's 64-hex wire machine id; one is derived and stored on the account
        when it has none usable."""
        stored = account.machine_id
        if stored:
            wire = self._wire.get(stored)
            if wire is not None:
                return wire
        wire = self._ensure(account)
        if account.machine_id and len(self._wire) < _MAX_CACHED:
            self._wire[account.machine_id] = wire
        return wire

    @staticmethod
    def _ensure(account: Account) -> str:
        """Uncached: a usable stored id, widened; else a derived one, stored on the account."""
        if not account.machine_id or normalize_machine_id(account.machine_id) is None:
            seed = account.access_token if account.auth_method == "api_key" else None
            account.machine_id = derive_machine_id(
                configured=account.machine_id,
                api_key=seed,
                refresh_token=account.refresh_token,
                seed=account.id,
            )
        return normalize_machine_id(account.machine_id) or account.machine_id
