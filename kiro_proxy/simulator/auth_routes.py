"""Token and login endpoints: social refresh, SSO-OIDC (register, device, token, authorize,
portal-assisted device approval) and the access portal (protocol doc §5, §6).

Error bodies follow OAuth (`{"error","error_description"}`) as the gateway's peers parse them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from kiro_proxy.simulator.generate import bearer, json_response
from kiro_proxy.simulator.generate_outcome import EMPTY_FAULT
from kiro_proxy.simulator.script import Disconnect
from kiro_proxy.simulator.state import (
    SIM_STATE_KEY,
    AuthorizationCode,
    RecordedRequest,
    SimAccount,
    SimState,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
INVALID_REFRESH = "Invalid refresh token provided"


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_response(status, {"error": error, "error_description": description})


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _record(state: SimState, request: web.Request, body: Any, status: int) -> None:
    redacted = (
        {k: v for k, v in body.items() if "secret" not in k.lower()}
        if isinstance(body, dict)
        else None
    )
    state.record(
        RecordedRequest(
            path=request.path,
            account=None,
            body=redacted,
            headers={k.lower(): v for k, v in request.headers.items()},
            status=status,
        )
    )


def _grant(state: SimState, account: SimAccount, *, social: bool) -> dict[str, Any]:
    token = state.issue_access_token(account)
    if state.rotate_refresh_tokens:
        state.rotate_refresh_token(account)
    body: dict[str, Any] = {
        "accessToken": token,
        "refreshToken": account.refresh_token,
        "expiresIn": state.access_token_ttl,
    }
    if social:
        body["profileArn"] = account.profile_arn
    else:
        body["tokenType"] = "Bearer"
    return body


async def _refresh_fault(
    state: SimState, request: web.Request, data: dict[str, Any]
) -> web.Response | None:
    """The scripted fault this refresh meets (SimState.enqueue_refresh_fault), or None."""
    fault = state.next_refresh_fault(data.get("refreshToken"))
    if fault is None:
        return None
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if isinstance(fault, Disconnect):
        _record(state, request, {}, 0)  # status 0: no answer was sent
        if request.transport is not None:
            request.transport.abort()
        # aiohttp finds the connection gone when it writes this and sends nothing.
        return web.Response(status=500)
    _record(state, request, {}, fault.status)
    retry = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    return json_response(fault.status, fault.body or EMPTY_FAULT, retry)


# --- social (Kiro desktop auth) -----------------------------------------------------------------
async def social_refresh(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE_KEY]
    state.refresh_calls += 1
    data = await _json_body(request)
    faulted = await _refresh_fault(state, request, data)
    if faulted is not None:
        return faulted
    token = data.get("refreshToken")
    account = state.account_for_refresh_token(token) if isinstance(token, str) else None
    if account is None or account.auth_method != "social":
        _record(state, request, {}, 400)
        return json_response(400, {"error": "invalid_grant", "message": INVALID_REFRESH})
    _record(state, request, {}, 200)
    return json_response(200, _grant(state, account, social=True))


# --- SSO-OIDC -----------------------------------------------------------------------------------
async def register_client(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE_KEY]
    data = await _json_body(request)
    name = data.get("clientName")
    if not isinstance(name, str) or not name:
        return _oauth_error("invalid_request", "clientName is required")
    client = state.register_client(
        name,
        list(data.get("grantTypes") or ["refresh_token"]),
        list(data.get("redirectUris") or []),
        list(data.get("scopes") or []),
    )
    _record(state, request, data, 200)
    now = int(state.clock())
    return json_response(
        200,
        {
            "clientId": client.client_id,
            "clientSecret": client.client_secret,
            "clientIdIssuedAt": now,
            "clientSecretExpiresAt": now + 90 * 86400,
        },
    )


def _client_ok(state: SimState, data: dict[str, Any]) -> bool:
    client = state.clients.get(str(data.get("clientId")))
    return client is not None and client.client_secret == data.get("clientSecret")


async def device_authorization(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE_KEY]
    data = await _json_body(request)
    if not _client_ok(state, data):
        return _oauth_error("invalid_client", "Invalid client credentials", 401)
    auth = state.start_device_authorization(str(data["clientId"]))
    _record(state, request, data, 200)
    base = str(request.url.origin())
    return json_response(
        200,
        {
            "deviceCode": auth.device_code,
            "userCode": auth.user_code,
            "verificationUri": f"{base}/device",
            "verificationUriComplete": f"{base}/device?user_code={auth.user_code}",
            "interval": int(auth.interval) if auth.interval >= 1 else auth.interval,
            "expiresIn": state.device_expires_in,
        },
    )


def _token_device(state: SimState, data: dict[str, Any]) -> web.Response:
    auth = state.devices.get(str(data.get("deviceCode")))
    if auth is None or auth.client_id != data.get("clientId") or auth.redeemed:
        return _oauth_error("invalid_grant", "Invalid device code provided")
    now = state.clock()
    if now >= auth.expires_at:
        return _oauth_error("expired_token", "Device code has expired")
    if auth.status == "denied":
        return _oauth_error("access_denied", "The user denied the authorization request")
    if auth.status == "approved" and auth.account is not None:
        auth.redeemed = True
        account = auth.account
        account.client_id = auth.client_id
        account.client_secret = state.clients[auth.client_id].client_secret
        return json_response(200, _grant(state, account, social=False))
    too_fast = auth.last_poll is not None and now - auth.last_poll < auth.interval
    auth.last_poll = now
    if too_fast:
        # RFC 8628 §3.5: a client polling too fast must add 5 s to its interval.
        auth.interval += 5
        return _oauth_error("slow_down", "Client is polling too quickly")
    return _oauth_error("authorization_pending", "Authorization is still pending")


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _token_code(state: SimState, data: dict[str, Any]) -> web.Response:
    grant = state.auth_codes.get(str(data.get("code")))
    if (
        grant is None
        or grant.redeemed
        or grant.client_id != data.get("clientId")
        or grant.redirect_uri != data.get("redirectUri")
        or grant.expires_at <= state.clock()
    ):
        return _oauth_error("invalid_grant", "Invalid authorization code provided")
    verifier = data.get("codeVerifier")
    if not isinstance(verifier, str) or _pkce_challenge(verifier) != grant.code_challenge:
        return _oauth_error("invalid_grant", "Code verifier does not match the code challenge")
    grant.redeemed = True
    account = grant.account
    account.client_id = grant.client_id
    account.client_secret = state.clients[grant.client_id].client_secret
    return json_response(200, _grant(state, account, social=False))


def _token_refresh(state: SimState, data: dict[str, Any]) -> web.Response:
    token = data.get("refreshToken")
    account = state.account_for_refresh_token(token) if isinstance(token, str) else None
    if account is None or account.auth_method != "idc" or account.client_id != data.get("clientId"):
        return _oauth_error("invalid_grant", INVALID_REFRESH)
    return json_response(200, _grant(state, account, social=False))


async def create_token(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE_KEY]
    data = await _json_body(request)
    grant_type = data.get("grantType")
    if grant_type == "refresh_token":
        # Counted on arrival, as the social route does: a refresh held by a delayed fault that
        # the client gives up on (a timeout, a shutdown) was still made.
        state.oidc_refresh_calls += 1
        # An outage comes before any check of the client or the token.
        faulted = await _refresh_fault(state, request, data)
        if faulted is not None:
            return faulted
    if not _client_ok(state, data):
        response = _oauth_error("invalid_client", "Invalid client credentials", 401)
    elif grant_type == "refresh_token":
        response = _token_refresh(state, data)
    elif grant_type == DEVICE_GRANT:
        response = _token_device(state, data)
    elif grant_type == "authorization_code":
        response = _token_code(state, data)
    else:
        response = _oauth_error("unsupported_grant_type", f"Unsupported grant type {grant_type!r}")
    _record(state, request, {"grantType": grant_type}, response.status)
    return response


async def authorize(request: web.Request) -> web.Response:
    """Browser step of the auth-code flow: the 'user' decision comes from state (test-set)."""
    state = request.app[SIM_STATE_KEY]
    query = request.query
    client = state.clients.get(query.get("client_id", ""))
    redirect_uri = query.get("redirect_uri", "")
    if (
        client is None
        or query.get("response_type") != "code"
        or not redirect_uri
        or (client.redirect_uris and redirect_uri not in client.redirect_uris)
    ):
        return _oauth_error("invalid_request", "Unknown client or redirect_uri")
    if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
        return _oauth_error("invalid_request", "PKCE with S256 is required")
    params: dict[str, str] = {}
    if state.authorize_decision == "deny":
        params["error"] = "access_denied"
        params["error_description"] = "The user denied the request"
    else:
        account = state.authorize_account or state.add_account(auth_method="idc", profile_arn=None)
        code = secrets.token_urlsafe(32)
        state.auth_codes[code] = AuthorizationCode(
            code=code,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            code_challenge=query["code_challenge"],
            challenge_method="S256",
            account=account,
            expires_at=state.clock() + 600,
        )
        params["code"] = code
    if "state" in query:
        params["state"] = query["state"]
    separator = "&" if "?" in redirect_uri else "?"
    raise web.HTTPFound(f"{redirect_uri}{separator}{urlencode(params)}")


async def accept_user_code(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE_KEY]
    data = await _json_body(request)
    account = state.portal_sessions.get(str(data.get("userSessionId")))
    auth = state.device_by_user_code(str(data.get("userCode")))
    if account is None:
        return _oauth_error("invalid_grant", "Invalid user session", 401)
    if auth is None or auth.expires_at <= state.clock():
        return _oauth_error("invalid_request", "Invalid or expired user code")
    _record(state, request, {"userCode": auth.user_code}, 200)
    return json_response(
        200,
        {
            "deviceContext": {
                "deviceContextId": auth.device_code[-16:],
                "clientId": auth.client_id,
                "clientType": "public",
            }
        },
    )


async def associate_token(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE_KEY]
    data = await _json_body(request)
    account = state.portal_sessions.get(str(data.get("userSessionId")))
    context = data.get("deviceContext")
    context_id = context.get("deviceContextId") if isinstance(context, dict) else None
    match = next(
        (a for a in state.devices.values() if context_id and a.device_code.endswith(context_id)),
        None,
    )
    if account is None:
        return _oauth_error("invalid_grant", "Invalid user session", 401)
    if match is None:
        return _oauth_error("invalid_request", "Unknown device context")
    state.approve_device(match.user_code, account)
    _record(state, request, {"deviceContextId": context_id}, 200)
    return json_response(200, {})


# --- access portal ------------------------------------------------------------------------------
def _portal_account(request: web.Request) -> SimAccount | None:
    return request.app[SIM_STATE_KEY].account_for_cookie(bearer(request))


async def who_am_i(request: web.Request) -> web.Response:
    account = _portal_account(request)
    if account is None:
        return json_response(401, {"message": "Session token not found or invalid"})
    return json_response(
        200,
        {
            "userId": account.user_id,
            "email": account.email,
            "username": account.email.split("@")[0],
            "accountId": "123456789012",
        },
    )


async def session_device(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE_KEY]
    account = _portal_account(request)
    if account is None:
        return json_response(401, {"message": "Session token not found or invalid"})
    token = secrets.token_urlsafe(48)
    state.portal_sessions[token] = account
    return json_response(200, {"token": token})


def add_auth_routes(app: web.Application) -> None:
    app.router.add_post("/refreshToken", social_refresh)
    app.router.add_post("/client/register", register_client)
    app.router.add_post("/device_authorization", device_authorization)
    app.router.add_post("/device_authorization/accept_user_code", accept_user_code)
    app.router.add_post("/device_authorization/associate_token", associate_token)
    app.router.add_post("/token", create_token)
    app.router.add_get("/authorize", authorize)
    app.router.add_get("/token/whoAmI", who_am_i)
    app.router.add_post("/session/device", session_device)
