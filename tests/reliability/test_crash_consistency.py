"""SIGKILL of a real `kiro-proxy serve` in the middle of a burst of account imports (admin API)
and usage writes: the SQLite database (WAL) is consistent on restart — integrity_check passes,
every account the API reported as created is there with its encrypted secrets, no usage row is
half-written — and the gateway starts on it and serves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.script import Benchmark
from tests.e2e.stack import free_port

ADMIN_PASSWORD = "Crash-Admin-Pw-5512"
UPSTREAM = ("KIRO_API_URL", "KIRO_CODEWHISPERER_URL", "KIRO_AUTH_URL", "KIRO_OIDC_URL")


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    simulator = await start_simulator()
    simulator.state.set_always(Benchmark(chunks=10, size=16, delay=0.01))
    try:
        yield simulator
    finally:
        await simulator.close()


async def _serve(sim: RunningSimulator, data: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_", "CONFIG_PATH"))}
    env |= {name: sim.url for name in UPSTREAM}
    env |= {"CONFIG_PATH": str(data / "config.json"), "ADMIN_PASSWORD": ADMIN_PASSWORD}
    log = open(data / "gateway.log", "ab")  # noqa: ASYNC230 - opened once
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kiro_proxy.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        env=env, cwd=data, stdout=log, stderr=log,
    )  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if process.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/health", timeout=1)).status_code == 200:
                    return process, base
            await asyncio.sleep(0.1)
    process.kill()
    await process.wait()
    pytest.fail("gateway did not start: " + (data / "gateway.log").read_text()[-2000:])


async def _admin(http: httpx.AsyncClient) -> dict[str, str]:
    login = await http.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    return {"x-csrf-token": login.json()["csrfToken"]}


def _usage_count(path: Path) -> int:
    with sqlite3.connect(path, timeout=5) as db:
        return int(db.execute("select count(*) from usage_records").fetchone()[0])


def _check_database(path: Path) -> tuple[set[str], int]:
    with sqlite3.connect(path) as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert db.execute("pragma foreign_key_check").fetchall() == []
        accounts = db.execute(
            "select id, refresh_token_enc, auth_method, region from accounts"
        ).fetchall()
        for account_id, refresh_enc, auth_method, region in accounts:
            assert refresh_enc and auth_method and region, account_id  # no half-written row
        usage = db.execute(
            "select request_id, route, model, status, latency_ms from usage_records"
        ).fetchall()
        for row in usage:
            assert all(value is not None for value in row), row
            assert row[3] in ("success", "error", "cancelled"), row
    return {a[0] for a in accounts}, len(usage)


async def test_sigkill_during_imports_and_usage_writes_leaves_a_consistent_database(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    seed = sim.state.add_account("seed@example.com")
    (tmp_path / "config.json").write_bytes(
        orjson.dumps({"accounts": [{"id": "seed", "refreshToken": seed.refresh_token}]})
    )
    process, base = await _serve(sim, tmp_path)
    created: list[str] = []
    stop = asyncio.Event()

    async def importer(http: httpx.AsyncClient, headers: dict[str, str], worker: int) -> None:
        for index in range(1000):
            if stop.is_set():
                return
            account = sim.state.add_account(f"burst{worker}-{index}@example.com")
            with contextlib.suppress(httpx.HTTPError):
                response = await http.post(
                    "/admin/api/auth/credentials",
                    headers=headers,
                    json={"refreshToken": account.refresh_token, "authMethod": "social"},
                )
                if response.status_code == 200 and response.json().get("success"):
                    body: dict[str, Any] = response.json()["account"]
                    created.append(str(body["id"]))

    async def requester(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await http.post(
                    "/v1/messages",
                    json={
                        "model": "claude-sonnet-4.5",
                        "max_tokens": 16,
                        "stream": True,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                )

    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            headers = await _admin(http)
            workers = [asyncio.create_task(importer(http, headers, w)) for w in range(4)]
            workers += [asyncio.create_task(requester(http)) for _ in range(8)]
            # Wait for the burst to be under way (long deadline: a loaded CI machine is slow,
            # and killing before any usage batch landed would test nothing).
            deadline = time.monotonic() + 90
            db_path = tmp_path / "kiro-proxy.db"
            burst_under_way = False
            while time.monotonic() < deadline:
                if len(created) >= 20 and await asyncio.to_thread(_usage_count, db_path) >= 10:
                    burst_under_way = True
                    break
                await asyncio.sleep(0.05)
            assert burst_under_way, (
                f"the burst never got going: {len(created)} imports, "
                f"{await asyncio.to_thread(_usage_count, db_path)} usage rows after 90 s"
            )
            # Mid-burst: imports and usage batches are in flight right now.
            process.send_signal(signal.SIGKILL)
            await process.wait()
            stop.set()
            await asyncio.gather(*workers, return_exceptions=True)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(created) >= 20, f"only {len(created)} imports before the kill"

    stored, usage_rows = _check_database(tmp_path / "kiro-proxy.db")
    lost = set(created) - stored
    assert not lost, f"{len(lost)} accounts reported as created are missing after the crash"
    assert usage_rows > 0

    # The gateway starts on the crashed database and serves with an imported account.
    process, base = await _serve(sim, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            headers = await _admin(http)
            listed = await http.get("/admin/api/accounts", headers=headers)
            assert listed.status_code == 200
            assert set(created) <= {str(a["id"]) for a in listed.json()["accounts"]}
            answer = await http.post(
                "/v1/messages",
                json={
                    "model": "claude-sonnet-4.5",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": "after the crash"}],
                },
            )
            assert answer.status_code == 200, answer.text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
    _check_database(tmp_path / "kiro-proxy.db")
