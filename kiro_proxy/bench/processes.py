"""The processes a benchmark run drives: the simulator, the gateway (a real `kiro-proxy serve`
on loopback), and load-generator runs. Each is its own OS process, so none shares an event loop
with another, as in a deployment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import orjson

from kiro_proxy.bench.loadgen import LoadSpec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@dataclass
class SimulatorProcess:
    """`url`: the aiohttp simulator (every endpoint); `generate_url`: its lean generate server."""

    process: subprocess.Popen[bytes]
    url: str
    generate_url: str
    accounts: list[dict[str, Any]]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def generate_port(self) -> int:
        return int(self.generate_url.rsplit(":", 1)[1])

    @classmethod
    def start(cls, accounts: int, *, background: bool = True) -> SimulatorProcess:
        args = ["--accounts", str(accounts), *(["--background"] if background else [])]
        process = subprocess.Popen(
            _python_module("kiro_proxy.bench.sim_process", *args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise RuntimeError("the simulator process exited before it was listening")
        data = orjson.loads(line)
        return cls(process, data["url"], data["generate_url"], data["accounts"])

    async def control(self, path: str, body: dict[str, Any]) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, data=orjson.dumps(body)) as response,
        ):
            if response.status != 200:
                raise RuntimeError(f"simulator {path}: {response.status} {await response.text()}")

    async def always(self, script: dict[str, Any] | None) -> None:
        """Every generate call answers with `script` (a scripted_to_json dict)."""
        await self.control("/_sim/always", {"script": script})

    def stop(self) -> None:
        _stop(self.process)


def gateway_environment(sim: SimulatorProcess, data_dir: Path, workers: int) -> dict[str, str]:
    """The gateway's settings for a benchmark run against `sim`."""
    return {
        "CONFIG_PATH": str(data_dir / "config.json"),
        "DATA_DIR": str(data_dir),
        # Generate calls go to the CodeWhisperer endpoint first: the lean server takes them.
        # The Q endpoint also serves getUsageLimits and ListAvailableModels, which only the
        # aiohttp simulator answers (it also takes a generate call retried there).
        "KIRO_API_URL": sim.url,
        "KIRO_CODEWHISPERER_URL": sim.generate_url,
        "KIRO_AUTH_URL": sim.url,
        "KIRO_OIDC_URL": sim.url,
        "KIRO_PORTAL_URL": sim.url,
        "WORKERS": str(workers),
        "SHUTDOWN_GRACE_SECONDS": "1",
    }


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: IO[bytes]
    extra_pids: list[int] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        """The serving processes: the server itself, or its workers when it runs several."""
        return self.extra_pids or [self.process.pid]

    @classmethod
    def start(
        cls,
        sim: SimulatorProcess,
        data_dir: Path,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> GatewayProcess:
        data_dir.mkdir(parents=True, exist_ok=True)
        config_path = data_dir / "config.json"
        config_path.write_bytes(orjson.dumps({"accounts": sim.accounts}))
        port = free_port()
        environment = {**os.environ, **gateway_environment(sim, data_dir, workers), **(env or {})}
        log = (data_dir / "gateway.log").open("wb")
        process = subprocess.Popen(
            _python_module("kiro_proxy.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return cls(process, port, data_dir, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the gateway exited; see {self.data_dir / 'gateway.log'}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.url + "/health") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the gateway did not start within {within:.0f} s")
        self.extra_pids = _children(self.process.pid)

    def stop(self) -> None:
        _stop(self.process)
        self.log.close()


def _children(pid: int) -> list[int]:
    """Worker processes of a multi-process server (empty when it serves by itself)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


async def run_load(spec: LoadSpec) -> dict[str, Any]:
    """One load-generator process for one measurement; returns its JSON result."""
    proc = await asyncio.create_subprocess_exec(
        *_python_module("kiro_proxy.bench.loadgen"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(orjson.dumps(spec.to_json()) + b"\n")
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"load generator failed (exit {proc.returncode})")
    return orjson.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


class HeldStreams:
    """A load generator holding many open streams until `release`."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self._proc: asyncio.subprocess.Process | None = None

    async def open(self) -> dict[str, Any]:
        self._proc = await asyncio.create_subprocess_exec(
            *_python_module("kiro_proxy.bench.loadgen"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(orjson.dumps(self.spec.to_json()) + b"\n")
        await self._proc.stdin.drain()
        line = await self._proc.stdout.readline()
        if not line:
            raise RuntimeError("load generator (hold) exited before its streams were open")
        return orjson.loads(line)  # type: ignore[no-any-return]

    async def release(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        out, _ = await self._proc.communicate(b"release\n")
        return orjson.loads(out.strip().splitlines()[-1]) if out.strip() else {}
