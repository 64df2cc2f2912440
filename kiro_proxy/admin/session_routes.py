"""Login, logout, session probe and password change under /admin/api."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy import __version__
from kiro_proxy.admin.common import json_response
from kiro_proxy.admin.session import (
    SESSION_COOKIE,
    SESSION_LIFETIME_SECONDS,
    AdminSession,
    LoginThrottled,
    WrongPassword,
    admin_auth,
    client_address,
    require_admin,
)
from kiro_proxy.errors import InvalidRequestError

router = APIRouter(prefix="/admin/api")


class LoginBody(BaseModel):
    password: str = Field(max_length=1024)


class PasswordBody(BaseModel):
    currentPassword: str = Field(max_length=1024)
    newPassword: str = Field(max_length=1024)


def _error(status: int, kind: str, message: str, retry_after: int = 0) -> Response:
    headers = {"retry-after": str(retry_after)} if retry_after else None
    body = {"error": {"type": kind, "message": message, "retryAfter": retry_after}}
    return json_response(body, status, headers)


def _set_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _session_body(request: Request, session: AdminSession) -> dict[str, object]:
    auth = admin_auth(request)
    return {
        "authenticated": True,
        "csrfToken": session.csrf_token,
        "expiresAt": session.expires_at,
        "version": __version__,
        "passwordFromEnv": auth.password_from_env,
    }


@router.post("/login")
async def login(request: Request) -> Response:
    # JSON only: a cross-site HTML form cannot send it without a CORS preflight.
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise InvalidRequestError('send the password as JSON: {"password": "..."}')
    try:
        body = LoginBody.model_validate(orjson.loads(await request.body()))
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise InvalidRequestError('send the password as JSON: {"password": "..."}') from exc
    auth = admin_auth(request)
    address = client_address(request)
    try:
        session, token = await auth.login(body.password, address)
    except LoginThrottled as exc:
        return _error(
            429,
            "rate_limit_error",
            f"too many wrong passwords from this address: wait {exc.retry_after} s",
            exc.retry_after,
        )
    except WrongPassword as exc:
        message = "wrong password"
        if exc.retry_after:
            message += f": wait {exc.retry_after} s before the next try"
        return _error(401, "authentication_error", message, exc.retry_after)
    response = json_response(_session_body(request, session))
    _set_cookie(response, request, token, SESSION_LIFETIME_SECONDS)
    return response


@router.post("/logout")
async def logout(
    request: Request, session: Annotated[AdminSession, Depends(require_admin)]
) -> Response:
    await admin_auth(request).logout(session)
    response = json_response({"success": True})
    response.delete_cookie(SESSION_COOKIE, path="/admin", httponly=True, samesite="strict")
    return response


@router.get("/session")
async def current_session(request: Request) -> Response:
    """The panel asks this on load: logged in (with the CSRF token) or not; never a 401."""
    session = await admin_auth(request).session_for(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return json_response({"authenticated": False, "version": __version__})
    return json_response(_session_body(request, session))


@router.post("/password")
async def change_password(
    request: Request, body: PasswordBody, session: Annotated[AdminSession, Depends(require_admin)]
) -> Response:
    new_session, token = await admin_auth(request).change_password(
        session, body.currentPassword, body.newPassword
    )
    response = json_response(_session_body(request, new_session))
    _set_cookie(response, request, token, SESSION_LIFETIME_SECONDS)
    return response
