"""Dashboard overview and time series, and the request log, over known usage rows."""

from __future__ import annotations

import time

from admin_helpers import AdminEnv

from kiro_proxy.admin.usage_queries import SeriesQuery, bucket_starts
from kiro_proxy.pool.usage import UsageRow


def row(t: float, account: str | None, model: str, status: str = "success", key: str | None = None,
        tokens: tuple[int, int] = (10, 5)) -> UsageRow:  # fmt: skip
    return UsageRow(t, f"req-{t}", account, key, "/v1/messages", model, True, status,
                    tokens[0], tokens[1], 0.5, 120, 30, None if status == "success" else "upstream")  # fmt: skip


def test_bucket_starts_follow_the_viewers_day() -> None:
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    utc8 = bucket_starts(SeriesQuery("day", "none", 2, 8 * 3600, now))
    assert utc8[1] == 1_800_000_000 - 8 * 3600 + 8 * 3600 - (1_800_000_000 + 8 * 3600) % 86400
    assert utc8[1] - utc8[0] == 86400
    hours = bucket_starts(SeriesQuery("hour", "none", 3, 0, now + 59))
    assert hours == [now - 7200, now - 3600, now]


async def test_overview_matches_the_database(logged_in: AdminEnv) -> None:
    a = await logged_in.add_sim_account("a@example.com")
    b = await logged_in.add_sim_account("b@example.com")
    await logged_in.call("PUT", f"/admin/api/accounts/{b.id}", {"enabled": False})
    now = time.time()
    rows = [
        row(now - 60, a.id, "claude-sonnet-4.5"),
        row(now - 30, a.id, "claude-haiku-4.5", "error"),
    ]
    for r in rows:
        logged_in.runtime.recorder.record(r)
    await logged_in.runtime.recorder.flush()
    body = (await logged_in.http.get("/admin/api/overview")).json()
    assert body["accounts"]["total"] == 2 and body["accounts"]["available"] == 1
    assert body["accounts"]["disabled"] == 1 and body["accounts"]["healthy"] == 1
    assert body["totals"] == {
        "requests": 2,
        "success": 1,
        "failed": 1,
        "tokens": 30,
        "credits": 1.0,
    }
    assert body["logged"] == {"requests": 2, "success": 1, "tokens": 30, "credits": 1.0}
    assert body["lastDay"]["requests"] == 2


async def test_series_by_model_and_account(logged_in: AdminEnv) -> None:
    a = await logged_in.add_sim_account("a@example.com")
    hour = 3600
    now = time.time()
    current = int(now) // hour * hour
    rows = [
        row(current + 1, a.id, "m1"),
        row(current + 2, a.id, "m1"),
        row(current - hour + 5, a.id, "m2", tokens=(100, 0)),
        row(current - 30 * hour, a.id, "m1"),  # outside a 24-hour window
    ]
    await logged_in.runtime.usage.insert_batch(rows)
    by_model = (
        await logged_in.http.get("/admin/api/stats/series?bucket=hour&by=model&count=24")
    ).json()
    assert by_model["starts"][-1] == current and len(by_model["starts"]) == 24
    series = {s["key"]: s for s in by_model["series"]}
    assert series["m1"]["requests"][-1] == 2 and sum(series["m1"]["requests"]) == 2
    assert series["m2"]["tokens"][-2] == 100
    assert by_model["totals"]["requests"][-1] == 2 and by_model["totals"]["requests"][-2] == 1
    by_account = (
        await logged_in.http.get("/admin/api/stats/series?bucket=day&by=account&count=7")
    ).json()
    (only,) = by_account["series"]
    assert only["label"] == "a@example.com" and only["isEmail"] is True
    assert sum(only["requests"]) >= 3


async def test_request_log_filters_and_details(logged_in: AdminEnv) -> None:
    a = await logged_in.add_sim_account("a@example.com")
    b = await logged_in.add_sim_account("b@example.com")
    key_id = (await logged_in.call("POST", "/admin/api/keys", {"name": "ci"})).json()["id"]
    now = time.time()
    await logged_in.runtime.usage.insert_batch(
        [
            row(now - 5, a.id, "m1", key=key_id),
            row(now - 4, b.id, "m2", status="error"),
            row(now - 3, a.id, "m2"),
        ]
    )
    everything = (await logged_in.http.get("/admin/api/requests")).json()
    assert [r["model"] for r in everything["requests"]] == ["m2", "m2", "m1"]
    assert everything["models"] == ["m1", "m2"]
    by_account = (await logged_in.http.get(f"/admin/api/requests?account={a.id}")).json()[
        "requests"
    ]
    assert {r["accountLabel"] for r in by_account} == {"a@example.com"} and len(by_account) == 2
    by_key = (await logged_in.http.get(f"/admin/api/requests?key={key_id}")).json()["requests"]
    assert len(by_key) == 1 and by_key[0]["apiKeyName"] == "ci"
    errors = (await logged_in.http.get("/admin/api/requests?status=error")).json()["requests"]
    assert len(errors) == 1 and errors[0]["errorKind"] == "upstream"
    m2 = (await logged_in.http.get("/admin/api/requests?model=m2&limit=1")).json()
    assert len(m2["requests"]) == 1 and m2["nextBefore"] is not None
    older = (
        await logged_in.http.get(f"/admin/api/requests?model=m2&before={m2['nextBefore']}")
    ).json()
    assert len(older["requests"]) == 1 and older["requests"][0]["status"] == "error"
    detail = (await logged_in.http.get(f"/admin/api/requests/{errors[0]['id']}")).json()
    assert detail["accountLabel"] == "b@example.com" and detail["latencyMs"] == 120
    assert (await logged_in.http.get("/admin/api/requests/999999")).status_code == 404
