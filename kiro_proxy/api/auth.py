"""Client API-key check for the model routes (x-api-key or Authorization: Bearer)."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from kiro_proxy.api.services import Services
from kiro_proxy.errors import AuthenticationError


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def authenticate(request: Request, services: Services) -> str | None:
    """Returns the id of the API key used (None when keys are not required).

    Keys are compared in constant time; the configured single key (Kiro-Go's `apiKey`) and the
    named keys stored hashed in the database are both accepted.
    """
    settings = services.settings
    key = presented_key(request)
    verify = getattr(services.runtime, "verify_api_key", None)
    if key and verify is not None:
        key_id = await verify(key)
        if key_id is not None:
            return key_id
    if key and settings.api_key and hmac.compare_digest(key.encode(), settings.api_key.encode()):
        return "config"
    if not settings.require_api_key:
        return None
    if key is None:
        raise AuthenticationError(
            "missing API key: send it as 'x-api-key: <key>' or 'Authorization: Bearer <key>'"
        )
    raise AuthenticationError("invalid API key: check the key or create one in the admin panel")
