"""API keys: created once and shown once, stored hashed, accepted by the gateway, revocable."""

from __future__ import annotations

import hashlib
import time

from admin_helpers import AdminEnv
from sqlalchemy import select

from kiro_proxy.pool.usage import UsageRow
from kiro_proxy.store.models import ApiKeyRow


async def test_create_list_verify_revoke(logged_in: AdminEnv) -> None:
    created = await logged_in.call("POST", "/admin/api/keys", {"name": "laptop"})
    assert created.status_code == 200
    key = created.json()["key"]
    key_id = created.json()["id"]
    assert len(key) > 30

    listed = await logged_in.http.get("/admin/api/keys")
    (item,) = listed.json()["keys"]
    assert item["name"] == "laptop" and key.startswith(item["prefix"])
    assert key not in listed.text and "keyHash" not in item

    async with logged_in.runtime.database.session() as session:
        row = await session.scalar(select(ApiKeyRow))
    assert row is not None and row.key_hash == hashlib.sha256(key.encode()).hexdigest()

    assert await logged_in.runtime.verify_api_key(key) == key_id
    assert await logged_in.runtime.verify_api_key(key + "x") is None

    revoked = await logged_in.call("DELETE", f"/admin/api/keys/{key_id}")
    assert revoked.status_code == 200
    assert await logged_in.runtime.verify_api_key(key) is None
    assert (await logged_in.call("DELETE", f"/admin/api/keys/{key_id}")).status_code == 404
    again = (await logged_in.http.get("/admin/api/keys")).json()["keys"][0]
    assert again["revokedAt"] is not None


async def test_name_required_and_usage_per_key(logged_in: AdminEnv) -> None:
    assert (await logged_in.call("POST", "/admin/api/keys", {"name": "  "})).status_code == 400
    key_id = (await logged_in.call("POST", "/admin/api/keys", {"name": "ci"})).json()["id"]
    now = time.time()
    rows = [
        UsageRow(now, f"r{i}", None, key_id, "/v1/messages", "claude-sonnet-4.5", False,
                 "success", 10, 5, 0.1, 100, 20, None)
        for i in range(3)
    ]  # fmt: skip
    await logged_in.runtime.usage.insert_batch(rows)
    (item,) = (await logged_in.http.get("/admin/api/keys")).json()["keys"]
    assert item["requestCount"] == 3
    assert item["inputTokens"] == 30 and item["outputTokens"] == 15
    assert item["lastUsedAt"] is not None
