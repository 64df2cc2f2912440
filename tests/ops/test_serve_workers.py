"""`kiro-proxy serve --workers 2`: two real worker processes on one port, sharing the pool.

The account starts without an access token and the simulator rotates refresh tokens: both
workers want a token at once, and only the database lock keeps the second from spending the
rotated refresh token (which would disable the account). Every request gets exactly one usage
row and one count, whichever worker answered it, and SIGTERM drains both workers.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import httpx
from ops_harness import SimulatedUpstream
from workers_harness import API_KEY, children, gone, read_log, running_workers

from kiro_proxy.simulator.script import Metadata, Reply, Sleep, Text

MESSAGE = {
    "model": "claude-sonnet-4.5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
REQUESTS = 60


async def _ask(base: str, stream: bool) -> None:
    # A client per request: new connections, so that both workers get some.
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": API_KEY}, timeout=30) as c:
        response = await c.post("/v1/messages", json={**MESSAGE, "stream": stream})
        assert response.status_code == 200, response.text


async def _stats(base: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": API_KEY}) as client:
        response = await client.get("/v1/stats")
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]


async def test_two_workers_share_the_pool_count_once_and_drain(
    upstream: SimulatedUpstream, tmp_path: Path
) -> None:
    state = upstream.simulator.state
    state.rotate_refresh_tokens = True
    log_path = tmp_path / "gateway.log"
    async with running_workers(upstream, tmp_path, log_path) as (process, base):
        workers = children(process.pid)
        await asyncio.gather(*(_ask(base, stream=i % 2 == 0) for i in range(REQUESTS)))
        # Both workers needed a token; one refresh was made, the other worker adopted it.
        assert state.refresh_calls == 1, read_log(log_path)[-3000:]
        # Every worker's /v1/stats converges on the total of both (shared within ~1 s).
        deadline = time.monotonic() + 10
        while True:
            seen = [await _stats(base) for _ in range(6)]
            if all(s["totalRequests"] == REQUESTS for s in seen):
                break
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.3)
        assert all(s["available"] == 1 for s in seen)

        # SIGTERM to the parent: a stream in flight in a worker still finishes.
        state.enqueue(
            Reply([Text("before, "), Sleep(1.5), Text("after"), Metadata(output_tokens=2)])
        )
        async with (
            httpx.AsyncClient(base_url=base, headers={"x-api-key": API_KEY}, timeout=30) as c,
            c.stream("POST", "/v1/messages", json={**MESSAGE, "stream": True}) as response,
        ):
            body = b""
            chunks = response.aiter_bytes()
            while b"before" not in body:
                body += await anext(chunks)
            process.send_signal(signal.SIGTERM)
            async for chunk in chunks:
                body += chunk
        assert b"after" in body and b"message_stop" in body
        await asyncio.wait_for(process.wait(), timeout=20)
        assert process.returncode == 0
    assert all(gone(pid) for pid in workers)

    db_path = upstream.config_path.parent / "kiro-proxy.db"
    with sqlite3.connect(db_path) as db:
        rows = db.execute("select request_id, status from usage_records").fetchall()
        account = db.execute(
            "select request_count, success_count, enabled, disabled_reason from accounts"
        ).fetchall()
        totals = db.execute("select value from settings_kv where key = 'stats.totals'").fetchone()
    # Exactly one usage row per request (no loss, no double), counters added up across workers.
    assert len(rows) == REQUESTS + 1 and len({r for r, _ in rows}) == REQUESTS + 1
    assert {s for _, s in rows} == {"success"}
    assert account == [(REQUESTS + 1, REQUESTS + 1, 1, None)]
    assert totals is not None and f'"totalRequests":{REQUESTS + 1}' in totals[0]


def _established_on(port: int, pid: int) -> int:
    """How many of `pid`'s sockets are established connections to local `port`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
            count += 1
    return count


async def test_keep_alive_connections_are_shared_evenly(
    upstream: SimulatedUpstream, tmp_path: Path
) -> None:
    """Connections opened at once are dealt round-robin, not taken by whichever worker wakes
    first: each of the 2 workers serves 4 of 8 keep-alive connections."""
    async with running_workers(upstream, tmp_path, tmp_path / "gateway.log") as (process, base):
        port = int(base.rsplit(":", 1)[1])
        workers = children(process.pid)
        clients = [httpx.AsyncClient(base_url=base, timeout=30) for _ in range(8)]
        try:
            await asyncio.gather(*(c.get("/health") for c in clients))
            assert sorted(_established_on(port, pid) for pid in workers) == [4, 4]
        finally:
            for client in clients:
                await client.aclose()
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=20)
