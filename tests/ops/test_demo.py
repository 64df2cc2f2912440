"""`kiro-proxy demo` as a user runs it: a subprocess that answers the snippets it prints."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from ops_harness import free_port, subprocess_env

from kiro_proxy.demo import DEMO_API_KEY, DEMO_MODEL


def _wait_ready(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    process.wait()
    pytest.fail("the demo did not become ready:\n" + log_path.read_text(errors="replace")[-3000:])


def test_demo_answers_the_requests_it_advertises(tmp_path: Path) -> None:
    port, simulator_port = free_port(), free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            ["kiro-proxy", "demo", "--port", str(port), "--simulator-port", str(simulator_port)],
            env=subprocess_env(),
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log_path)
        # The curl snippet, as httpx.
        anthropic = httpx.post(
            f"{base}/v1/messages",
            headers={"x-api-key": DEMO_API_KEY, "anthropic-version": "2023-06-01"},
            json={
                "model": DEMO_MODEL,
                "max_tokens": 256,
                "messages": [{"role": "user", "content": "Hello"}],
            },
            timeout=30,
        )
        assert anthropic.status_code == 200, anthropic.text
        reply = anthropic.json()
        assert reply["type"] == "message" and reply["content"][0]["text"]
        openai = httpx.post(
            f"{base}/v1/chat/completions",
            headers={"authorization": f"Bearer {DEMO_API_KEY}"},
            json={"model": DEMO_MODEL, "messages": [{"role": "user", "content": "Hello"}]},
            timeout=30,
        )
        assert openai.status_code == 200, openai.text
        assert openai.json()["choices"][0]["message"]["content"]
        responses = httpx.post(
            f"{base}/v1/responses",
            headers={"authorization": f"Bearer {DEMO_API_KEY}"},
            json={"model": DEMO_MODEL, "input": "Hello"},
            timeout=30,
        )
        assert responses.status_code == 200, responses.text
        assert responses.json()["output"][0]["content"][0]["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output = log_path.read_text(errors="replace")
    assert process.returncode == 0, output[-3000:]
    for snippet in (
        f"curl {base}/v1/messages",
        f"curl {base}/v1/responses",
        f'OpenAI(base_url="{base}/v1"',
        f'anthropic.Anthropic(base_url="{base}"',
        f"ANTHROPIC_BASE_URL={base}",
        "claude",
    ):
        assert snippet in output, snippet
