"""Helpers for tests that run against the simulator (used by this package's tests and others')."""

from __future__ import annotations

import uuid
from typing import Any

from kiro_proxy.kiro.client import KiroClient, UpstreamCredentials
from kiro_proxy.kiro.fingerprint import derive_machine_id
from kiro_proxy.kiro.request import KiroRequest, KiroUserTurn
from kiro_proxy.simulator.state import SimAccount


def client_for(url: str, **overrides: Any) -> KiroClient:
    """A KiroClient whose every upstream base URL is the simulator."""
    options: dict[str, Any] = {
        "api_url": url,
        "codewhisperer_url": url,
        "auth_url": url,
        "oidc_url_template": url,
    }
    options.update(overrides)
    return KiroClient(**options)


def credentials_for(account: SimAccount, **overrides: Any) -> UpstreamCredentials:
    values: dict[str, Any] = {
        "access_token": account.access_token,
        "machine_id": derive_machine_id(
            refresh_token=account.refresh_token or account.access_token
        ),
        "auth_method": account.auth_method,
        "region": account.region,
        "profile_arn": account.profile_arn,
    }
    values.update(overrides)
    return UpstreamCredentials(**values)


def simple_request(text: str = "Hi there", model_id: str = "claude-sonnet-4.5") -> KiroRequest:
    return KiroRequest(
        model_id=model_id, current=KiroUserTurn(text), conversation_id=str(uuid.uuid4())
    )


def payload(
    *,
    history: list[dict[str, Any]] | None = None,
    current: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
    model_id: str = "claude-sonnet-4.5",
) -> dict[str, Any]:
    """A raw generateAssistantResponse body for validation tests (deliberately breakable)."""
    message: dict[str, Any] = current or {
        "content": "hello",
        "modelId": model_id,
        "origin": "AI_EDITOR",
    }
    if tools is not None:
        message.setdefault("userInputMessageContext", {})["tools"] = tools
    state: dict[str, Any] = {
        "chatTriggerType": "MANUAL",
        "conversationId": str(uuid.uuid4()),
        "currentMessage": {"userInputMessage": message},
    }
    if history is not None:
        state["history"] = history
    return {"conversationState": state}


def tool_spec(name: str = "get_weather", description: str = "Weather for a city") -> dict[str, Any]:
    return {
        "toolSpecification": {
            "name": name,
            "description": description,
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
        }
    }


def kiro_go_account(account: SimAccount) -> dict[str, Any]:
    """The simulated account as an entry of Kiro-Go's config.json `accounts` array (how the
    gateway is handed accounts in tests, the benchmark and the demo)."""
    entry: dict[str, Any] = {
        "id": account.email,
        "email": account.email,
        "refreshToken": account.refresh_token,
        "accessToken": account.access_token,
        "authMethod": account.auth_method,
        "region": account.region,
        "expiresAt": int(account.access_expires_at),
        "enabled": True,
    }
    if account.client_id:
        entry["clientId"] = account.client_id
        entry["clientSecret"] = account.client_secret
    return entry
