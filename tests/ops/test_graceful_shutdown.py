"""A real `kiro-proxy serve` process: SIGTERM lets an in-flight stream finish, the usage row of
every request is written, and the log of the whole run holds none of the secrets it used."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from ops_harness import SimulatedUpstream, free_port, subprocess_env

from kiro_proxy.simulator.script import Metadata, Metering, Reply, Sleep, Text

ADMIN_PASSWORD = "Admin-Drain-Pw-7731"
API_KEY = "client-key-Drain-5521"
STREAM_SECONDS = 2.0
MESSAGE = {
    "model": "claude-sonnet-4.5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


async def _start(
    upstream: SimulatedUpstream, tmp_path: Path, log_path: Path, *, grace: float = 15
) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = subprocess_env(
        CONFIG_PATH=str(upstream.config_path),
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        API_KEY=API_KEY,
        REQUIRE_API_KEY="true",
        SHUTDOWN_GRACE_SECONDS=str(grace),
        LOG_LEVEL="DEBUG",  # the most talkative level: secrets must stay out even here
        LOG_FORMAT="json",
        **upstream.url_env(),
    )
    log_file = open(log_path, "wb")  # noqa: ASYNC230 - a local file, opened once
    process = await asyncio.create_subprocess_exec(
        "kiro-proxy", "serve", "--host", "127.0.0.1", "--port", str(port),
        env=env, cwd=tmp_path, stdout=log_file, stderr=log_file,
    )  # fmt: skip
    log_file.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            try:
                if (await client.get(f"{base}/health", timeout=1)).status_code == 200:
                    return process, base
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    process.kill()
    await process.wait()
    pytest.fail("the gateway did not start:\n" + _read(log_path)[-3000:])


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def _usage_rows(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "kiro-proxy.db") as db:
        return list(db.execute("select route, status from usage_records"))


async def test_sigterm_drains_the_stream_in_flight_and_leaks_no_secret(
    upstream: SimulatedUpstream, tmp_path: Path
) -> None:
    log_path = tmp_path / "gateway.log"
    process, base = await _start(upstream, tmp_path, log_path)
    headers = {"x-api-key": API_KEY}
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            plain = await client.post("/v1/messages", json=MESSAGE)
            assert plain.status_code == 200, plain.text
            denied = await client.post(
                "/v1/messages", json=MESSAGE, headers={"x-api-key": "wrong-Key-0000"}
            )
            assert denied.status_code == 401
            # The admin panel's secrets: the password (a wrong one too), the session and CSRF.
            wrong = await client.post("/admin/api/login", json={"password": "Wrong-Admin-Pw-99"})
            assert wrong.status_code == 401
            login = await client.post("/admin/api/login", json={"password": ADMIN_PASSWORD})
            assert login.status_code == 200, login.text
            admin_secrets = [login.json()["csrfToken"], *login.cookies.values()]
            assert admin_secrets[1:], "the login set no session cookie"
            upstream.simulator.state.enqueue(
                Reply(
                    [
                        Text("first half, "),
                        Sleep(STREAM_SECONDS),
                        Text("second half after SIGTERM"),
                        Metering(0.02),
                        Metadata(uncached_input_tokens=12, output_tokens=9),
                    ]
                )
            )
            body = b""
            async with client.stream(
                "POST", "/v1/messages", json={**MESSAGE, "stream": True}
            ) as response:
                assert response.status_code == 200
                chunks = response.aiter_bytes()
                while b"first half" not in body:
                    body += await anext(chunks)
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                async for chunk in chunks:
                    body += chunk
        assert b"second half after SIGTERM" in body
        assert b"message_stop" in body
        await asyncio.wait_for(process.wait(), timeout=15)
        assert time.monotonic() - signalled < STREAM_SECONDS + 5
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    log_text = _read(log_path)
    # Every request's usage row reached the database, the drained stream's included.
    rows = _usage_rows(upstream.config_path.parent)
    assert sorted(status for _, status in rows) == ["success", "success"], (rows, log_text[-2000:])
    # One log line per request, with its request id.
    assert log_text.count('"logger":"kiro_proxy.access"') >= 4
    # No secret used during the run appears anywhere in the log.
    secrets = [
        ADMIN_PASSWORD,
        "Wrong-Admin-Pw-99",
        API_KEY,
        "wrong-Key-0000",
        *admin_secrets,
        *upstream.secrets(),
    ]
    assert len(upstream.secrets()) >= 2  # a refresh token and at least one issued access token
    leaked = [s[:6] + "…" for s in secrets if s in log_text]
    assert not leaked, f"secrets found in the log: {leaked}"


async def test_a_stream_longer_than_the_grace_period_is_cut_and_still_recorded(
    upstream: SimulatedUpstream, tmp_path: Path
) -> None:
    log_path = tmp_path / "gateway.log"
    process, base = await _start(upstream, tmp_path, log_path, grace=1)
    upstream.simulator.state.enqueue(
        Reply([Text("started, "), Sleep(30), Text("never sent"), Metadata(output_tokens=3)])
    )
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"x-api-key": API_KEY}, timeout=30
        ) as client:
            body = b""
            async with client.stream(
                "POST", "/v1/messages", json={**MESSAGE, "stream": True}
            ) as response:
                chunks = response.aiter_bytes()
                while b"started" not in body:
                    body += await anext(chunks)
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):
                    async for chunk in chunks:
                        body += chunk
        await asyncio.wait_for(process.wait(), timeout=15)
        assert time.monotonic() - signalled < 8  # the grace period, not the 30 s stream
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert b"never sent" not in body
    log_text = _read(log_path)
    assert "draining 1 request(s) in flight for up to 1 s" in log_text
    # The cut stream still has its usage row: nothing is lost on the way out.
    assert [status for _, status in _usage_rows(upstream.config_path.parent)] == ["cancelled"], (
        log_text[-2000:]
    )
