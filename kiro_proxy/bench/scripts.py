"""Simulator replies for the benchmark phases, as /_sim/always JSON.

Each text chunk differs from the one before: the assembler drops a chunk equal to the previous
one (Kiro repeats chunks on retries), so the simulator's `Benchmark(chunks, size)` script, whose
chunks are all alike, would reach the client as a single delta. The frames are built once here
and sent as one Raw step, written by the simulator in one go.
"""

from __future__ import annotations

import base64
from typing import Any

from kiro_proxy.simulator.script import (
    ContextUsage,
    Metadata,
    Metering,
    Reply,
    Sleep,
    Step,
    Text,
    scripted_to_json,
    step_frames,
    text_frame,
)

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def chunk_text(index: int, size: int) -> str:
    """`size` characters, different from the chunk before and after."""
    letter = _ALPHABET[index % len(_ALPHABET)]
    return (f"{letter}{index} " * size)[:size]


def _usage_frames(chunks: int, size: int) -> bytes:
    steps: list[Step] = [
        Metering(0.05),
        ContextUsage(1.0),
        Metadata(uncached_input_tokens=100, output_tokens=max(1, chunks * size // 4)),
    ]
    return b"".join(frame for step in steps for frame in step_frames(step))


def _raw(data: bytes) -> dict[str, Any]:
    return {"kind": "raw", "data": base64.b64encode(data).decode()}


def text_reply(chunks: int, size: int = 16) -> dict[str, Any]:
    """`chunks` distinct text events then the usage events, all at once (a fast upstream)."""
    data = b"".join(text_frame(chunk_text(i, size)) for i in range(chunks))
    return {"kind": "reply", "steps": [_raw(data + _usage_frames(chunks, size))]}


def slow_reply(chunks: int, size: int = 16, delay: float = 1.0) -> dict[str, Any]:
    """A stream that stays open: one text chunk every `delay` seconds."""
    steps: list[Step] = []
    for i in range(chunks):
        steps += [Text(chunk_text(i, size)), Sleep(delay)]
    return scripted_to_json(Reply(steps))
