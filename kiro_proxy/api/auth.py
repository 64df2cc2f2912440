"""Client API-key check for the model routes (x-api-key or Authorization: Bearer).

The key is found with one pass over the raw ASGI headers instead of two `request.headers`
lookups (each builds or scans Starlette's Headers and decodes): this runs on every model
request, before any translation work.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from kiro_proxy.api.services import Services
from kiro_proxy.errors import AuthenticationError

_API_KEY_HEADER = b"x-api-key"
_AUTHORIZATION_HEADER = b"authorization"


def presented_key(request: Request) -> str | None:
    """The x-api-key value if one is given (non-empty), else an `Authorization: Bearer` token.
    As with `request.headers.get`, the first header of each name counts."""
    api_key: bytes | None = None
    authorization: bytes | None = None
    for name, value in request.scope["headers"]:
        if name == _API_KEY_HEADER:
            if api_key is None:
                api_key = value
        elif name == _AUTHORIZATION_HEADER and authorization is None:
            authorization = value
    if api_key:
        return api_key.decode("latin-1").strip()
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
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
