"""What a login or import reports back: one result per account, one outcome per batch item.
The dict forms are the admin API's JSON (camelCase) and never contain secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OnboardResult:
    account_id: str
    email: str | None
    created: bool  # False: an existing account was updated (dedupe)
    auth_method: str
    provider: str | None
    subscription: str | None
    warnings: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "email": self.email,
            "created": self.created,
            "authMethod": self.auth_method,
            "provider": self.provider,
            "subscription": self.subscription,
            "warnings": list(self.warnings),
        }


@dataclass(slots=True)
class ItemOutcome:
    """One line of a batch report: `label` names the item without secrets."""

    index: int
    label: str
    result: OnboardResult | None = None
    error: str | None = None
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "label": self.label, "success": self.ok}
        if self.result is not None:
            out["account"] = self.result.summary()
        else:
            out["error"] = self.error
            out["code"] = self.code
        return out


@dataclass(slots=True)
class BatchReport:
    items: list[ItemOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> list[ItemOutcome]:
        return [i for i in self.items if i.ok]

    @property
    def failed(self) -> list[ItemOutcome]:
        return [i for i in self.items if not i.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": bool(self.items) and not self.failed,
            "total": len(self.items),
            "imported": len(self.succeeded),
            "failed": len(self.failed),
            "items": [i.as_dict() for i in self.items],
            "accounts": [
                {"id": i.result.account_id, "email": i.result.email}
                for i in self.items
                if i.result is not None
            ],
            "errors": [f"{i.label}: {i.error}" for i in self.failed],
        }
