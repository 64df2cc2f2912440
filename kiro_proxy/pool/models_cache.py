"""Cached ListAvailableModels ids, with a fallback list until the first successful fetch."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# Ids Kiro listed in 2026 (protocol doc §7.2): served until the first fetch succeeds, so that
# /v1/models answers even before any account has been reached.
FALLBACK_MODEL_IDS = (
    "auto",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-sonnet-4.6",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-opus-4.6",
    "claude-opus-4.7",
    "deepseek-3.2",
    "glm-5",
    "minimax-m2.1",
    "minimax-m2.5",
    "qwen3-coder-next",
)


class ModelCatalog:
    def __init__(self) -> None:
        self._ids: list[str] = list(FALLBACK_MODEL_IDS)

    def ids(self) -> list[str]:
        return list(self._ids)

    def update(self, models: list[dict[str, Any]]) -> None:
        ids = [
            m["modelId"]
            for m in models
            if isinstance(m, dict) and isinstance(m.get("modelId"), str)
        ]
        if not ids:
            log.warning("ListAvailableModels returned no model ids; keeping the previous list")
            return
        self._ids = ids
