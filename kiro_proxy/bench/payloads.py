"""Request bodies the benchmark sends: a short Anthropic request, the same request already in
Kiro's shape (for calling the simulator directly), and a Claude Code-sized request."""

from __future__ import annotations

from typing import Any

import orjson

from kiro_proxy.translate.anthropic_request import (
    anthropic_to_conversation,
    parse_anthropic_request,
)
from kiro_proxy.translate.kiro_request import build_kiro_request
from kiro_proxy.translate.models import resolve_model

MODEL = "claude-sonnet-4.5"
BENCH_API_KEY = "kiro-proxy-bench"
# The bench request Claude Code would send: x-api-key plus the version header.
ANTHROPIC_HEADERS = {
    "content-type": "application/json",
    "x-api-key": BENCH_API_KEY,
    "anthropic-version": "2023-06-01",
}
# A bearer the simulator accepts as an anonymous account (accept_any_token) on direct calls.
DIRECT_HEADERS = {
    "content-type": "application/json",
    "authorization": "Bearer bench-direct-token",
    "x-amz-target": "AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
}


def short_request(*, stream: bool) -> bytes:
    return orjson.dumps(
        {
            "model": MODEL,
            "max_tokens": 8192,  # 200 chunks must not hit the output limit
            "stream": stream,
            "messages": [{"role": "user", "content": "Say hello in five words."}],
        }
    )


def kiro_body_for(anthropic_body: bytes) -> bytes:
    """The Kiro request the gateway would send upstream for `anthropic_body`."""
    conv = anthropic_to_conversation(parse_anthropic_request(anthropic_body))
    model = resolve_model(MODEL)
    request = build_kiro_request(
        conv,
        model_id=model.kiro_model_id,
        thinking=False,
        conversation_id="00000000-0000-4000-8000-000000000000",
        profile_arn="arn:aws:codewhisperer:us-east-1:699475941386:profile/BENCH",
    )
    return request.to_json()


# --- a Claude Code-sized request -------------------------------------------------------------
_WORDS = (
    "read the file then search the repository for callers of the function and update each one "
    "so that the new argument is passed through; run the tests and report what failed "
).split()


def _prose(words: int, seed: int) -> str:
    return " ".join(_WORDS[(seed + i * 7) % len(_WORDS)] for i in range(words))


def _tool(index: int) -> dict[str, Any]:
    """A tool shaped like Claude Code's (long description, nested JSON schema)."""
    return {
        "name": f"Tool{index}_{'Read Write Edit Bash Grep Glob Task WebFetch'.split()[index % 8]}",
        "description": _prose(260, index),
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": _prose(20, index + 1)},
                "pattern": {"type": "string", "description": _prose(15, index + 2)},
                "options": {
                    "type": "object",
                    "properties": {
                        "limit": {"type": "integer", "minimum": 1},
                        "offset": {"type": "integer", "minimum": 0},
                        "mode": {"type": "string", "enum": ["content", "files", "count"]},
                    },
                    "additionalProperties": False,
                },
            },
            "required": ["file_path"],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


def claude_code_request(target_bytes: int = 100_000, *, stream: bool = True) -> bytes:
    """About `target_bytes` of system prompt, tools and a tool-use history, like Claude Code."""
    tools = [_tool(i) for i in range(16)]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": _prose(80, 3)}]}
    ]
    turn = 0
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 32000,
        "stream": stream,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": _prose(1500, 1), "cache_control": {"type": "ephemeral"}},
        ],
        "tools": tools,
        "messages": messages,
        "metadata": {"user_id": "user_bench_account__session_0000"},
    }
    while len(orjson.dumps(body)) < target_bytes:
        tool_id = f"toolu_bench{turn:06d}"
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": _prose(40, turn)},
                    {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": tools[turn % len(tools)]["name"],
                        "input": {"file_path": f"/repo/src/module_{turn}.py", "pattern": "def "},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": tool_id,
                        "content": [{"type": "text", "text": _prose(300, turn + 5)}],
                    }
                ],
            }
        )
        turn += 1
    messages.append({"role": "user", "content": "Now summarise what you changed."})
    return orjson.dumps(body)
