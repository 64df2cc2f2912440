"""`kiro-proxy serve --workers 2` as a subprocess for the ops tests (test_serve_workers*.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from ops_harness import SimulatedUpstream, free_port, subprocess_env

API_KEY = "client-key-Workers-4410"
ADMIN_PASSWORD = "Admin-Workers-Pw-5512"


def read_log(path: Path) -> str:
    return path.read_text(errors="replace")


def gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or ") Z " in stat.read_text()


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


async def start_workers(
    upstream: SimulatedUpstream, tmp_path: Path, log_path: Path
) -> tuple[asyncio.subprocess.Process, str]:
    """The gateway with 2 workers, once /health answers and both workers exist."""
    port = free_port()
    env = subprocess_env(
        CONFIG_PATH=str(upstream.config_path),
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        API_KEY=API_KEY,
        REQUIRE_API_KEY="true",
        SHUTDOWN_GRACE_SECONDS="15",
        **upstream.url_env(),
    )
    with open(log_path, "wb") as log_file:  # noqa: ASYNC230 - a local file, opened once
        process = await asyncio.create_subprocess_exec(
            "kiro-proxy", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
            env=env, cwd=tmp_path, stdout=log_file, stderr=log_file,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline and process.returncode is None:
            try:
                if (await client.get(f"{base}/health", timeout=1)).status_code == 200:
                    if len(children(process.pid)) == 2:
                        return process, base
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    await process.wait()
    pytest.fail("the gateway did not start:\n" + read_log(log_path)[-3000:])


@contextlib.asynccontextmanager
async def running_workers(
    upstream: SimulatedUpstream, tmp_path: Path, log_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`start_workers`, and the parent killed on the way out if the test did not stop it."""
    process, base = await start_workers(upstream, tmp_path, log_path)
    try:
        yield process, base
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
