"""Password login, server-side sessions, cookie flags, CSRF, throttling, logout, password change."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from admin_helpers import PASSWORD, AdminEnv, admin_test_app
from sqlalchemy import select

from kiro_proxy.admin.common import ServiceUnavailable
from kiro_proxy.admin.passwords import hash_password, is_password_hash, verify_password
from kiro_proxy.admin.session import (
    SESSION_LIFETIME_SECONDS,
    AdminAuth,
    ConfigFilePasswordStore,
    MemoryPasswordStore,
    WrongPassword,
)
from kiro_proxy.admin.throttle import FREE_FAILURES
from kiro_proxy.config_file import ConfigFile
from kiro_proxy.store.database import open_database
from kiro_proxy.store.models import LoginFailureRow


def test_first_run_generates_a_random_password_printed_once(tmp_path: Path) -> None:
    config = ConfigFile(tmp_path / "config.json")
    printed: list[str] = []
    first = AdminAuth(ConfigFilePasswordStore(config), announce=printed.append)
    assert first.generated_password and len(printed) == 1
    password = printed[0].split("Admin password: ")[1].split()[0]
    assert len(password) >= 16 and password != "changeme"
    stored = orjson.loads((tmp_path / "config.json").read_bytes())["password"]
    assert is_password_hash(stored) and password not in stored
    assert verify_password(password, stored)
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    # Second run: the hash is there, nothing is generated or printed.
    second = AdminAuth(ConfigFilePasswordStore(config), announce=printed.append)
    assert not second.generated_password and len(printed) == 1
    # Two first runs never share a password.
    other: list[str] = []
    AdminAuth(MemoryPasswordStore(), announce=other.append)
    assert other[0].split("Admin password: ")[1].split()[0] != password


def test_plaintext_kiro_go_password_is_replaced_by_a_hash(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(orjson.dumps({"password": "old-plain", "port": 8080}))
    store = ConfigFilePasswordStore(ConfigFile(tmp_path / "config.json"))
    AdminAuth(store, announce=lambda _m: None)
    data = orjson.loads((tmp_path / "config.json").read_bytes())
    assert data["port"] == 8080 and is_password_hash(data["password"])
    assert verify_password("old-plain", data["password"])


async def test_env_password_wins_and_cannot_be_changed_in_the_panel(tmp_path: Path) -> None:
    store = MemoryPasswordStore(hash_password("stored-password", n=2**10))
    auth = AdminAuth(store, env_password="from-env-password", announce=lambda _m: None)
    database = await open_database(f"sqlite:///{tmp_path / 'kiro-proxy.db'}")
    try:
        with pytest.raises(ServiceUnavailable):  # before start-up attached the database
            await auth.login("from-env-password", "1.2.3.4")
        auth.attach(database)
        with pytest.raises(WrongPassword):
            await auth.login("stored-password", "1.2.3.4")
        session, _ = await auth.login("from-env-password", "1.2.3.4")
        with pytest.raises(Exception, match="ADMIN_PASSWORD"):
            await auth.change_password(session, "from-env-password", "something-new-123")
    finally:
        await database.close()


async def test_wrong_then_right_password_and_cookie_flags(admin_env: AdminEnv) -> None:
    wrong = await admin_env.login("nope")
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers
    right = await admin_env.login()
    assert right.status_code == 200
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    assert f"max-age={SESSION_LIFETIME_SECONDS}" in cookie
    body = right.json()
    assert body["authenticated"] and body["csrfToken"] and PASSWORD not in right.text
    session = await admin_env.http.get("/admin/api/session")
    assert session.json()["authenticated"] is True


async def test_routes_need_a_session(admin_env: AdminEnv) -> None:
    for method, path in [
        ("GET", "/admin/api/overview"),
        ("GET", "/admin/api/accounts"),
        ("GET", "/admin/api/keys"),
        ("GET", "/admin/api/settings"),
        ("GET", "/admin/api/requests"),
        ("POST", "/admin/api/keys"),
        ("POST", "/admin/api/logout"),
    ]:
        response = await admin_env.http.request(method, path, json={})
        assert response.status_code == 401, (method, path)
    assert (await admin_env.http.get("/admin/api/session")).json()["authenticated"] is False


async def test_changes_need_the_csrf_token(logged_in: AdminEnv) -> None:
    http = logged_in.http
    missing = await http.post("/admin/api/keys", json={"name": "x"})
    assert missing.status_code == 403 and "CSRF" in missing.text
    wrong = await http.post("/admin/api/keys", json={"name": "x"}, headers={"x-csrf-token": "abc"})
    assert wrong.status_code == 403
    cross = await http.post(
        "/admin/api/keys",
        json={"name": "x"},
        headers={**logged_in.headers(), "origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    ok = await logged_in.call("POST", "/admin/api/keys", {"name": "x"})
    assert ok.status_code == 200
    # Reads need no token.
    assert (await http.get("/admin/api/keys")).status_code == 200


async def test_session_expires_after_72_hours_on_the_server(logged_in: AdminEnv) -> None:
    logged_in.clock.now += SESSION_LIFETIME_SECONDS - 5
    assert (await logged_in.http.get("/admin/api/accounts")).status_code == 200
    logged_in.clock.now += 10
    assert (await logged_in.http.get("/admin/api/accounts")).status_code == 401
    assert await logged_in.auth.session_count() == 0


async def test_logout_ends_the_session_server_side(logged_in: AdminEnv) -> None:
    token = logged_in.http.cookies.get("kiro_admin_session")
    response = await logged_in.call("POST", "/admin/api/logout")
    assert response.status_code == 200
    # Even a client that kept the old cookie is refused.
    logged_in.http.cookies.set("kiro_admin_session", token, path="/admin")
    assert (await logged_in.http.get("/admin/api/accounts")).status_code == 401


async def test_login_throttling_backs_off_per_address(admin_env: AdminEnv) -> None:
    statuses = [(await admin_env.login(f"guess-{i}")).status_code for i in range(3)]
    assert statuses == [401, 401, 401]
    fourth = await admin_env.login("guess-3")
    assert fourth.status_code == 401 and int(fourth.headers["retry-after"]) >= 2
    # While blocked even the right password is refused, without being checked.
    blocked = await admin_env.login()
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    admin_env.clock.now += 3
    assert (await admin_env.login("guess-4")).status_code == 401
    admin_env.clock.now += 3  # the wait doubled: still blocked
    assert (await admin_env.login()).status_code == 429
    admin_env.clock.now += 2
    assert (await admin_env.login()).status_code == 200
    assert await admin_env.auth.throttle.failures("127.0.0.1") == 0


async def test_login_throttle_memory_is_bounded_oldest_first(admin_env: AdminEnv) -> None:
    """Wrong passwords from many addresses through the login route: the throttle keeps at most
    its cap of records, drops the least recent first, and a blocked address it still tracks
    stays blocked."""
    cap = 4
    auth = AdminAuth(
        MemoryPasswordStore(hash_password(PASSWORD, n=2**10)),
        clock=admin_env.clock,
        announce=lambda _m: None,
        throttle_addresses=cap,
    )
    auth.attach(admin_env.runtime.database)
    app = admin_test_app(admin_env.settings, auth)
    clients: dict[str, httpx.AsyncClient] = {}

    async def login(address: str, password: str) -> httpx.Response:
        if address not in clients:
            transport = httpx.ASGITransport(app=app, client=(address, 50000))
            clients[address] = httpx.AsyncClient(
                transport=transport, base_url=admin_env.http.base_url
            )
        admin_env.clock.now += 0.01  # each failure later than the one before
        return await clients[address].post("/admin/api/login", json={"password": password})

    async def tracked() -> set[str]:
        async with admin_env.runtime.database.engine.connect() as connection:
            rows = await connection.execute(select(LoginFailureRow.address))
            return {row.address for row in rows}

    try:
        blocked = "192.0.2.1"
        for attempt in range(FREE_FAILURES + 1):
            assert (await login(blocked, f"guess-{attempt}")).status_code == 401
        assert (await login(blocked, PASSWORD)).status_code == 429
        others = [f"198.51.100.{n}" for n in range(1, 10)]
        for address in others[: cap - 1]:  # the cap is reached, nothing dropped yet
            assert (await login(address, "wrong")).status_code == 401
        assert await tracked() == {blocked, *others[: cap - 1]}
        assert (await login(blocked, PASSWORD)).status_code == 429  # still blocked
        for count, address in enumerate(others[cap - 1 :], start=cap):
            assert (await login(address, "wrong")).status_code == 401
            assert await tracked() == set(([blocked, *others])[count - cap + 1 : count + 1])
        # The blocked address was the least recent failure: dropped first, so it may try again.
        assert blocked not in await tracked()
        assert (await login(blocked, PASSWORD)).status_code == 200
    finally:
        for client in clients.values():
            await client.aclose()


async def test_password_change_logs_out_other_sessions(logged_in: AdminEnv) -> None:
    other = await logged_in.auth.login(PASSWORD, "10.0.0.9")
    bad = await logged_in.call(
        "POST", "/admin/api/password", {"currentPassword": "wrong", "newPassword": "new-pass-123"}
    )
    assert bad.status_code == 403
    short = await logged_in.call(
        "POST", "/admin/api/password", {"currentPassword": PASSWORD, "newPassword": "short"}
    )
    assert short.status_code == 400
    ok = await logged_in.call(
        "POST", "/admin/api/password", {"currentPassword": PASSWORD, "newPassword": "new-pass-123"}
    )
    assert ok.status_code == 200
    logged_in.csrf = ok.json()["csrfToken"]
    assert await logged_in.auth.session_for(other[1]) is None
    assert (await logged_in.http.get("/admin/api/accounts")).status_code == 200
    await logged_in.call("POST", "/admin/api/logout")
    assert (await logged_in.login(PASSWORD)).status_code == 401
    assert (await logged_in.login("new-pass-123")).status_code == 200
