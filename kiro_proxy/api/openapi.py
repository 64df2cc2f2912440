"""The OpenAPI document: FastAPI's own, plus what the raw-body routes cannot tell it.

The model routes read and validate their bodies themselves (one orjson parse, errors in the
client API's shape), so FastAPI sees no body parameter and documents none. Here the request
models' JSON schemas are added as request bodies, the answers get response schemas, the
security schemes are declared, and FastAPI's 422 becomes the 400 the gateway really sends.

The document is built once, on first request of /openapi.json, and cached on the app.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from kiro_proxy.admin.session import CSRF_HEADER, SESSION_COOKIE
from kiro_proxy.admin.session_routes import LoginBody
from kiro_proxy.api import openapi_schemas as schemas
from kiro_proxy.translate.anthropic_request import AnthropicRequest
from kiro_proxy.translate.openai_request import OpenAIChatRequest
from kiro_proxy.translate.responses_request import ResponsesRequest

Schema = dict[str, Any]
REF_TEMPLATE = "#/components/schemas/{model}"
ADMIN_PREFIX = "/admin/api/"

SECURITY_SCHEMES: Schema = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "A gateway API key (admin panel → API keys). Required only when the "
        "gateway requires keys (`require_api_key`).",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as a bearer token.",
    },
    "AdminSession": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
    "AdminCsrf": {
        "type": "apiKey",
        "in": "header",
        "name": CSRF_HEADER,
        "description": "The session's csrfToken (from login or GET /admin/api/session); "
        "needed on every change.",
    },
}
# The admin API's errors: `{"error": {...}}`, `{"success": false, "error": "..."}` from the
# account-import routes, or a batch import's per-item report (the panel reads each).
_ADMIN_ERROR: Schema = {"type": "object"}
_KEYED = [{"ApiKey": []}, {"Bearer": []}]

# Every status a model route answers besides 200 (errors.py, api/errors.py): bad input, key,
# access refused upstream, unknown route, body too large, throttled, upstream broken, no account.
# A 500 is a gateway bug, so it is not documented.
_ANTHROPIC_ERRORS = ("400", "401", "403", "404", "413", "429", "502", "503", "529")
_OPENAI_ERRORS = ("400", "401", "403", "404", "413", "429", "502", "503")
_ADMIN_ERRORS = ("400", "401", "403", "404", "409", "413", "429", "502", "503")


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with the completed, cached document."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI) -> Schema:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    component_schemas: Schema = components.setdefault("schemas", {})
    _merge_schemas(component_schemas, request_schemas())
    components["securitySchemes"] = SECURITY_SCHEMES
    paths: dict[str, dict[str, Schema]] = document["paths"]
    _document_model_routes(paths)
    _document_common_routes(paths)
    _document_admin_routes(paths)
    # FastAPI's 422 schemas are unused once every 422 is documented as the 400 it really is.
    for name in ("HTTPValidationError", "ValidationError"):
        component_schemas.pop(name, None)
    return document


def request_schemas() -> dict[str, Schema]:
    """The request models' JSON schemas, named for components/schemas.

    `$defs` inside an operation's schema do not resolve (refs are document-relative), so every
    definition is lifted into components/schemas and refs point there.
    """
    _, top = models_json_schema(
        [
            (AnthropicRequest, "validation"),
            (OpenAIChatRequest, "validation"),
            (ResponsesRequest, "validation"),
        ],
        ref_template=REF_TEMPLATE,
    )
    defs: dict[str, Schema] = top["$defs"]
    # count_tokens takes a Messages request without max_tokens (nothing is generated), and
    # counts an empty history as well; replies need at least one message (parsers check it).
    count = copy.deepcopy(defs["AnthropicRequest"])
    count["title"] = "AnthropicCountTokensRequest"
    count["required"] = [name for name in count.get("required", []) if name != "max_tokens"]
    defs["AnthropicCountTokensRequest"] = count
    for name in ("AnthropicRequest", "OpenAIChatRequest"):
        defs[name]["properties"]["messages"]["minItems"] = 1
    # The Responses parser reads items, tools and tool_choice by hand (they are open-ended
    # unions); their documented shapes come from openapi_schemas.
    responses = defs["ResponsesRequest"]["properties"]
    responses["input"] = schemas.RESPONSES_INPUT
    responses["tools"] = schemas.RESPONSES_TOOLS
    responses["tool_choice"] = schemas.RESPONSES_TOOL_CHOICE
    defs["ResponsesRequest"].setdefault("required", [])
    if "input" not in defs["ResponsesRequest"]["required"]:
        defs["ResponsesRequest"]["required"].append("input")
    return defs


def _merge_schemas(into: dict[str, Schema], new: dict[str, Schema]) -> None:
    for name, schema in new.items():
        if name in into and into[name] != schema:
            raise RuntimeError(f"two different OpenAPI component schemas named {name}")
        into[name] = schema


def _ref(name: str) -> Schema:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(statuses: tuple[str, ...], schema: Schema) -> dict[str, Schema]:
    return {status: _json(schema, "Error") for status in statuses}


def _json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _document_model_routes(paths: dict[str, dict[str, Schema]]) -> None:
    messages_ok = {
        "description": "The reply: a Message, or Server-Sent Events when `stream` is true",
        "content": {
            "application/json": {"schema": schemas.ANTHROPIC_MESSAGE},
            "text/event-stream": {"schema": schemas.ANTHROPIC_EVENT},
        },
    }
    chat_ok = {
        "description": "The reply: a chat completion, or Server-Sent Events when `stream` is true",
        "content": {
            "application/json": {"schema": schemas.OPENAI_COMPLETION},
            "text/event-stream": {"schema": schemas.OPENAI_EVENT},
        },
    }
    responses_ok = {
        "description": "The reply: a response object, or Server-Sent Events when `stream` is true",
        "content": {
            "application/json": {"schema": schemas.RESPONSES_OBJECT},
            "text/event-stream": {"schema": schemas.RESPONSES_EVENT},
        },
    }
    anthropic_errors = _errors(_ANTHROPIC_ERRORS, schemas.ANTHROPIC_ERROR)
    routes: dict[str, tuple[str, Schema, dict[str, Schema]]] = {
        "/v1/messages": ("AnthropicRequest", messages_ok, anthropic_errors),
        "/cc/v1/messages": ("AnthropicRequest", messages_ok, anthropic_errors),
        "/v1/messages/count_tokens": (
            "AnthropicCountTokensRequest",
            _json(schemas.TOKEN_COUNT, "The prompt's size in tokens"),
            anthropic_errors,
        ),
        "/cc/v1/messages/count_tokens": (
            "AnthropicCountTokensRequest",
            _json(schemas.TOKEN_COUNT, "The prompt's size in tokens"),
            anthropic_errors,
        ),
        "/v1/chat/completions": (
            "OpenAIChatRequest",
            chat_ok,
            _errors(_OPENAI_ERRORS, schemas.OPENAI_ERROR),
        ),
        "/v1/responses": (
            "ResponsesRequest",
            responses_ok,
            _errors(_OPENAI_ERRORS, schemas.OPENAI_ERROR),
        ),
    }
    for path, (model, ok, errors) in routes.items():
        operation = paths.get(path, {}).get("post")
        if operation is None:
            continue
        operation["requestBody"] = _json_body(_ref(model))
        operation["responses"] = {"200": ok, **errors}
        operation["security"] = _KEYED


def _document_common_routes(paths: dict[str, dict[str, Schema]]) -> None:
    openai_errors = _errors(("401", "429", "503"), schemas.OPENAI_ERROR)
    documented: dict[str, tuple[dict[str, Schema], list[Schema] | None]] = {
        "/health": ({"200": _json(schemas.HEALTH, "Alive")}, None),
        "/ready": (
            {
                "200": _json(schemas.READY, "Ready to take requests"),
                "503": _json(schemas.READY, "Not ready: the problems say why"),
            },
            None,
        ),
        "/v1/models": ({"200": _json(schemas.MODEL_LIST, "Models"), **openai_errors}, _KEYED),
        "/v1/stats": ({"200": _json(schemas.STATS, "Counters"), **openai_errors}, _KEYED),
    }
    for path, (responses, security) in documented.items():
        operation = paths.get(path, {}).get("get")
        if operation is None:
            continue
        operation["responses"] = responses
        if security is not None:
            operation["security"] = security


def _document_admin_routes(paths: dict[str, dict[str, Schema]]) -> None:
    public = {f"{ADMIN_PREFIX}login", f"{ADMIN_PREFIX}session"}
    for path, operations in paths.items():
        if not path.startswith(ADMIN_PREFIX):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in _ADMIN_ERRORS:
                responses.setdefault(status, _json(_ADMIN_ERROR, "Error"))
            if path in public:
                continue
            # Reads need the session cookie; changes the CSRF header as well.
            session: Schema = {"AdminSession": []}
            if method != "get":
                session["AdminCsrf"] = []
            operation["security"] = [session]
    login = paths.get(f"{ADMIN_PREFIX}login", {}).get("post")
    if login is not None:
        login["requestBody"] = _json_body(LoginBody.model_json_schema(ref_template=REF_TEMPLATE))
