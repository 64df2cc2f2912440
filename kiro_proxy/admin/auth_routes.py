"""Adding accounts from the admin panel: /admin/api/auth/* and /admin/api/export (Kiro-Go's
shapes, protocol doc §9.2), plus /admin/oauth/callback for IdC logins on the user's own machine.

Failures answer `{"success": false, "error": <what to do next>, "code": <stable name>}` with a
4xx/5xx status, as Kiro-Go's panel expects. Logins in progress live in memory (they hold client
secrets and PKCE verifiers) in `app.state.login_sessions`.
"""

from __future__ import annotations

import html
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from kiro_proxy.admin.common import json_response, services_of
from kiro_proxy.admin.session import require_admin
from kiro_proxy.auth import idc
from kiro_proxy.auth.builder_id import BuilderIdLogin
from kiro_proxy.auth.errors import CredentialFormatError, LoginError, SessionNotFoundError
from kiro_proxy.auth.export import SECRETS_WARNING, build_export
from kiro_proxy.auth.results import BatchReport, OnboardResult
from kiro_proxy.auth.service import LoginService
from kiro_proxy.auth.sessions import LoginSessions
from kiro_proxy.pool.account import Account

log = logging.getLogger(__name__)
router = APIRouter()
_guard = [Depends(require_admin)]
API = "/admin/api"
CALLBACK_PATH = "/admin/oauth/callback"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
BUILDER_ID = "builder-id"
IAM_SSO = "iam-sso"


class _RuntimeAccounts:
    """The account repository as onboarding sees it. Health counters the pool has not written
    yet are flushed first, so updating a known account never loses them."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime

    async def list_all(self) -> list[Account]:
        await self._runtime.flush_state()
        return await self._runtime.accounts.list_all()  # type: ignore[no-any-return]

    async def insert(self, account: Account, *, source: str | None = None) -> None:
        await self._runtime.accounts.insert(account, source=source)

    async def save(self, account: Account, names: Iterable[str]) -> None:
        await self._runtime.accounts.save(account, names)


def login_service(request: Request) -> LoginService:
    services = services_of(request)
    runtime = services.runtime

    async def reload_account(account_id: str) -> None:
        account = await runtime.accounts.get(account_id)
        if account is not None:
            runtime.pool.upsert(account)

    return LoginService(
        services.settings, services.client, _RuntimeAccounts(runtime), on_changed=reload_account
    )


def login_sessions(request: Request) -> LoginSessions:
    sessions = getattr(request.app.state, "login_sessions", None)
    if sessions is None:
        sessions = request.app.state.login_sessions = LoginSessions()
    return sessions  # type: ignore[no-any-return]


def _failure(exc: LoginError) -> Response:
    return json_response({"success": False, "error": exc.message, "code": exc.code}, exc.status)


def _account_json(result: OnboardResult) -> dict[str, Any]:
    return result.summary()


def _batch_json(report: BatchReport) -> Response:
    body = report.as_dict()
    # 200 when at least one item worked (the panel shows the per-item report); 400 when none did.
    return json_response(body, 200 if report.succeeded else 400)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_UPLOAD_BYTES:
        raise CredentialFormatError("the upload is larger than 5 MB: split it into several files")
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise CredentialFormatError(
            f"the request body is not valid JSON ({exc}): check the pasted text",
            code="malformed_json",
        ) from exc


# --- AWS Builder ID ---------------------------------------------------------------------------


class BuilderIdStart(BaseModel):
    region: str = Field(default="us-east-1", max_length=32)


class SessionRef(BaseModel):
    sessionId: str = Field(max_length=100)


@router.post(f"{API}/auth/builderid/start", dependencies=_guard)
async def builder_id_start(request: Request, body: BuilderIdStart) -> Response:
    try:
        login = await login_service(request).builder_id_start(body.region)
    except LoginError as exc:
        return _failure(exc)
    # Kept a minute past the code's expiry so a late poll still hears "expired", not "unknown".
    session = login_sessions(request).add(BUILDER_ID, login, lifetime=login.device.expires_in + 60)
    return json_response(
        {
            "success": True,
            "sessionId": session.id,
            "userCode": login.device.user_code,
            "verificationUri": login.device.verification_uri,
            "verificationUriComplete": login.device.verification_uri_complete,
            "interval": login.interval,
            "expiresIn": login.device.expires_in,
        }
    )


@router.post(f"{API}/auth/builderid/poll", dependencies=_guard)
async def builder_id_poll(request: Request, body: SessionRef) -> Response:
    sessions = login_sessions(request)
    session = sessions.get(body.sessionId, BUILDER_ID)
    if session is None:
        return _failure(SessionNotFoundError("Builder ID login"))
    login = session.login
    assert isinstance(login, BuilderIdLogin)
    service = login_service(request)
    # One poll at a time per login: two panel tabs must not both redeem the device code.
    async with session.lock:
        try:
            result = await service.builder_id_poll(login)
            if result.grant is None:
                return json_response(
                    {
                        "success": True,
                        "completed": False,
                        "status": result.status,
                        "interval": result.interval,
                    }
                )
            account = await service.builder_id_finish(login, result.grant)
        except LoginError as exc:
            if exc.code in ("expired_token", "access_denied", "invalid_grant"):
                sessions.remove(session.id)
            return _failure(exc)
        sessions.remove(session.id)
    return json_response({"success": True, "completed": True, "account": _account_json(account)})


# --- IAM Identity Center ----------------------------------------------------------------------


class IdcStart(BaseModel):
    startUrl: str = Field(max_length=2000)
    region: str = Field(default="us-east-1", max_length=32)
    # None: use the local callback when the panel is opened on this machine (loopback).
    localCallback: bool | None = None


class IdcComplete(BaseModel):
    sessionId: str = Field(max_length=100)
    callbackUrl: str = Field(max_length=8000)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _local_redirect_uri(request: Request, wanted: bool | None) -> str | None:
    """The gateway's own callback URL when the browser doing the sign-in can reach it: the
    panel is open on this machine. Otherwise the user pastes the final URL (Kiro-Go's way)."""
    on_this_machine = _is_loopback(request.url.hostname) and _is_loopback(
        request.client.host if request.client else None
    )
    if wanted is False or (wanted is None and not on_this_machine):
        return None
    port = request.url.port
    host = request.url.hostname or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"  # AWS matches loopback redirect URIs by IP literal
    return f"{request.url.scheme}://{host}{':' + str(port) if port else ''}{CALLBACK_PATH}"


@router.post(f"{API}/auth/iam-sso/start", dependencies=_guard)
async def idc_start(request: Request, body: IdcStart) -> Response:
    redirect_uri = _local_redirect_uri(request, body.localCallback)
    try:
        login = await login_service(request).idc_start(
            body.startUrl, body.region, redirect_uri=redirect_uri or idc.PASTE_REDIRECT_URI
        )
    except LoginError as exc:
        return _failure(exc)
    session = login_sessions(request).add(IAM_SSO, login, lifetime=idc.SESSION_SECONDS)
    return json_response(
        {
            "success": True,
            "sessionId": session.id,
            "authorizeUrl": login.authorize_url,
            "expiresIn": int(idc.SESSION_SECONDS),
            "redirectUri": login.redirect_uri,
            "localCallback": redirect_uri is not None,
        }
    )


async def _complete_idc(request: Request, session_id: str, callback_url: str) -> OnboardResult:
    sessions = login_sessions(request)
    session = sessions.get(session_id, IAM_SSO)
    if session is None:
        raise SessionNotFoundError("IAM Identity Center login")
    login = session.login
    assert isinstance(login, idc.IdcLogin)
    async with session.lock:
        try:
            result = await login_service(request).idc_complete(login, callback_url)
        except LoginError as exc:
            # A wrong paste may be retried with the right URL; anything else ends the login.
            if exc.code not in ("state_mismatch", "invalid_callback_url"):
                sessions.remove(session.id)
            raise
        sessions.remove(session.id)
    return result


@router.post(f"{API}/auth/iam-sso/complete", dependencies=_guard)
async def idc_complete(request: Request, body: IdcComplete) -> Response:
    try:
        account = await _complete_idc(request, body.sessionId, body.callbackUrl)
    except LoginError as exc:
        return _failure(exc)
    return json_response({"success": True, "account": _account_json(account)})


_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>kiro-proxy</title></head>"
    "<body style='font-family:sans-serif;max-width:40em;margin:4em auto'>"
    "<h1>{title}</h1><p>{text}</p></body></html>"
)


def _page(title: str, text: str, status: int) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), text=html.escape(text)),
        status_code=status,
        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"},
    )


@router.get(CALLBACK_PATH, include_in_schema=False)
async def oauth_callback(request: Request) -> Response:
    """Where AWS sends the browser after an IdC sign-in when the gateway runs locally.

    No admin session here: the redirect comes from AWS, and the SameSite=Strict session cookie
    is not sent on it. The unguessable `state`, bound to a login an admin started, is the proof.
    """
    url = str(request.url)
    state = idc.state_of(url)
    sessions = login_sessions(request)
    session = (
        sessions.find(IAM_SSO, lambda login: getattr(login, "state", None) == state)
        if state
        else None
    )
    if session is None:
        return _page(
            "Sign-in not recognised",
            "This sign-in does not match a login started in the kiro-proxy admin panel, or it "
            "expired after 10 minutes. Start the IAM Identity Center login again from the panel.",
            400,
        )
    try:
        account = await _complete_idc(request, session.id, url)
    except LoginError as exc:
        return _page("Sign-in failed", exc.message, exc.status)
    who = account.email or "the account"
    verb = "added" if account.created else "updated"
    return _page("Account added", f"{who} was {verb}. You can close this tab.", 200)


# --- SSO cookie, credential JSON, IDE cache files ---------------------------------------------


class SsoTokenBody(BaseModel):
    bearerToken: str = Field(max_length=200_000)  # newline-separated cookie values
    region: str = Field(default="us-east-1", max_length=32)


@router.post(f"{API}/auth/sso-token", dependencies=_guard)
async def sso_token_import(request: Request, body: SsoTokenBody) -> Response:
    try:
        report = await login_service(request).sso_tokens(body.bearerToken, body.region)
    except LoginError as exc:
        return _failure(exc)
    return _batch_json(report)


@router.post(f"{API}/auth/credentials", dependencies=_guard)
async def credentials_import(request: Request) -> Response:
    """One credential object (Kiro-Go's `{success, account}` answer), or a batch: an array, a
    Kiro Account Manager export or a Kiro-Go config.json (per-item report)."""
    try:
        data = await _json_body(request)
        report = await login_service(request).import_value(data)
    except LoginError as exc:
        return _failure(exc)
    single = isinstance(data, dict) and not isinstance(data.get("accounts"), list)
    if single:
        (item,) = report.items
        if item.result is None:
            return json_response(
                {
                    "success": False,
                    "error": item.error,
                    "code": item.code,
                    "items": [item.as_dict()],
                },
                400,
            )
        return json_response(
            {"success": True, "account": _account_json(item.result), "items": [item.as_dict()]}
        )
    return _batch_json(report)


@router.post(f"{API}/auth/credentials/batch", dependencies=_guard)
async def credentials_batch(request: Request) -> Response:
    """Always the per-item report, whatever the document's shape."""
    try:
        report = await login_service(request).import_value(await _json_body(request))
    except LoginError as exc:
        return _failure(exc)
    return _batch_json(report)


@router.post(f"{API}/auth/local-cache", dependencies=_guard)
async def local_cache_upload(request: Request) -> Response:
    """`{"tokenFile": <kiro-auth-token.json>, "registrationFile": <clientIdHash>.json?}`; each
    as the parsed object or the file's text."""
    try:
        data = await _json_body(request)
        if not isinstance(data, dict) or not data.get("tokenFile"):
            raise CredentialFormatError(
                "upload kiro-auth-token.json as tokenFile (and for IdC logins the "
                "<clientIdHash>.json file as registrationFile)"
            )
        token, registration = data["tokenFile"], data.get("registrationFile") or None
        for value in (token, registration):
            if value is not None and not isinstance(value, dict | str):
                raise CredentialFormatError("each file must be sent as its JSON object or text")
        account = await login_service(request).import_token_file(token, registration)
    except LoginError as exc:
        return _failure(exc)
    return json_response({"success": True, "account": _account_json(account)})


# --- export -----------------------------------------------------------------------------------


class ExportBody(BaseModel):
    ids: list[str] = Field(default_factory=list, max_length=10_000)


@router.post(f"{API}/export", dependencies=_guard)
async def export_accounts(request: Request, body: ExportBody | None = None) -> Response:
    runtime = services_of(request).runtime
    await runtime.flush_state()
    accounts = await runtime.accounts.list_all()
    document = build_export(accounts, ids=body.ids if body else None)
    log.warning("admin export of %d account(s) with their secrets", len(document["accounts"]))
    return json_response(
        document,
        headers={
            "content-disposition": 'attachment; filename="kiro-accounts.json"',
            "x-contains-secrets": "true",
            "x-secrets-warning": SECRETS_WARNING,
        },
    )
