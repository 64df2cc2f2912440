"""Helpers shared by the reliability tests: request bodies for both client APIs, a classifier
that says whether an answer is a correct reply or a well-shaped error, and process resource
probes (sockets, file descriptors, RSS) read from /proc."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

Api = Literal["anthropic", "openai"]
MODEL = "claude-sonnet-4.5"


def request_for(api: Api, *, stream: bool, text: str = "hi") -> tuple[str, dict[str, Any]]:
    messages = [{"role": "user", "content": text}]
    if api == "anthropic":
        return "/v1/messages", {
            "model": MODEL,
            "max_tokens": 64,
            "messages": messages,
            "stream": stream,
        }
    return "/v1/chat/completions", {"model": MODEL, "messages": messages, "stream": stream}


@dataclass(slots=True)
class Outcome:
    """What the client saw: HTTP status, the reply text, and the error (type, message) if any."""

    status: int
    text: str
    error: tuple[str, str] | None
    complete: bool  # the stream ended properly (message_stop / [DONE]) or a JSON body arrived
    seconds: float
    raw: bytes

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None and self.complete


def _anthropic_error(body: Any) -> tuple[str, str] | None:
    if (
        isinstance(body, dict)
        and body.get("type") == "error"
        and isinstance(body.get("error"), dict)
        and isinstance(body["error"].get("type"), str)
        and isinstance(body["error"].get("message"), str)
        and body["error"]["message"]
    ):
        return body["error"]["type"], body["error"]["message"]
    return None


def _openai_error(body: Any) -> tuple[str, str] | None:
    if (
        isinstance(body, dict)
        and isinstance(body.get("error"), dict)
        and isinstance(body["error"].get("type"), str)
        and isinstance(body["error"].get("message"), str)
        and body["error"]["message"]
    ):
        return body["error"]["type"], body["error"]["message"]
    return None


def parse_error_body(api: Api, raw: bytes) -> tuple[str, str] | None:
    """The (type, message) of an error body in the API's own shape, else None."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return _anthropic_error(body) if api == "anthropic" else _openai_error(body)


def _sse_frames(raw: bytes) -> list[tuple[str | None, bytes]]:
    frames: list[tuple[str | None, bytes]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name: str | None = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        if data:
            frames.append((name, b"\n".join(data)))
    return frames


def classify(api: Api, stream: bool, status: int, raw: bytes, seconds: float) -> Outcome:
    if status != 200:
        return Outcome(status, "", parse_error_body(api, raw), True, seconds, raw)
    if not stream:
        body = orjson.loads(raw)
        if api == "anthropic":
            text = "".join(
                b.get("text", "") for b in body.get("content", []) if isinstance(b, dict)
            )
        else:
            text = body["choices"][0]["message"].get("content") or ""
        return Outcome(status, text, None, True, seconds, raw)
    text, error, complete = "", None, False
    for name, data in _sse_frames(raw):
        if api == "anthropic":
            payload = orjson.loads(data)
            if name == "error":
                error = _anthropic_error(payload)
            elif name == "content_block_delta" and payload["delta"].get("type") == "text_delta":
                text += payload["delta"]["text"]
            elif name == "message_stop":
                complete = True
        else:
            if data == b"[DONE]":
                complete = True
                continue
            payload = orjson.loads(data)
            if "error" in payload:
                error = _openai_error(payload)
                continue
            for choice in payload.get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return Outcome(status, text, error, complete, seconds, raw)


async def send(
    http: httpx.AsyncClient,
    api: Api,
    *,
    stream: bool,
    text: str = "hi",
    headers: dict[str, str] | None = None,
) -> Outcome:
    path, body = request_for(api, stream=stream, text=text)
    started = time.monotonic()
    if not stream:
        response = await http.post(path, json=body, headers=headers)
        return classify(
            api, stream, response.status_code, response.content, time.monotonic() - started
        )
    async with http.stream("POST", path, json=body, headers=headers) as response:
        raw = await response.aread()
    return classify(api, stream, response.status_code, raw, time.monotonic() - started)


# --- process resources -----------------------------------------------------------------------
def open_fds() -> list[str]:
    """Targets of this process's open file descriptors ("socket:[…]", paths, pipes)."""
    out = []
    for entry in os.scandir("/proc/self/fd"):
        try:
            out.append(os.readlink(entry.path))
        except OSError:  # closed between listing and reading
            continue
    return out


def socket_count() -> int:
    return sum(1 for target in open_fds() if target.startswith("socket:"))


def tcp_connections(port: int) -> int:
    """Established TCP connections of this machine touching a local port (either end)."""
    hex_port = f"{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and hex_port in (local.rsplit(":", 1)[1], remote.rsplit(":", 1)[1]):
                count += 1
    return count


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# --- the stack's event loop ------------------------------------------------------------------
def awaits_function(task: object, name: str) -> bool:
    """True when `name` is somewhere on the task's await chain (coroutines and generators)."""
    node = task.get_coro()  # type: ignore[attr-defined]
    seen = 0
    while node is not None and seen < 200:
        code = getattr(node, "cr_code", None) or getattr(node, "ag_code", None)
        code = code or getattr(node, "gi_code", None)
        if code is not None and code.co_name == name:
            return True
        node = (
            getattr(node, "cr_await", None)
            or getattr(node, "ag_await", None)
            or getattr(node, "gi_yieldfrom", None)
        )
        seen += 1
    return False
