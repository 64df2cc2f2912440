"""Health, readiness, model list, stats, and Claude Code's telemetry sink."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy import __version__
from kiro_proxy.api.auth import authenticate
from kiro_proxy.api.json_response import json_response
from kiro_proxy.api.services import Services
from kiro_proxy.translate.models import list_model_ids

router = APIRouter()

# A fixed creation date for the model list: Kiro does not report one, and clients only display it.
_MODEL_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@router.get("/health")
async def health(request: Request) -> Response:
    services = _services(request)
    return json_response({"status": "ok", "version": __version__, "uptime": services.uptime()})


@router.get("/", include_in_schema=False)
async def root(request: Request) -> Response:
    return await health(request)


@router.get("/ready")
async def ready(request: Request) -> Response:
    """Ready when the database answers and at least one account can take a request."""
    services = _services(request)
    problems: list[str] = []
    try:
        await services.runtime.ping_database()
    except Exception as error:  # the database is down or unreachable
        problems.append(f"database unreachable: {type(error).__name__}")
    available = services.runtime.available_accounts()
    if available == 0:
        problems.append("no usable account: add one in the admin panel or wait for a cooldown")
    body = {"status": "ready" if not problems else "not_ready", "availableAccounts": available}
    if problems:
        body["problems"] = problems
    return json_response(body, 200 if not problems else 503)


@router.get("/v1/models")
async def models(request: Request) -> Response:
    services = _services(request)
    await authenticate(request, services)
    settings = services.settings
    ids = list_model_ids(
        services.known_models(),
        aliases=settings.model_aliases,
        thinking_suffix=settings.thinking_suffix,
    )
    if request.headers.get("anthropic-version"):
        data = [
            {
                "type": "model",
                "id": model_id,
                "display_name": model_id,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for model_id in ids
        ]
        return json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": ids[0] if ids else None,
                "last_id": ids[-1] if ids else None,
            }
        )
    return json_response(
        {
            "object": "list",
            "data": [
                {"id": model_id, "object": "model", "created": _MODEL_CREATED, "owned_by": "kiro"}
                for model_id in ids
            ],
        }
    )


router.add_api_route("/models", models, methods=["GET"], include_in_schema=False)


@router.get("/v1/stats")
async def stats(request: Request) -> Response:
    services = _services(request)
    await authenticate(request, services)
    body = {"status": "ok", "version": __version__, **services.runtime.stats()}
    body["uptime"] = services.uptime()
    return json_response(body)


@router.post("/api/event_logging/batch", include_in_schema=False)
async def event_logging(request: Request) -> Response:
    """Claude Code posts telemetry here when pointed at a gateway; accept and drop it."""
    return json_response({"status": "ok"})
