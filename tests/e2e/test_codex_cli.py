"""The real Codex CLI, headless (`codex exec`), through /v1/responses: the simulator makes one
shell tool call that Codex runs, then answers from the command's output.

Codex is pointed at the gateway by a temporary CODEX_HOME with a custom model provider
(`wire_api = "responses"`) and kept offline: no update check, no analytics, no feedback, no
plugin or app sync (each of those reaches github.com or chatgpt.com otherwise). To prove it,
every proxy variable points at a local recorder that refuses and logs each connection attempt,
and the test asserts it saw none.

CI installs the CLI (`npm install -g @openai/codex`); the test fails when it is missing there,
and only skips on a developer machine without it.
"""

from __future__ import annotations

import os
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiro_proxy.simulator.script import Metadata, Reply, Scripted, Text, ToolUse
from tests.e2e.conftest import assert_all_valid, current_user_input, installed_cli
from tests.e2e.stack import LiveStack

MODEL = "claude-sonnet-4.5"
API_KEY_ENV = "KIRO_PROXY_KEY"
MARKER = "codex-ran-this-through-kiro"

CONFIG = """\
model = "{model}"
model_provider = "kiro"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
apps = false
remote_plugin = false

[model_providers.kiro]
name = "kiro-proxy"
base_url = "{base_url}/v1"
env_key = "{env_key}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""


class _RefusingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy that records the first line of every request (CONNECT host:port …) and
    refuses it: anything Codex tries to reach beyond the gateway shows up in `attempts`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.attempts: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().decode(errors="replace").strip()
        assert isinstance(self.server, _RefusingProxy)
        self.server.attempts.append(line)
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")


@pytest.fixture
def refusing_proxy() -> Iterator[_RefusingProxy]:
    proxy = _RefusingProxy()
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=5)


def _shell_call(tools: set[str], command: str) -> ToolUse | None:
    """Codex's shell tool: `exec_command` (unified exec) in current releases, `shell` before."""
    if "exec_command" in tools:
        return ToolUse("tooluse_shell", "exec_command", {"cmd": command}, fragments=2)
    if "shell" in tools:
        return ToolUse("tooluse_shell", "shell", {"command": ["bash", "-lc", command]}, fragments=2)
    return None


def make_responder(command: str) -> Any:
    def respond(body: dict[str, Any]) -> Scripted | None:
        current = current_user_input(body)
        context = current.get("userInputMessageContext", {})
        tools = {t["toolSpecification"]["name"] for t in context.get("tools", [])}
        results = {r["toolUseId"]: r for r in context.get("toolResults", [])}
        usage = Metadata(uncached_input_tokens=1200, output_tokens=12)
        if "tooluse_shell" in results:
            output = "".join(part.get("text", "") for part in results["tooluse_shell"]["content"])
            verdict = "printed the marker" if MARKER in output else "did not print the marker"
            return Reply([Text(f"Finished: the command {verdict}."), usage])
        call = _shell_call(tools, command)
        if call is not None:
            return Reply([Text("Running the command."), call, usage])
        return None

    return respond


def test_codex_exec_runs_a_tool_call_and_answers(
    stack: LiveStack, tmp_path: Path, refusing_proxy: _RefusingProxy
) -> None:
    codex = installed_cli("codex", "Codex CLI", "@openai/codex")
    work = tmp_path / "project"
    codex_home = tmp_path / "codex-home"
    work.mkdir()
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        CONFIG.format(model=MODEL, base_url=stack.url, env_key=API_KEY_ENV)
    )
    target = work / "note.txt"
    command = f"echo {MARKER} > note.txt && cat note.txt"
    stack.call(lambda: setattr(stack.state, "responder", make_responder(command)))
    before = len(stack.generate_requests())
    last_message = tmp_path / "last-message.txt"
    proxy = f"http://127.0.0.1:{refusing_proxy.server_address[1]}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CODEX_HOME": str(codex_home),
        API_KEY_ENV: "kiro-proxy-test",
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "ALL_PROXY": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    result = subprocess.run(
        [
            codex,
            "exec",
            "--skip-git-repo-check",
            "--ephemeral",
            # The only command run is the one scripted above, inside the temporary project;
            # the sandbox would need user namespaces, which CI containers may not allow.
            "--dangerously-bypass-approvals-and-sandbox",
            "--output-last-message",
            str(last_message),
            "Create note.txt with the marker and show it.",
        ],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"stdout={result.stdout[-2000:]}\nstderr={result.stderr[-2000:]}"
    assert target.read_text().strip() == MARKER
    assert last_message.read_text().strip() == "Finished: the command printed the marker."
    mine = [r for r in stack.generate_requests()[before:] if r.body]
    with_results = [
        r
        for r in mine
        if "toolResults" in current_user_input(r.body).get("userInputMessageContext", {})
    ]
    assert with_results, "Codex must have sent the command's output back"
    assert refusing_proxy.attempts == [], "Codex tried to reach the network"
    assert_all_valid(stack)
