"""Settings changed in the admin panel reach every worker process.

The worker that answers `PUT /admin/api/settings` applies the change to its live settings and
writes config.json (ConfigFile.update), then adds one to each changed setting's counter in the
database (settings_kv `settings.changes`, the same increment-under-lock as the pool's shared
counters). Every worker compares those counters with the ones it saw last, about once a second,
and takes the changed settings from config.json the way the answering worker applied them: the
same live Settings object, the same subscribers (which push a few values into the pool).

Only the changed names are re-read: a setting an environment variable fixed at this start keeps
the variable's value in every worker until the panel changes that very setting.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kiro_proxy.config_file import ConfigFile
from kiro_proxy.settings import Settings
from kiro_proxy.store.shared_state import SharedStateRepository

log = logging.getLogger(__name__)

SETTINGS_CHANGES_KEY = "settings.changes"  # {setting name: how many times the panel changed it}


class SettingsSync:
    def __init__(
        self, shared: SharedStateRepository, config: ConfigFile, settings: Settings
    ) -> None:
        self._shared = shared
        self._config = config
        self._settings = settings
        self._seen: dict[str, Any] = {}

    async def start(self) -> None:
        """Start-up: the settings as loaded are current; only later changes are taken in."""
        self._seen = await self._shared.read_totals(SETTINGS_CHANGES_KEY)

    async def announce(self, names: Iterable[str]) -> None:
        """After a change applied here: tell the other workers which settings to re-read. (This
        worker re-reads them too at its next check, finds the same values and changes nothing.)"""
        deltas = {name: 1 for name in names}
        if deltas:
            await self._shared.add_totals(SETTINGS_CHANGES_KEY, deltas)

    async def check(self) -> frozenset[str]:
        """Take in the settings another worker changed since the last check; returns the names
        whose value changed here."""
        stored = await self._shared.read_totals(SETTINGS_CHANGES_KEY)
        names = sorted(n for n, count in stored.items() if self._seen.get(n) != count)
        if not names:
            return frozenset()
        self._seen = stored  # a broken config.json is reported once, not every second
        changed = self._config.reload(self._settings, names)
        if changed:
            log.info("settings changed in another worker: %s", ", ".join(sorted(changed)))
        return changed
