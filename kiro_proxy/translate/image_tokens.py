"""Image token estimates from the image header, without decoding pixels.

Anthropic documents image cost as tokens ≈ width × height / 750, after the API downsizes images
whose long edge exceeds 1568 px or whose area exceeds ~1.15 megapixels (so ~1600 tokens at most).
Dimensions are read from PNG, GIF, WebP (VP8/VP8L/VP8X) and JPEG (SOF marker) headers; when they
cannot be read, the estimate falls back to the encoded size.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct

MAX_LONG_EDGE = 1568
MAX_PIXELS = 1_150_000
PIXELS_PER_TOKEN = 750
MAX_IMAGE_TOKENS = 1600
# Fallback when the header is unreadable: typical photos/screenshots compress to ~2 bits/pixel.
_PIXELS_PER_BYTE = 4
# JPEG SOF markers can sit behind large EXIF blocks; read at most this much of the image.
_JPEG_SCAN_LIMIT = 1 << 20
_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def _b64_prefix(data_b64: str, raw_bytes: int) -> bytes:
    """Decode only the first `raw_bytes` of a base64 string (whitespace-free, as APIs send it)."""
    chars = min(len(data_b64), (raw_bytes + 2) // 3 * 4)
    chars -= chars % 4
    try:
        return base64.b64decode(data_b64[:chars])
    except (binascii.Error, ValueError):
        return b""


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        pos += 2 + length
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack_from(">II", data, 16)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack_from("<HH", data, 6)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":
            width, height = struct.unpack_from("<HH", data, 26)
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        return None
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def tokens_for_size(width: int, height: int) -> int:
    if width <= 0 or height <= 0:
        return 0
    scale = min(1.0, MAX_LONG_EDGE / max(width, height), math.sqrt(MAX_PIXELS / (width * height)))
    pixels = int(width * scale) * int(height * scale)
    return min(MAX_IMAGE_TOKENS, max(1, math.ceil(pixels / PIXELS_PER_TOKEN)))


def image_tokens(data_b64: str) -> int:
    """Estimated input tokens for one base64 image."""
    head = _b64_prefix(data_b64, 64)
    size = image_size(head)
    if size is None and head[:2] == b"\xff\xd8":
        size = image_size(_b64_prefix(data_b64, _JPEG_SCAN_LIMIT))
    if size is not None:
        return tokens_for_size(*size)
    encoded_bytes = len(data_b64) * 3 // 4
    pixels = encoded_bytes * _PIXELS_PER_BYTE
    return min(MAX_IMAGE_TOKENS, max(1, math.ceil(pixels / PIXELS_PER_TOKEN)))
