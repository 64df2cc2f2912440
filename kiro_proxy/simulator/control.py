"""/_sim/* routes: the SimState Python API over HTTP, for out-of-process tests and the demo.

JSON in, JSON out. Test-only: it hands out tokens, so never expose a simulator publicly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from kiro_proxy.simulator.script import (
    refresh_fault_from_json,
    scripted_from_json,
    scripted_to_json,
)
from kiro_proxy.simulator.state import SIM_STATE_KEY, SimAccount, SimState


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data


def _state(request: web.Request) -> SimState:
    return request.app[SIM_STATE_KEY]


def _account(state: SimState, email: str) -> SimAccount:
    account = state.accounts.get(email)
    if account is None:
        raise web.HTTPNotFound(text=f"no simulated account {email!r}")
    return account


async def add_account(request: web.Request) -> web.Response:
    data = await _body(request)
    allowed = {
        "email",
        "auth_method",
        "subscription",
        "usage_limit",
        "current_usage",
        "region",
        "profile_arn",
        "access_token",
        "refresh_token",
        "expires_in",
    }
    unknown = set(data) - allowed
    if unknown:
        return _json(400, {"error": f"unknown fields {sorted(unknown)}; allowed {sorted(allowed)}"})
    account = _state(request).add_account(**data)
    return _json(200, account.public())


async def list_accounts(request: web.Request) -> web.Response:
    return _json(200, [a.public() for a in _state(request).accounts.values()])


async def account_action(request: web.Request) -> web.Response:
    state = _state(request)
    account = _account(state, request.match_info["email"])
    action = request.match_info["action"]
    if action == "expire":
        state.expire_access_token(account)
    elif action == "revoke":
        state.revoke_refresh_token(account)
    elif action == "suspend":
        state.suspend(account, True)
    elif action == "unsuspend":
        state.suspend(account, False)
    elif action == "usage":
        data = await _body(request)
        account.current_usage = float(data.get("current_usage", account.current_usage))
        account.usage_limit = float(data.get("usage_limit", account.usage_limit))
    else:
        raise web.HTTPNotFound(text=f"unknown action {action!r}")
    return _json(200, account.public())


async def enqueue(request: web.Request) -> web.Response:
    data = await _body(request)
    items = data.get("scripts") or ([data["script"]] if "script" in data else [])
    state = _state(request)
    return _queue(state, data, items, scripted_from_json, state.enqueue, state.pending_scripts)


async def enqueue_refresh_faults(request: web.Request) -> web.Response:
    """{"faults": [...], "account": email?}: faults for the next token refreshes."""
    data = await _body(request)
    state = _state(request)
    return _queue(
        state,
        data,
        data.get("faults") or [],
        refresh_fault_from_json,
        state.enqueue_refresh_fault,
        state.pending_refresh_faults,
    )


def _queue(
    state: SimState,
    data: dict[str, Any],
    items: list[Any],
    parse: Callable[[Any], Any],
    put: Callable[..., None],
    pending: Callable[[], int],
) -> web.Response:
    """Parse `items`, queue them (for `data["account"]` when given) and say how many wait."""
    try:
        parsed = [parse(item) for item in items]
    except (TypeError, ValueError) as exc:
        return _json(400, {"error": str(exc)})
    account = data.get("account")
    if account is not None:
        _account(state, account)
    put(*parsed, account=account)
    return _json(200, {"queued": len(parsed), "pending": pending()})


async def set_always(request: web.Request) -> web.Response:
    data = await _body(request)
    script = data.get("script")
    try:
        item = scripted_from_json(script) if script else None
    except (TypeError, ValueError) as exc:
        return _json(400, {"error": str(exc)})
    _state(request).set_always(item)
    return _json(200, {"always": scripted_to_json(item) if item else None})


async def requests_log(request: web.Request) -> web.Response:
    entries = [
        {
            "path": r.path,
            "account": r.account,
            "status": r.status,
            "validation_error": r.validation_error,
            "body": r.body,
            "headers": {k: v for k, v in r.headers.items() if k.lower() != "authorization"},
        }
        for r in _state(request).requests
    ]
    return _json(200, entries)


async def counters(request: web.Request) -> web.Response:
    state = _state(request)
    return _json(
        200,
        {
            "refresh_calls": state.refresh_calls,
            "oidc_refresh_calls": state.oidc_refresh_calls,
            "generate_calls": state.generate_calls,
            "pending_scripts": state.pending_scripts(),
            "pending_refresh_faults": state.pending_refresh_faults(),
            "requests": len(state.requests),
        },
    )


async def configure(request: web.Request) -> web.Response:
    """Set tunables: max_input_chars, accept_any_token, enforce_quota, device_interval, …"""
    data = await _body(request)
    state = _state(request)
    tunables = {
        "max_input_chars": int,
        "accept_any_token": bool,
        "enforce_quota": bool,
        "record_bodies": bool,
        "rotate_refresh_tokens": bool,
        "access_token_ttl": int,
        "device_interval": float,
        "device_expires_in": int,
        "models_page_size": int,
        "authorize_decision": str,
    }
    for key, value in data.items():
        if key not in tunables:
            return _json(400, {"error": f"unknown tunable {key!r}; known {sorted(tunables)}"})
        setattr(state, key, tunables[key](value))
    return _json(200, {key: getattr(state, key) for key in tunables})


async def device_action(request: web.Request) -> web.Response:
    state = _state(request)
    user_code, action = request.match_info["user_code"], request.match_info["action"]
    if state.device_by_user_code(user_code) is None:
        raise web.HTTPNotFound(text="unknown user code")
    if action == "approve":
        data = await _body(request)
        email = data.get("email")
        account = state.approve_device(user_code, _account(state, email) if email else None)
        return _json(200, account.public())
    if action == "deny":
        state.deny_device(user_code)
    elif action == "expire":
        state.expire_device(user_code)
    else:
        raise web.HTTPNotFound(text=f"unknown action {action!r}")
    return _json(200, {"ok": True})


async def sso_cookie(request: web.Request) -> web.Response:
    data = await _body(request)
    state = _state(request)
    email = data.get("email")
    value = state.create_sso_cookie(
        _account(state, email) if email else None, expired=bool(data.get("expired", False))
    )
    return _json(200, {"cookie": value})


async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return _json(200, {"ok": True})


def add_control_routes(app: web.Application) -> None:
    app.router.add_post("/_sim/accounts", add_account)
    app.router.add_get("/_sim/accounts", list_accounts)
    app.router.add_post("/_sim/accounts/{email}/{action}", account_action)
    app.router.add_post("/_sim/enqueue", enqueue)
    app.router.add_post("/_sim/refresh_faults", enqueue_refresh_faults)
    app.router.add_post("/_sim/always", set_always)
    app.router.add_get("/_sim/requests", requests_log)
    app.router.add_get("/_sim/counters", counters)
    app.router.add_post("/_sim/config", configure)
    app.router.add_post("/_sim/devices/{user_code}/{action}", device_action)
    app.router.add_post("/_sim/sso_cookies", sso_cookie)
    app.router.add_post("/_sim/reset", reset)
