"""The SSO-OIDC helpers: PKCE, authorize URL, error bodies, unreachable hosts, login sessions."""

from __future__ import annotations

import base64
import hashlib
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from kiro_proxy.auth.errors import LoginError
from kiro_proxy.auth.oidc import (
    KIRO_SCOPES,
    OidcApi,
    _error_from_body,
    build_authorize_url,
    make_pkce,
    new_session,
)
from kiro_proxy.auth.sessions import LoginSessions


def test_pkce_is_s256_of_the_verifier() -> None:
    pkce = make_pkce()
    digest = hashlib.sha256(pkce.verifier.encode()).digest()
    assert pkce.challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(pkce.verifier) <= 128  # RFC 7636 bounds
    assert make_pkce().verifier != pkce.verifier


def test_authorize_url_carries_comma_joined_scopes() -> None:
    url = build_authorize_url(
        "https://oidc.eu-west-1.amazonaws.com/",
        client_id="cid",
        redirect_uri="http://127.0.0.1/oauth/callback",
        state="st",
        code_challenge="ch",
    )
    parts = urlsplit(url)
    assert parts.netloc == "oidc.eu-west-1.amazonaws.com" and parts.path == "/authorize"
    query = parse_qs(parts.query)
    assert query["scopes"] == [",".join(KIRO_SCOPES)]
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"error":"authorization_pending","error_description":"wait"}', "authorization_pending"),
        (b'{"__type":"com.amazonaws#SlowDownException","message":"x"}', "slow_down"),
        (b'{"error":"ExpiredTokenException"}', "expired_token"),
        (b'{"code":"AccessDeniedException"}', "access_denied"),
        (b"<html>bad gateway</html>", None),
    ],
)
def test_error_bodies(body: bytes, error: str | None) -> None:
    assert _error_from_body(400, body).error == error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_oidc_says_check_the_network() -> None:
    async with new_session() as http:
        api = OidcApi(http, f"http://127.0.0.1:{_free_port()}")
        with pytest.raises(LoginError) as caught:
            await api.register_client(client_name="Kiro", grant_types=[], issuer_url="x")
    assert caught.value.code == "network_error"
    assert "check the network" in caught.value.message


def test_login_sessions_expire_and_are_typed() -> None:
    now = [1000.0]
    sessions = LoginSessions(clock=lambda: now[0])
    session = sessions.add("builder-id", object(), lifetime=60)
    assert sessions.get(session.id, "builder-id") is session
    assert sessions.get(session.id, "iam-sso") is None  # a Builder ID id is no IdC session
    now[0] += 61
    assert sessions.get(session.id, "builder-id") is None
    assert len(sessions) == 0


def test_reprs_hide_secrets() -> None:
    from kiro_proxy.auth.oidc import ClientRegistration, TokenGrant

    text = repr(ClientRegistration("cid", "very-secret")) + repr(
        TokenGrant("acc-tok", "ref-tok", 1)
    )
    text += repr(make_pkce())
    for secret in ("very-secret", "acc-tok", "ref-tok"):
        assert secret not in text
