"""Conversation token counts, image estimates, caching and speed."""

from __future__ import annotations

import base64
import struct
import time
import zlib
from pathlib import Path

import orjson
import pytest

from kiro_proxy.translate import claude_tokenizer
from kiro_proxy.translate.conversation import (
    Conversation,
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolChoice,
    ToolDef,
    ToolResultBlock,
    ToolUseBlock,
)
from kiro_proxy.translate.image_tokens import MAX_IMAGE_TOKENS, image_size, image_tokens
from kiro_proxy.translate.tokens import (
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    TOOL_DEFINITION_OVERHEAD,
    TOOL_RESULT_OVERHEAD,
    TOOL_USE_OVERHEAD,
    TOOLS_PROMPT_AUTO,
    TOOLS_PROMPT_FORCED,
    TokenCounter,
    count_text_tokens,
    count_tokens,
)

count = claude_tokenizer.count


# --- images ----------------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 10


def jpeg(width: int, height: int, exif_bytes: int = 0) -> bytes:
    app1 = b"\xff\xe1" + struct.pack(">H", exif_bytes + 2) + b"\x00" * exif_bytes
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x00" * 9
    return b"\xff\xd8" + app1 + sof + b"\xff\xda"


def webp_vp8x(width: int, height: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"VP8L" + struct.pack("<I", 5) + b"\x2f" + bits.to_bytes(4, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body + b"\x00" * 8


def webp_vp8(width: int, height: int) -> bytes:
    frame = b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width, height)
    body = b"VP8 " + struct.pack("<I", len(frame)) + frame
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body + b"\x00" * 8


@pytest.mark.parametrize(
    "make", [png, gif, jpeg, webp_vp8x, webp_vp8l, webp_vp8], ids=lambda f: f.__name__
)
def test_image_size_from_headers(make: object) -> None:
    assert image_size(make(640, 480)) == (640, 480)  # type: ignore[operator]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_image_tokens_follow_anthropics_formula() -> None:
    assert image_tokens(b64(png(200, 200))) == 54  # 40 000 / 750
    assert image_tokens(b64(png(1000, 1000))) == 1334
    # Downsized to ~1.15 MP / 1568 px long edge: never above the cap.
    assert image_tokens(b64(png(4000, 3000))) <= MAX_IMAGE_TOKENS
    assert image_tokens(b64(png(4000, 3000))) >= 1500
    assert image_tokens(b64(png(10_000, 100))) == 1568 * 15 // 750 + 1
    # A JPEG whose SOF sits behind a big EXIF block is still read.
    assert image_tokens(b64(jpeg(400, 300, exif_bytes=60_000))) == 160


def test_unreadable_image_falls_back_to_size() -> None:
    small, big = b64(b"\x00" * 3000), b64(b"\x00" * 3_000_000)
    assert 1 <= image_tokens(small) < image_tokens(big) == MAX_IMAGE_TOKENS
    assert image_tokens("not base64!!") >= 1
    assert image_tokens(b64(b"\xff\xd8" + b"\x00" * 100)) >= 1  # JPEG without SOF


# --- conversations ---------------------------------------------------------------------------


def test_text_tokens_basics() -> None:
    assert count_text_tokens("") == 0
    assert count_text_tokens("Hello, world") == count("Hello, world") > 0
    long = "a reasonably long sentence that will be cached by the counter. " * 4
    assert count_text_tokens(long) == count(long)
    assert count_text_tokens(long) == count(long)  # from the cache


def test_every_part_of_a_conversation_counts() -> None:
    schema = {"type": "object", "properties": {"cmd": {"type": "string"}}}
    image = b64(png(300, 300))
    conv = Conversation(
        system="You are terse.",
        messages=[
            Message("user", [TextBlock("List files"), ImageBlock("image/png", image)]),
            Message(
                "assistant",
                [
                    ThinkingBlock("I should call ls", "sig"),
                    ToolUseBlock("t1", "Bash", {"cmd": "ls"}),
                ],
            ),
            Message(
                "user", [ToolResultBlock("t1", "a.txt\nb.txt", images=[ImageBlock("x", image)])]
            ),
        ],
        tools=[ToolDef("Bash", "Run a shell command", schema)],
        output_instruction="Answer in JSON.",
    )
    expected = (
        REQUEST_OVERHEAD
        + count("You are terse.")
        + count("Answer in JSON.")
        + TOOLS_PROMPT_AUTO
        + TOOL_DEFINITION_OVERHEAD
        + count("Bash")
        + count("Run a shell command")
        + count(orjson.dumps(schema).decode())
        + 3 * MESSAGE_OVERHEAD
        + count("List files")
        + 120  # 300x300 image
        + TOOL_USE_OVERHEAD
        + count("Bash")
        + count('{"cmd":"ls"}')
        + TOOL_RESULT_OVERHEAD
        + count("a.txt\nb.txt")
        + 120
    )
    assert count_tokens(conv) == expected


def test_forced_tool_choice_uses_the_smaller_tool_prompt() -> None:
    tools = [ToolDef("Read", "Read a file", {"type": "object"})]
    auto = count_tokens(Conversation(tools=tools))
    forced = count_tokens(Conversation(tools=tools, tool_choice=ToolChoice("any")))
    assert auto - forced == TOOLS_PROMPT_AUTO - TOOLS_PROMPT_FORCED
    assert count_tokens(Conversation()) == REQUEST_OVERHEAD


def test_cache_is_bounded_and_does_not_change_results() -> None:
    counter = TokenCounter(max_entries=8)
    texts = [f"text number {i} " * 10 for i in range(50)]
    first = [counter.text(t) for t in texts]
    assert len(counter._cache) <= 8
    assert [counter.text(t) for t in texts] == first == [count(t) for t in texts]


def claude_code_like_request(size: int = 100_000) -> Conversation:
    code = Path(claude_tokenizer.__file__).read_text() * 20
    prose = "Please refactor the module so that the parser handles errors gracefully. " * 200
    tools = [
        ToolDef(
            f"Tool{i}",
            "Does something useful with files and shells. " * 10,
            {"type": "object", "properties": {f"p{j}": {"type": "string"} for j in range(8)}},
        )
        for i in range(15)
    ]
    messages: list[Message] = []
    used = 0
    i = 0
    while used < size:
        text = (prose if i % 2 else code)[i * 97 % 5000 : i * 97 % 5000 + 6000]
        messages.append(Message("user" if i % 2 == 0 else "assistant", [TextBlock(text)]))
        used += len(text)
        i += 1
    return Conversation(system="You are Claude Code. " * 100, messages=messages, tools=tools)


def test_a_100_kb_request_counts_in_a_few_milliseconds() -> None:
    conv = claude_code_like_request()
    counter = TokenCounter()
    claude_tokenizer.claude_encoding()  # loading is a one-off
    started = time.perf_counter()
    total = counter.conversation(conv)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    assert counter.conversation(conv) == total
    warm = time.perf_counter() - started
    assert total > 20_000
    # Generous bounds for a shared CI machine; typical: ~10 ms cold, <1 ms warm.
    assert cold < 0.25
    assert warm < 0.02


def test_short_texts_are_cached_apart_from_long_ones() -> None:
    counter = TokenCounter(max_entries=8)
    long_texts = [f"long text number {i} " * 10 for i in range(4)]
    long_counts = [counter.text(t) for t in long_texts]
    short_texts = [f"short {i}" for i in range(100)]
    short_counts = [counter.text(t) for t in short_texts]
    # A stream of distinct short texts stays within its own bound and evicts no long text.
    assert len(counter._short) <= 2
    assert len(counter._cache) == 4
    assert [counter.text(t) for t in long_texts] == long_counts == [count(t) for t in long_texts]
    assert [counter.text(t) for t in short_texts] == short_counts
    assert short_counts == [count(t) for t in short_texts]
    assert counter.text("") == 0
    # A repeated short text is answered from the table.
    counter.text("Say hello in five words.")
    assert (hash("Say hello in five words."), 24) in counter._short
