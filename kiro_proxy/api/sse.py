"""Server-sent-events byte framing shared by the Anthropic and OpenAI renderers.

Hot path: every streamed token goes through here, so frames are built by joining pre-encoded
byte prefixes with one orjson.dumps, not by formatting strings.
"""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
_END = b"\n\n"


def event_prefix(name: str) -> bytes:
    """`event: <name>\\ndata: ` as bytes, to build once and reuse for every frame of that name."""
    return b"event: " + name.encode() + b"\ndata: "


def named_event(name: str, data: Any) -> bytes:
    """One `event:`/`data:` frame (Anthropic style)."""
    return event_prefix(name) + orjson.dumps(data) + _END


def data_event(data: Any) -> bytes:
    """One `data:`-only frame (OpenAI style)."""
    return b"data: " + orjson.dumps(data) + _END


def comment(text: str = "") -> bytes:
    """An SSE comment line: ignored by parsers, keeps idle connections open."""
    return b": " + text.encode() + _END
