"""Helpers shared by the admin route modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.errors import NotFoundError, ProxyError

if TYPE_CHECKING:
    from kiro_proxy.api.services import Services
    from kiro_proxy.pool.runtime import PoolRuntime


class ServiceUnavailable(ProxyError):
    status = 503
    kind = "overloaded_error"


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    # Admin data (account emails, usage) must not sit in shared caches or the back/forward cache.
    return Response(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store", **(headers or {})},
    )


def services_of(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise ServiceUnavailable("the gateway is still starting: try again in a moment")
    return services  # type: ignore[no-any-return]


def runtime_of(request: Request) -> PoolRuntime:
    return services_of(request).runtime


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {camel(k): v for k, v in data.items()}


def not_found(what: str, ident: str) -> NotFoundError:
    return NotFoundError(f"no {what} with id {ident!r}: it may have been deleted; reload the page")
