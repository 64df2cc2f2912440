"""Accounts routes against a real runtime and the simulator."""

from __future__ import annotations

from admin_helpers import AdminEnv


async def test_list_shows_state_and_never_secrets(logged_in: AdminEnv) -> None:
    account = await logged_in.add_sim_account("alice@example.com")
    response = await logged_in.http.get("/admin/api/accounts")
    assert response.status_code == 200
    (item,) = response.json()["accounts"]
    assert item["id"] == account.id and item["email"] == "alice@example.com"
    assert item["state"] == {"state": "healthy"}
    assert item["hasRefreshToken"] is True
    assert account.refresh_token not in response.text
    assert account.access_token not in response.text


async def test_disable_enable_rename_weight_proxy(logged_in: AdminEnv) -> None:
    account = await logged_in.add_sim_account("bob@example.com")
    url = f"/admin/api/accounts/{account.id}"
    off = await logged_in.call("PUT", url, {"enabled": False})
    assert off.status_code == 200
    state = off.json()["account"]["state"]
    assert state["state"] == "disabled" and "admin" in state["reason"]
    assert logged_in.runtime.pool.select() is None
    on = await logged_in.call("PUT", url, {"enabled": True})
    assert on.json()["account"]["state"] == {"state": "healthy"}
    assert logged_in.runtime.pool.select() is account

    renamed = await logged_in.call("PUT", url, {"nickname": "  work  ", "weight": 5})
    assert renamed.json()["account"]["nickname"] == "work"
    assert renamed.json()["account"]["weight"] == 5
    stored = await logged_in.runtime.accounts.get(account.id)
    assert stored is not None and stored.nickname == "work" and stored.weight == 5

    proxied = await logged_in.call("PUT", url, {"proxyUrl": "socks5://user:secret@10.0.0.1:1080"})
    assert proxied.status_code == 200
    assert proxied.json()["account"]["proxyUrl"] == "socks5://***@10.0.0.1:1080"
    assert "secret" not in proxied.text
    assert logged_in.runtime.tokens.proxy_for(account) == "socks5://user:secret@10.0.0.1:1080"
    bad = await logged_in.call("PUT", url, {"proxyUrl": "ftp://x"})
    assert bad.status_code == 400
    cleared = await logged_in.call("PUT", url, {"clearProxy": True})
    assert cleared.json()["account"]["proxyUrl"] is None
    assert (await logged_in.call("PUT", url, {})).status_code == 400


async def test_refresh_models_and_delete(logged_in: AdminEnv) -> None:
    account = await logged_in.add_sim_account(
        "carol@example.com", subscription="PRO", usage_limit=1000
    )
    old_token = account.access_token
    refreshed = await logged_in.call("POST", f"/admin/api/accounts/{account.id}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()["account"]
    assert body["usageLimit"] == 1000 and body["subscriptionType"]
    assert account.access_token != old_token

    models = await logged_in.http.get(f"/admin/api/accounts/{account.id}/models")
    assert models.status_code == 200
    ids = [m["id"] for m in models.json()["models"]]
    assert "claude-sonnet-4.5" in ids

    deleted = await logged_in.call("DELETE", f"/admin/api/accounts/{account.id}")
    assert deleted.status_code == 200
    assert await logged_in.runtime.accounts.get(account.id) is None
    assert (await logged_in.call("DELETE", f"/admin/api/accounts/{account.id}")).status_code == 404
    assert (await logged_in.http.get(f"/admin/api/accounts/{account.id}/models")).status_code == 404


async def test_refresh_with_a_dead_refresh_token_says_so(logged_in: AdminEnv) -> None:
    account = await logged_in.add_sim_account("dave@example.com")
    sim_account = logged_in.sim.state.accounts["dave@example.com"]
    logged_in.sim.state.revoke_refresh_token(sim_account)
    response = await logged_in.call("POST", f"/admin/api/accounts/{account.id}/refresh")
    assert response.status_code == 502
    assert "re-login" in response.json()["error"]["message"]
    assert account.refresh_token not in response.text
