"""The client fingerprint Kiro sees: machine id and request headers (protocol doc §1.3, §5).

We imitate the current Kiro IDE (the KRS/AIC variant): `KiroIDE-<version>-<machineId>` in both
user agents, a 64-hex machine id that stays stable per account, the streaming SDK's invocation
headers. Version strings are fingerprints only and come from settings.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache

from kiro_proxy.ids import random_uuid4

STREAMING_SDK_VERSION = "1.0.34"
RUNTIME_SDK_VERSION = "1.0.0"
OIDC_SDK_VERSION = "3.980.0"
NODE_VERSION = "22.22.0"
# The IDE reports the host OS; pick one of two common desktops per machine id so an account
# always looks like the same computer.
_SYSTEM_VERSIONS = ("darwin#24.6.0", "win32#10.0.22631")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_UUID_HEX = re.compile(r"^[0-9a-f]{32}$")


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_machine_id(value: str) -> str | None:
    """A configured id as 64 lower-case hex chars, or None if it is not usable.

    A UUID (with or without dashes) is widened by repeating its 32 hex digits, as KRS does.
    """
    candidate = value.strip().lower()
    if _HEX64.match(candidate):
        return candidate
    compact = candidate.replace("-", "")
    if _UUID_HEX.match(compact):
        return compact * 2
    return None


def derive_machine_id(
    *,
    configured: str | None = None,
    api_key: str | None = None,
    refresh_token: str | None = None,
    seed: str | None = None,
) -> str:
    """Stable 64-hex machine id: configured > api key > refresh token > seed > random.

    Deriving from the credential keeps the id stable across restarts without storing it.
    """
    if configured and (normalized := normalize_machine_id(configured)):
        return normalized
    if api_key:
        return _sha256_hex("KiroAPIKey/" + api_key)
    if refresh_token:
        return _sha256_hex("KotlinNativeAPI/" + refresh_token)
    if seed:
        return _sha256_hex("KiroSeed/" + seed)
    return _sha256_hex("KiroFallback/" + str(uuid.uuid4()))


def system_version_for(machine_id: str) -> str:
    return _SYSTEM_VERSIONS[int(machine_id[:2] or "0", 16) % len(_SYSTEM_VERSIONS)]


@lru_cache(maxsize=4096)
def _streaming_agents(kiro_version: str, machine_id: str) -> tuple[str, str]:
    ide = f"KiroIDE-{kiro_version}-{machine_id}" if machine_id else f"KiroIDE-{kiro_version}"
    system = system_version_for(machine_id) if machine_id else _SYSTEM_VERSIONS[0]
    user_agent = (
        f"aws-sdk-js/{STREAMING_SDK_VERSION} ua/2.1 os/{system} lang/js md/nodejs#{NODE_VERSION} "
        f"api/codewhispererstreaming#{STREAMING_SDK_VERSION} m/E {ide}"
    )
    return user_agent, f"aws-sdk-js/{STREAMING_SDK_VERSION} {ide}"


@lru_cache(maxsize=4096)
def _runtime_agents(kiro_version: str, machine_id: str) -> tuple[str, str]:
    ide = f"KiroIDE-{kiro_version}-{machine_id}" if machine_id else f"KiroIDE-{kiro_version}"
    system = system_version_for(machine_id) if machine_id else _SYSTEM_VERSIONS[0]
    user_agent = (
        f"aws-sdk-js/{RUNTIME_SDK_VERSION} ua/2.1 os/{system} lang/js md/nodejs#{NODE_VERSION} "
        f"api/codewhispererruntime#{RUNTIME_SDK_VERSION} m/N,E {ide}"
    )
    return user_agent, f"aws-sdk-js/{RUNTIME_SDK_VERSION} {ide}"


def generate_headers(
    *,
    access_token: str,
    machine_id: str,
    auth_method: str,
    kiro_version: str,
    agent_mode: str,
) -> dict[str, str]:
    """Headers of one generateAssistantResponse call (fresh invocation id every time)."""
    user_agent, amz_user_agent = _streaming_agents(kiro_version, machine_id)
    headers = {
        "content-type": "application/json",
        "accept": "*/*",
        "x-amzn-codewhisperer-optout": "true",
        "x-amzn-kiro-agent-mode": agent_mode,
        "x-amz-user-agent": amz_user_agent,
        "user-agent": user_agent,
        "amz-sdk-invocation-id": random_uuid4(),  # unique per call, not secret (kiro_proxy/ids.py)
        "amz-sdk-request": "attempt=1; max=3",
        "authorization": f"Bearer {access_token}",
    }
    if auth_method == "api_key":
        # Headless `ksk_…` keys are accepted only with this marker (KRS, DSH).
        headers["tokentype"] = "API_KEY"
    return headers


def runtime_headers(
    *, access_token: str, machine_id: str, auth_method: str, kiro_version: str
) -> dict[str, str]:
    """Headers of the REST calls (getUsageLimits, ListAvailableModels)."""
    user_agent, amz_user_agent = _runtime_agents(kiro_version, machine_id)
    headers = {
        "accept": "application/json",
        "x-amzn-codewhisperer-optout": "true",
        "x-amz-user-agent": amz_user_agent,
        "user-agent": user_agent,
        "amz-sdk-invocation-id": str(uuid.uuid4()),
        "amz-sdk-request": "attempt=1; max=1",
        "authorization": f"Bearer {access_token}",
    }
    if auth_method == "api_key":
        headers["tokentype"] = "API_KEY"
    return headers


def social_refresh_headers(*, machine_id: str, kiro_version: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "accept": "application/json, text/plain, */*",
        "user-agent": f"KiroIDE-{kiro_version}-{machine_id}",
    }


def oidc_headers() -> dict[str, str]:
    """The SSO-OIDC SDK's headers (refresh and login calls)."""
    return {
        "content-type": "application/json",
        "x-amz-user-agent": f"aws-sdk-js/{OIDC_SDK_VERSION} KiroIDE",
        "user-agent": (
            f"aws-sdk-js/{OIDC_SDK_VERSION} ua/2.1 os/{_SYSTEM_VERSIONS[0]} lang/js "
            f"md/nodejs#{NODE_VERSION} api/sso-oidc#{OIDC_SDK_VERSION} m/E KiroIDE"
        ),
        "amz-sdk-request": "attempt=1; max=4",
        "amz-sdk-invocation-id": str(uuid.uuid4()),
    }
