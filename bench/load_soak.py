"""Load soak: N concurrent streaming clients for S seconds against a real `kiro-proxy serve`
process whose upstream is the Kiro simulator injecting faults into a share of the requests.

    python bench/load_soak.py --clients 1000 --seconds 60 --fault-rate 0.05

The simulator and the load generator share this process (both are cheap); the gateway runs on
its own. At the end the gateway is stopped with SIGTERM (it drains and flushes its usage
writer), and the usage rows in its SQLite database are counted against the requests sent.
Prints progress every few seconds and a summary (requests by outcome, p50/p99 latency, the
gateway's RSS over time, usage rows by status). Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from kiro_proxy.bench.processes import free_port
from kiro_proxy.bench.stats import rss_bytes
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.script import (
    Benchmark,
    CorruptNext,
    Drop,
    ExceptionFrame,
    Reply,
    Scripted,
    Text,
    server_error,
)
from kiro_proxy.simulator.testing import kiro_go_account

MODEL = "claude-sonnet-4.5"
UPSTREAM_SETTINGS = ("KIRO_API_URL", "KIRO_CODEWHISPERER_URL", "KIRO_AUTH_URL", "KIRO_OIDC_URL")


@dataclass
class SoakReport:
    clients: int
    seconds: float
    fault_rate: float
    sent: int = 0
    outcomes: Counter[str] = field(
        default_factory=Counter
    )  # ok | error_event | http_<n> | transport
    latencies: list[float] = field(default_factory=list)
    rss_samples: list[int] = field(default_factory=list)
    usage_rows: Counter[str] = field(default_factory=Counter)
    gateway_exit: int | None = None
    faults_injected: int = 0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def peak_rss(self) -> int:
        return max(self.rss_samples, default=0)

    def problems(self) -> list[str]:
        found = []
        if self.gateway_exit != 0:
            found.append(f"gateway exit code {self.gateway_exit} (crash or unclean stop)")
        if self.outcomes["transport"]:
            found.append(f"{self.outcomes['transport']} requests failed at the transport level")
        rows = sum(self.usage_rows.values())
        if rows != self.sent:
            found.append(f"{self.sent} requests sent but {rows} usage rows written")
        if self.usage_rows["success"] != self.outcomes["ok"]:
            found.append(
                f"{self.outcomes['ok']} complete answers but {self.usage_rows['success']} success rows"
            )
        if len(self.rss_samples) >= 8:
            quarter = len(self.rss_samples) // 4
            early = max(self.rss_samples[quarter : 2 * quarter])
            late = max(self.rss_samples[-quarter:])
            if late > early * 1.25 + 32 * 1024 * 1024:
                found.append(f"memory grew from {early >> 20} MiB to {late >> 20} MiB")
        return found

    def summary(self) -> str:
        lines = [
            f"clients {self.clients}, {self.seconds:g} s, fault rate {self.fault_rate:.0%}",
            f"requests sent {self.sent} ({self.sent / self.seconds:.0f}/s), faults injected "
            f"{self.faults_injected}",
            "outcomes " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
            f"latency p50 {self.percentile(0.5) * 1000:.0f} ms, p99 {self.percentile(0.99) * 1000:.0f} ms",
            f"gateway RSS peak {self.peak_rss / 2**20:.0f} MiB "
            f"(first {self.rss_samples[0] / 2**20 if self.rss_samples else 0:.0f} MiB, "
            f"last {self.rss_samples[-1] / 2**20 if self.rss_samples else 0:.0f} MiB)",
            "usage rows "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.usage_rows.items()))
            + f" (total {sum(self.usage_rows.values())})",
            f"gateway exit code {self.gateway_exit}",
        ]
        problems = self.problems()
        lines.append("RESULT: OK" if not problems else "RESULT: FAILED: " + "; ".join(problems))
        return "\n".join(lines)


def _rss(pid: int) -> int:
    """The gateway's RSS, 0 once it has exited (the soak keeps sampling until its clients end)."""
    try:
        return rss_bytes(pid)
    except OSError:
        return 0


def _faults() -> list[Scripted]:
    partial = Text("partial ")
    return [
        server_error(500),
        server_error(503),
        Reply([ExceptionFrame("InternalServerException", "injected")]),
        Reply([Drop()]),
        Reply([partial, ExceptionFrame("InternalServerException", "injected mid-stream")]),
        Reply([partial, Drop()]),
        Reply([partial, CorruptNext(5), *(Text(c) for c in "abcdef")]),
    ]


async def _start_gateway(sim: RunningSimulator, accounts: int, workdir: Path) -> tuple[Any, str]:
    entries = [
        kiro_go_account(sim.state.add_account(f"soak{index}@example.com", usage_limit=float("inf")))
        for index in range(accounts)
    ]
    config = workdir / "config.json"
    config.write_bytes(orjson.dumps({"accounts": entries}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_", "CONFIG_PATH"))}
    env |= {name: sim.url for name in UPSTREAM_SETTINGS}
    env |= {
        "CONFIG_PATH": str(config),
        "ADMIN_PASSWORD": "soak-admin-password-1",
        "LOG_LEVEL": "WARNING",
        "FIRST_BYTE_TIMEOUT": "10",
        "IDLE_TIMEOUT": "10",
        "SHUTDOWN_GRACE_SECONDS": "20",
    }
    log = open(workdir / "gateway.log", "wb")  # noqa: ASYNC230 - opened once
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kiro_proxy.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        env=env, cwd=workdir, stdout=log, stderr=log,
    )  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if process.returncode is not None:
                break
            try:
                async with http.get(f"{base}/health") as response:
                    if response.status == 200:
                        return process, base
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("gateway did not start: " + (workdir / "gateway.log").read_text()[-2000:])


async def _client(
    index: int, http: aiohttp.ClientSession, base: str, deadline: float, report: SoakReport
) -> None:
    openai = index % 2 == 1
    path = "/v1/chat/completions" if openai else "/v1/messages"
    body: dict[str, Any] = {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": f"soak client {index}"}],
    }
    if not openai:
        body["max_tokens"] = 64
    payload = orjson.dumps(body)
    headers = {"content-type": "application/json"}
    while time.monotonic() < deadline:
        started = time.monotonic()
        report.sent += 1
        try:
            async with http.post(base + path, data=payload, headers=headers) as response:
                raw = await response.read()
            if response.status != 200:
                report.outcomes[f"http_{response.status}"] += 1
            elif b'"error"' in raw:
                report.outcomes["error_event"] += 1
            elif (b"message_stop" in raw) or (openai and raw.rstrip().endswith(b"[DONE]")):
                report.outcomes["ok"] += 1
            else:
                report.outcomes["incomplete"] += 1
        except (aiohttp.ClientError, TimeoutError, OSError):
            report.outcomes["transport"] += 1
        report.latencies.append(time.monotonic() - started)


def _usage_rows(db_path: Path) -> Counter[str]:
    with sqlite3.connect(db_path) as db:
        return Counter(
            dict(db.execute("select status, count(*) from usage_records group by status"))
        )


async def run_soak(
    *,
    clients: int,
    seconds: float,
    fault_rate: float,
    accounts: int = 200,
    chunks: int = 20,
    chunk_delay: float = 0.02,
    workdir: Path | None = None,
    progress: Any = print,
) -> SoakReport:
    report = SoakReport(clients=clients, seconds=seconds, fault_rate=fault_rate)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="kiro-soak-"))
    sim = await start_simulator()
    sim.state.record_bodies = False
    sim.state.requests = type(sim.state.requests)(maxlen=100)
    rng = random.Random(7)
    faults = _faults()
    stream = Benchmark(chunks=chunks, size=16, delay=chunk_delay)

    def responder(_body: dict[str, Any]) -> Scripted:
        if rng.random() < fault_rate:
            report.faults_injected += 1
            return rng.choice(faults)
        return stream

    sim.state.responder = responder
    process, base = await _start_gateway(sim, accounts, workdir)
    progress(f"gateway pid {process.pid} at {base}, simulator {sim.url}, data in {workdir}")
    try:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            started = time.monotonic()
            deadline = started + seconds
            tasks = [
                asyncio.create_task(_client(i, http, base, deadline, report))
                for i in range(clients)
            ]
            while not all(t.done() for t in tasks):
                await asyncio.wait(tasks, timeout=1.0)
                report.rss_samples.append(_rss(process.pid))
                if len(report.rss_samples) % 5 == 0:
                    progress(
                        f"t={time.monotonic() - started:5.1f}s sent {report.sent} "
                        f"ok {report.outcomes['ok']} rss {report.rss_samples[-1] >> 20} MiB"
                    )
            for task in tasks:
                task.result()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
        report.gateway_exit = process.returncode
        await sim.close()
    report.usage_rows = _usage_rows(workdir / "kiro-proxy.db")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--accounts", type=int, default=200)
    args = parser.parse_args()
    report = asyncio.run(
        run_soak(
            clients=args.clients,
            seconds=args.seconds,
            fault_rate=args.fault_rate,
            accounts=args.accounts,
        )
    )
    print(report.summary())
    return 0 if not report.problems() else 1


if __name__ == "__main__":
    sys.exit(main())
