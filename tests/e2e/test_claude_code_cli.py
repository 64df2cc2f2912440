"""The real Claude Code CLI, headless, through the gateway: a multi-step tool loop that writes a
file with the Write tool and reads it back with Read, against the simulator scripted to call them.

CI installs the CLI (`npm install -g @anthropic-ai/claude-code`); the test fails when it is missing
there, and only skips on a developer machine without it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from kiro_proxy.simulator.script import Metadata, Reply, Scripted, Text, ToolUse
from tests.e2e.conftest import assert_all_valid, current_user_input, installed_cli
from tests.e2e.stack import LiveStack

FILE_TEXT = "Hello from kiro-proxy\n"


def make_responder(target: Path) -> Any:
    """Answers Claude Code's main loop by the state of the conversation; anything else (title
    generation, quota probes) gets the simulator's default reply."""

    def respond(body: dict[str, Any]) -> Scripted | None:
        current = current_user_input(body)
        context = current.get("userInputMessageContext", {})
        tools = {t["toolSpecification"]["name"] for t in context.get("tools", [])}
        results = {r["toolUseId"]: r for r in context.get("toolResults", [])}
        usage = Metadata(uncached_input_tokens=1000, output_tokens=20)
        if "toolu_read" in results:
            text = results["toolu_read"]["content"][0]["text"]
            verdict = "contains" if "Hello from kiro-proxy" in text else "lacks"
            return Reply([Text(f"Done: the file {verdict} the greeting."), usage])
        if "toolu_write" in results:
            return Reply(
                [
                    Text("Now reading it back."),
                    ToolUse("toolu_read", "Read", {"file_path": str(target)}, fragments=2),
                    usage,
                ]
            )
        if {"Write", "Read"} <= tools:
            return Reply(
                [
                    Text("I'll create the file."),
                    ToolUse(
                        "toolu_write",
                        "Write",
                        {"file_path": str(target), "content": FILE_TEXT},
                        fragments=3,
                    ),
                    usage,
                ]
            )
        return None

    return respond


def test_claude_code_writes_then_reads_a_file(stack: LiveStack, tmp_path: Path) -> None:
    claude = installed_cli("claude", "Claude Code CLI", "@anthropic-ai/claude-code")
    work = tmp_path / "project"
    home = tmp_path / "home"
    work.mkdir()
    home.mkdir()
    target = work / "hello.txt"
    stack.call(lambda: setattr(stack.state, "responder", make_responder(target)))
    before = len(stack.generate_requests())
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": stack.url,
        "ANTHROPIC_AUTH_TOKEN": "kiro-proxy-test",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    result = subprocess.run(
        [
            claude,
            "-p",
            "Create hello.txt containing a greeting, then read it back and tell me what it says.",
            "--output-format",
            "json",
            "--allowedTools",
            "Write,Read",
            "--permission-mode",
            "acceptEdits",
            "--max-turns",
            "6",
            "--model",
            "claude-sonnet-4-5",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"stdout={result.stdout[-2000:]}\nstderr={result.stderr[-2000:]}"
    output = json.loads(result.stdout)
    assert output.get("is_error") is False, output
    assert "the file contains the greeting" in output["result"]
    assert target.read_text() == FILE_TEXT
    main_loop = [
        r
        for r in stack.generate_requests()[before:]
        if r.body and "toolResults" in current_user_input(r.body).get("userInputMessageContext", {})
    ]
    assert len(main_loop) >= 2, "Claude Code must have sent the Write and the Read results"
    assert_all_valid(stack)
