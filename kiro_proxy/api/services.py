"""The long-lived objects a request handler needs, built once at start-up by app.py."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kiro_proxy.settings import Settings

if TYPE_CHECKING:
    from kiro_proxy.kiro.client import KiroClient
    from kiro_proxy.pool.dispatcher import Dispatcher
    from kiro_proxy.pool.runtime import PoolRuntime


@dataclass(slots=True)
class Services:
    settings: Settings
    client: KiroClient
    runtime: PoolRuntime
    started_at: float = field(default_factory=time.time)

    @property
    def dispatcher(self) -> Dispatcher:
        return self.runtime.dispatcher

    def known_models(self) -> Sequence[str]:
        return self.runtime.models()

    def uptime(self) -> int:
        return int(time.time() - self.started_at)
