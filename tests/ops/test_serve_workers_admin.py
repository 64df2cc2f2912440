"""The admin panel under `kiro-proxy serve --workers 2`: one login holds on both workers, a
logout is honoured by both, wrong passwords are throttled across both, and a settings change
made through one worker is seen through the other.

Every call opens a new connection, which the supervisor deals to the workers in turn
(kiro_proxy/connection_handoff.py); the first 16 hex digits of the `x-request-id` response
header are a per-process prefix, which shows that both workers answered.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from ops_harness import SimulatedUpstream
from workers_harness import ADMIN_PASSWORD, read_log, running_workers

from kiro_proxy.admin.session import SESSION_CACHE_SECONDS, SESSION_COOKIE
from kiro_proxy.admin.throttle import FREE_FAILURES

CALLS = 30


def _worker_of(response: httpx.Response) -> str:
    return response.headers["x-request-id"][:16]


async def _call(
    base: str, method: str, path: str, token: str = "", csrf: str = "", body: Any = None
) -> httpx.Response:
    # A client per call: a new connection, dealt to the next worker.
    cookies = {SESSION_COOKIE: token} if token else None
    headers = {"x-csrf-token": csrf} if csrf else None
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=30) as client:
        return await client.request(method, path, json=body, headers=headers)


async def _from_both_workers(base: str, path: str, token: str = "") -> list[httpx.Response]:
    """GET `path` on new connections until both workers have answered (at least CALLS times)."""
    responses: list[httpx.Response] = []
    while len(responses) < CALLS or len({_worker_of(r) for r in responses}) < 2:
        responses.append(await _call(base, "GET", path, token))
        assert len(responses) < 400, "only one worker ever answered"
    return responses


async def test_admin_panel_with_two_workers(upstream: SimulatedUpstream, tmp_path: Path) -> None:
    log_path = tmp_path / "gateway.log"
    async with running_workers(upstream, tmp_path, log_path) as (process, base):
        # One login, then every admin call succeeds on whichever worker answers.
        login = await _call(base, "POST", "/admin/api/login", body={"password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        token, csrf = login.cookies[SESSION_COOKIE], login.json()["csrfToken"]
        calls = await _from_both_workers(base, "/admin/api/settings", token)
        assert [r.status_code for r in calls] == [200] * len(calls), read_log(log_path)[-3000:]
        probes = await _from_both_workers(base, "/admin/api/session", token)
        assert {r.json()["csrfToken"] for r in probes} == {csrf}

        # A settings change through one worker is seen through the other within ~1 s.
        changed = await _call(
            base, "PUT", "/admin/api/settings", token, csrf, {"thinkingSuffix": "-workers"}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["changed"] == ["thinkingSuffix"]
        deadline = time.monotonic() + 5
        while True:
            seen = await _from_both_workers(base, "/admin/api/settings", token)
            suffixes = {r.json()["thinkingSuffix"] for r in seen}
            if suffixes == {"-workers"}:
                break
            assert time.monotonic() < deadline, suffixes
            await asyncio.sleep(0.3)

        # Logout through one worker: within about a second neither worker knows the session.
        out = await _call(base, "POST", "/admin/api/logout", token, csrf)
        assert out.status_code == 200
        await asyncio.sleep(SESSION_CACHE_SECONDS + 0.2)
        after = await _from_both_workers(base, "/admin/api/settings", token)
        assert {r.status_code for r in after} == {401}

        # Wrong passwords count across both workers: after the free ones, every worker refuses
        # even the right password until the wait is over.
        for index in range(FREE_FAILURES + 1):
            wrong = await _call(base, "POST", "/admin/api/login", body={"password": f"no-{index}"})
            assert wrong.status_code == 401
        assert int(wrong.headers["retry-after"]) == 2
        refused: list[httpx.Response] = []
        while len({_worker_of(r) for r in refused}) < 2:
            refused.append(
                await _call(base, "POST", "/admin/api/login", body={"password": ADMIN_PASSWORD})
            )
            assert len(refused) < 100, "only one worker ever answered"
        assert {r.status_code for r in refused} == {429}
        await asyncio.sleep(2.1)
        again = await _call(base, "POST", "/admin/api/login", body={"password": ADMIN_PASSWORD})
        assert again.status_code == 200

        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=20)
        assert process.returncode == 0
