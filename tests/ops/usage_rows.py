"""A usage row as the dispatcher records it (one success on the Messages route), for the metrics
tests: each test overrides only the fields it is about."""

from __future__ import annotations

from kiro_proxy.pool.usage import UsageRow

SONNET = "claude-sonnet-4.5"
MESSAGES = "/v1/messages"


def usage_row(**overrides: object) -> UsageRow:
    values: dict[str, object] = {
        "created_at": 0.0,
        "request_id": "r1",
        "account_id": "a1",
        "api_key_id": None,
        "route": MESSAGES,
        "model": SONNET,
        "stream": False,
        "status": "success",
        "input_tokens": 120,
        "output_tokens": 30,
        "credits": 0.25,
        "latency_ms": 900,
        "first_token_ms": 300,
        "error_kind": None,
        "attempts": 1,
    }
    values.update(overrides)
    return UsageRow(**values)  # type: ignore[arg-type]
