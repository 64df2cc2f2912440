"""/admin/api/auth/* and /admin/api/export on a real runtime wired to the simulator."""

from __future__ import annotations

import hashlib

import aiohttp
import httpx
import orjson
from admin_helpers import AdminEnv

START_URL = "https://example-org.awsapps.com/start"


async def _browser(authorize_url: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(authorize_url, allow_redirects=False) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]


async def test_routes_need_an_admin_session(admin_env: AdminEnv) -> None:
    for path in (
        "/admin/api/auth/builderid/start",
        "/admin/api/auth/credentials",
        "/admin/api/export",
    ):
        response = await admin_env.http.post(path, json={})
        assert response.status_code == 401, path


async def test_builder_id_start_poll_approve(logged_in: AdminEnv) -> None:
    env = logged_in
    env.sim.state.device_interval = 0.01
    start = await env.call("POST", "/admin/api/auth/builderid/start", {"region": "us-east-1"})
    assert start.status_code == 200, start.text
    body = start.json()
    assert {"sessionId", "userCode", "verificationUri", "interval"} <= set(body)
    assert "clientSecret" not in start.text and "deviceCode" not in start.text

    pending = await env.call(
        "POST", "/admin/api/auth/builderid/poll", {"sessionId": body["sessionId"]}
    )
    assert pending.json() == {
        "success": True,
        "completed": False,
        "status": "pending",
        "interval": 0.01,
    }
    sim_account = env.sim.state.approve_device(body["userCode"])
    done = await env.call(
        "POST", "/admin/api/auth/builderid/poll", {"sessionId": body["sessionId"]}
    )
    assert done.status_code == 200, done.text
    account = done.json()["account"]
    assert done.json()["completed"] is True and account["email"] == sim_account.email
    # The pool serves the new account at once.
    pooled = env.runtime.pool.get(account["id"])
    assert pooled is not None and pooled.email == sim_account.email
    # The login is over: polling again says so.
    again = await env.call(
        "POST", "/admin/api/auth/builderid/poll", {"sessionId": body["sessionId"]}
    )
    assert again.status_code == 404 and "start the login again" in again.json()["error"]


async def test_builder_id_denied_and_expired(logged_in: AdminEnv) -> None:
    env = logged_in
    for action, code in (
        (env.sim.state.deny_device, "access_denied"),
        (env.sim.state.expire_device, "expired_token"),
    ):
        start = (await env.call("POST", "/admin/api/auth/builderid/start", {})).json()
        action(start["userCode"])
        poll = await env.call(
            "POST", "/admin/api/auth/builderid/poll", {"sessionId": start["sessionId"]}
        )
        assert poll.status_code == 400
        assert poll.json()["success"] is False and poll.json()["code"] == code
        assert "start the login again" in poll.json()["error"]


async def test_iam_sso_paste_flow(logged_in: AdminEnv) -> None:
    env = logged_in
    start = await env.call(
        "POST", "/admin/api/auth/iam-sso/start", {"startUrl": START_URL, "region": "us-east-1"}
    )
    body = start.json()
    assert body["expiresIn"] == 600 and body["localCallback"] is False
    callback = await _browser(body["authorizeUrl"])

    wrong = callback.replace("state=", "state=x")
    mismatch = await env.call(
        "POST",
        "/admin/api/auth/iam-sso/complete",
        {"sessionId": body["sessionId"], "callbackUrl": wrong},
    )
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "state_mismatch"
    # A wrong paste does not end the login: the right URL still works.
    done = await env.call(
        "POST",
        "/admin/api/auth/iam-sso/complete",
        {"sessionId": body["sessionId"], "callbackUrl": callback},
    )
    assert done.status_code == 200, done.text
    assert env.runtime.pool.get(done.json()["account"]["id"]) is not None


async def test_iam_sso_local_callback(logged_in: AdminEnv) -> None:
    env = logged_in
    start = await env.call(
        "POST",
        "/admin/api/auth/iam-sso/start",
        {"startUrl": START_URL, "region": "us-east-1", "localCallback": True},
    )
    body = start.json()
    assert body["localCallback"] is True
    assert body["redirectUri"] == "http://testserver/admin/oauth/callback"
    callback = await _browser(body["authorizeUrl"])
    # The browser lands on the gateway itself, without the admin cookie (SameSite=Strict).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.app, client=("127.0.0.1", 50001)),
        base_url="http://testserver",
    ) as browser:
        page = await browser.get(callback.replace("http://testserver", ""))
    assert page.status_code == 200 and "Account added" in page.text
    assert len(env.runtime.pool.all()) == 1
    # Replaying the callback finds no login.
    replay = await env.http.get(callback.replace("http://testserver", ""))
    assert replay.status_code == 400 and "Start the IAM Identity Center login again" in replay.text


async def test_sso_token_lines(logged_in: AdminEnv) -> None:
    env = logged_in
    good = env.sim.state.create_sso_cookie()
    expired = env.sim.state.create_sso_cookie(expired=True)
    response = await env.call(
        "POST",
        "/admin/api/auth/sso-token",
        {"bearerToken": f"{good}\n{expired}\n", "region": "us-east-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["accounts"]) == 1 and len(body["errors"]) == 1
    assert [i["success"] for i in body["items"]] == [True, False]
    assert good not in response.text and expired not in response.text

    none_good = await env.call("POST", "/admin/api/auth/sso-token", {"bearerToken": "bogus"})
    assert none_good.status_code == 400 and none_good.json()["success"] is False


async def test_credentials_single_batch_and_dead_token(logged_in: AdminEnv) -> None:
    env = logged_in
    a = env.sim.state.add_account("tom@example.com")
    single = await env.call(
        "POST", "/admin/api/auth/credentials", {"refreshToken": a.refresh_token}
    )
    assert single.status_code == 200, single.text
    assert (
        single.json()["success"] is True and single.json()["account"]["email"] == "tom@example.com"
    )

    dead = env.sim.state.add_account("uma@example.com")
    env.sim.state.revoke_refresh_token(dead)
    refused = await env.call(
        "POST", "/admin/api/auth/credentials", {"refreshToken": dead.refresh_token}
    )
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_refresh_token"
    assert "log in again" in refused.json()["error"]

    batch = await env.call(
        "POST", "/admin/api/auth/credentials", [{"refreshToken": a.refresh_token}, {"nope": 1}]
    )
    assert batch.status_code == 200
    assert [i["success"] for i in batch.json()["items"]] == [True, False]
    assert batch.json()["items"][0]["account"]["created"] is False  # dedupe: updated
    assert len(env.runtime.pool.all()) == 1

    malformed = await env.http.post(
        "/admin/api/auth/credentials", content=b"{oops", headers=env.headers()
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"


async def test_local_cache_upload(logged_in: AdminEnv) -> None:
    env = logged_in
    sim_account = env.sim.state.add_account("vera@example.com", auth_method="idc", profile_arn=None)
    assert sim_account.client_id is not None
    digest = hashlib.sha1(sim_account.client_id.encode()).hexdigest()
    token = {"refreshToken": sim_account.refresh_token, "authMethod": "IdC", "clientIdHash": digest}
    missing = await env.call("POST", "/admin/api/auth/local-cache", {"tokenFile": token})
    assert missing.status_code == 400 and f"{digest}.json" in missing.json()["error"]
    registration = orjson.dumps(
        {"clientId": sim_account.client_id, "clientSecret": sim_account.client_secret}
    ).decode()
    ok = await env.call(
        "POST",
        "/admin/api/auth/local-cache",
        {"tokenFile": token, "registrationFile": registration},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["account"]["authMethod"] == "idc"


async def test_export_round_trip(logged_in: AdminEnv) -> None:
    env = logged_in
    a = env.sim.state.add_account("walt@example.com")
    b = env.sim.state.add_account("xena@example.com")
    for account in (a, b):
        await env.call(
            "POST", "/admin/api/auth/credentials", {"refreshToken": account.refresh_token}
        )
    first_id = env.runtime.pool.all()[0].id
    exported = await env.call("POST", "/admin/api/export", {"ids": [first_id]})
    assert exported.headers["x-contains-secrets"] == "true"
    document = exported.json()
    assert document["containsSecrets"] is True and len(document["accounts"]) == 1
    everything = (await env.call("POST", "/admin/api/export", {})).json()
    assert len(everything["accounts"]) == 2

    reimport = await env.call("POST", "/admin/api/auth/credentials", everything)
    assert reimport.status_code == 200
    assert [i["account"]["created"] for i in reimport.json()["items"]] == [False, False]
    assert len(env.runtime.pool.all()) == 2
