"""The one place where gateway errors become client-shaped JSON (Anthropic or OpenAI)."""

from __future__ import annotations

import math
from typing import Literal

import orjson
from starlette.responses import Response

from kiro_proxy.errors import ProxyError

ApiFlavour = Literal["anthropic", "openai"]

# Anthropic error type → (OpenAI error type, OpenAI code). OpenAI's SDK picks its exception class
# from the status code; type/code are for humans and for clients that branch on them.
_OPENAI_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("invalid_request_error", "not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded_error": ("server_error", "overloaded"),
}


def openai_status(error: ProxyError) -> int:
    # 529 is Anthropic's; OpenAI clients know 503 for "try again later".
    return 503 if error.status == 529 else error.status


def anthropic_error_body(kind: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def openai_error_body(
    kind: str, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, object]:
    openai_type, default_code = _OPENAI_TYPES.get(kind, ("server_error", None))
    return {
        "error": {
            "message": message,
            "type": openai_type,
            "param": param,
            "code": code or default_code,
        }
    }


def error_response(error: ProxyError, flavour: ApiFlavour) -> Response:
    if flavour == "openai":
        body = openai_error_body(error.kind, error.message, param=error.param, code=error.code)
        status = openai_status(error)
    else:
        body = anthropic_error_body(error.kind, error.message)
        status = error.status
    headers = None
    if status in (429, 503, 529):
        wait = error.retry_after if error.retry_after is not None else 5
        headers = {"retry-after": str(max(1, math.ceil(wait)))}
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def flavour_for_path(path: str) -> ApiFlavour:
    """Which API shape an error on this path must take."""
    return "anthropic" if "messages" in path else "openai"
