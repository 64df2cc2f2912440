"""A full session at DEBUG level — wrong and right admin logins, key creation, requests with a
good and a bad key, an account import, a token refresh, streaming on both APIs — and a grep of
everything logged for every secret used. A negative control proves the grep finds a leak.
Also: login throttling on repeated wrong passwords."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiro_proxy.observability.logging_setup import setup_logging
from kiro_proxy.observability.redaction import known_secrets
from kiro_proxy.simulator.state import SimAccount
from tests.e2e.stack import LiveStack
from tests.reliability.reliability_harness import send

ADMIN_PASSWORD = "Log-Grep-Admin-Pw-6620"
WRONG_PASSWORD = "Wrong-Guess-Pw-1187"
WRONG_KEY = "sk-kp-wrong-Key-0000-zz"


@pytest.fixture(scope="module")
def logged_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveStack, io.StringIO]]:
    capture = io.StringIO()
    root = logging.getLogger()
    level = root.level
    setup_logging("plain", "DEBUG", stream=capture)
    # The test's own HTTP client (httpx/httpcore) runs in this process and logs every header it
    # receives at DEBUG, the admin Set-Cookie included; the gateway does not use it.
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    with LiveStack(
        Path(tmp_path_factory.mktemp("logs")),
        accounts=2,
        settings={"admin_password": ADMIN_PASSWORD},
    ) as live:
        yield live, capture
        for handler in list(root.handlers):
            if handler.get_name() == "kiro-proxy":
                root.removeHandler(handler)
        root.setLevel(level)
        for name, previous in quiet.items():
            logging.getLogger(name).setLevel(previous)
        logging.getLogger("uvicorn.access").disabled = False
        known_secrets.clear()


def find_leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets found in `text` (shown by their first characters only)."""
    return [secret[:6] + "…" for secret in secrets if secret and secret in text]


def _account_secrets(account: SimAccount) -> list[str]:
    return [
        account.refresh_token,
        *account.access_tokens,
        account.client_secret or "",
    ]


async def test_a_full_session_at_debug_logs_no_secret(
    logged_stack: tuple[LiveStack, io.StringIO],
) -> None:
    stack, capture = logged_stack
    secrets = [ADMIN_PASSWORD, WRONG_PASSWORD, WRONG_KEY]
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        wrong = await http.post("/admin/api/login", json={"password": WRONG_PASSWORD})
        assert wrong.status_code == 401
        login = await http.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
        assert login.status_code == 200
        csrf = login.json()["csrfToken"]
        secrets += [csrf, *login.cookies.values()]
        admin = {"x-csrf-token": csrf}

        created = await http.post("/admin/api/keys", json={"name": "grep"}, headers=admin)
        api_key = created.json().get("key") or created.json()["apiKey"]
        secrets.append(api_key)

        # Import an IdC account (refresh token + client secret) through the admin API.
        imported = stack.call(
            lambda: stack.state.add_account("imported@example.com", auth_method="idc")
        )
        response = await http.post(
            "/admin/api/auth/credentials",
            headers=admin,
            json={
                "refreshToken": imported.refresh_token,
                "clientId": imported.client_id,
                "clientSecret": imported.client_secret,
                "authMethod": "idc",
                "region": "us-east-1",
            },
        )
        assert response.status_code == 200, response.text

        # Force a token refresh on the next requests: upstream refuses the current tokens.
        for account in stack.accounts:
            stack.call(lambda account=account: stack.state.expire_access_token(account))
        key_header = {"x-api-key": api_key}
        for api in ("anthropic", "openai"):
            for stream in (False, True):
                outcome = await send(http, api, stream=stream, headers=key_header)  # type: ignore[arg-type]
                assert outcome.ok, outcome.raw[:300]
        # Keys are optional on this stack: a wrong key is looked up (and must not be logged).
        bad = await send(http, "anthropic", stream=False, headers={"x-api-key": WRONG_KEY})
        assert bad.status in (200, 401)
        await http.post("/admin/api/logout", headers=admin)

    for account in [*stack.accounts, imported]:
        secrets += _account_secrets(account)
    assert stack.call(lambda: stack.state.refresh_calls) >= 1, "no refresh happened"
    log_text = capture.getvalue()
    # The session was captured: one access line per request, the admin calls included.
    for path in ("/v1/messages", "/v1/chat/completions", "/admin/api/login", "/admin/api/keys"):
        assert f"path={path} " in log_text, path
    assert not find_leaks(log_text, secrets), find_leaks(log_text, secrets)

    # Negative control 1: the grep does find a secret that reaches the log output.
    capture.write(f"a careless line with {api_key} in it\n")
    assert find_leaks(capture.getvalue(), secrets) == [api_key[:6] + "…"]
    # Negative control 2: logging a secret through the gateway's handler is masked (the log
    # stays clean because of redaction, not because nothing interesting was logged).
    logging.getLogger("kiro_proxy.test").warning(
        "refresh token is %s", stack.accounts[0].refresh_token
    )
    tail = capture.getvalue().rsplit("a careless line", 1)[1]
    assert "refresh token is" in tail
    assert stack.accounts[0].refresh_token not in tail


async def test_wrong_passwords_are_throttled_even_for_the_right_one(
    logged_stack: tuple[LiveStack, io.StringIO],
) -> None:
    stack, _ = logged_stack
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        statuses = []
        for _ in range(8):
            response = await http.post("/admin/api/login", json={"password": WRONG_PASSWORD})
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert statuses[:3] == [401, 401, 401], statuses  # typos are free
        assert 429 in statuses, statuses
        throttled = await http.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) >= 1
