"""Image checks shared by both request parsers and the URL fetcher (pure).

Kiro accepts only gif/jpeg/png/webp, as raw base64, and rejects an image whose declared format
does not match its bytes (kirodotdev/Kiro#8787). So the bytes are sniffed and the sniffed format
wins over the client's label; anything that is not one of the four formats is a clear 400.
"""

from __future__ import annotations

import base64
import binascii
import re

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import ImageBlock

ALLOWED_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+/-]*)(?P<params>(?:;[^,;]*)*?);base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def sniff_image_media_type(head: bytes) -> str | None:
    """The media type the leading bytes prove, or None when they are none of Kiro's formats."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def kiro_image_format(media_type: str) -> str:
    """`image/jpeg` → `jpeg`: the `format` value Kiro expects."""
    return media_type.split("/", 1)[1]


def image_from_bytes(raw: bytes, declared: str | None, *, param: str) -> ImageBlock:
    """Checked image block from raw bytes; the sniffed type replaces a wrong or missing label."""
    sniffed = sniff_image_media_type(raw[:16])
    if sniffed is None:
        label = (declared or "unknown").lower()
        if label not in ALLOWED_MEDIA_TYPES and _ALIASES.get(label) is None:
            raise InvalidRequestError(
                f"unsupported image media type {label!r}: Kiro accepts "
                "image/png, image/jpeg, image/gif and image/webp",
                param=param,
            )
        raise InvalidRequestError(
            f"image data is not a valid PNG, JPEG, GIF or WebP image (declared {label})",
            param=param,
        )
    return ImageBlock(media_type=sniffed, data=base64.b64encode(raw).decode("ascii"))


def image_from_base64(data: str, declared: str | None, *, param: str) -> ImageBlock:
    """Validate client base64 (optionally a data: URL) and return a block with the true type."""
    match = _DATA_URL.match(data)
    if match:
        declared = match.group("type") or declared
        data = data[match.end() :]
    cleaned = _WHITESPACE.sub("", data)
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("image data is not valid base64", param=param) from None
    if not raw:
        raise InvalidRequestError("image data is empty", param=param)
    declared_norm = _ALIASES.get((declared or "").lower(), (declared or "").lower())
    sniffed = sniff_image_media_type(raw[:16])
    if sniffed is None:
        # Reuse the error wording of the bytes path.
        image_from_bytes(raw, declared_norm or None, param=param)
    # Keep the client's base64 text when it was already clean: re-encoding costs time on big images.
    return ImageBlock(media_type=sniffed or declared_norm, data=cleaned)


def parse_data_url(url: str, *, param: str) -> ImageBlock:
    """`data:image/png;base64,...` → checked ImageBlock (used by OpenAI image_url parts)."""
    if not _DATA_URL.match(url):
        raise InvalidRequestError(
            "image data URL must look like data:image/<type>;base64,<data>", param=param
        )
    return image_from_base64(url, None, param=param)
