"""Download http(s) image URLs before translation (Kiro only accepts inline image bytes).

The only I/O step of request translation. Guards: a size cap (read in chunks, not trusted from
Content-Length), a total time limit, at most a few redirects, and an SSRF guard that refuses
loopback/private/link-local/multicast/reserved addresses *after DNS resolution* — through a
resolver on the connector, so every redirect hop and every hostname is checked, not only the
first URL. Error messages show the URL without its query string (signed URLs carry secrets).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import (
    Block,
    Conversation,
    ImageBlock,
    ImageUrlBlock,
    Message,
    ToolResultBlock,
)
from kiro_proxy.translate.image_format import image_from_bytes

MAX_REDIRECTS = 3
MAX_PARALLEL_FETCHES = 4
_CHUNK = 64 * 1024


class ForbiddenAddressError(OSError):
    """Raised by the guarded resolver; surfaces as a refused image URL."""


def is_forbidden_address(address: str) -> bool:
    """True for addresses a public image URL must never reach (SSRF)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


class GuardedResolver(AbstractResolver):
    """Resolves with the default resolver, then drops forbidden addresses."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if not is_forbidden_address(r["host"])]
        if not allowed:
            raise ForbiddenAddressError(f"{host} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


# The `timeout` name is the agreed interface; aiohttp's ClientTimeout applies it per fetch.
async def fetch_images(
    conv: Conversation,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109
    allow_private: bool,
) -> Conversation:
    """A copy of `conv` whose image URL blocks are replaced by checked inline images."""
    urls = _image_urls(conv)
    if not urls:
        return conv
    connector = aiohttp.TCPConnector(
        resolver=None if allow_private else GuardedResolver(), limit=MAX_PARALLEL_FETCHES
    )
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        fetched = await asyncio.gather(
            *(_fetch_one(session, url, max_bytes, timeout, allow_private) for url in urls)
        )
    images = dict(zip(urls, fetched, strict=True))
    return dataclasses.replace(conv, messages=[_swap(m, images) for m in conv.messages])


def _image_urls(conv: Conversation) -> list[str]:
    # Runs on every request, nearly always finding nothing: exact class tests (the block
    # classes have no subclasses), and tool results without images are passed over.
    seen: dict[str, None] = {}
    for message in conv.messages:
        for block in message.blocks:
            if type(block) is ImageUrlBlock:
                seen.setdefault(block.url, None)
            elif type(block) is ToolResultBlock and block.images:
                for image in block.images:
                    if type(image) is ImageUrlBlock:
                        seen.setdefault(image.url, None)
    return list(seen)


def _swap(message: Message, images: dict[str, ImageBlock]) -> Message:
    blocks: list[Block] = []
    for block in message.blocks:
        if isinstance(block, ImageUrlBlock):
            blocks.append(images[block.url])
        elif isinstance(block, ToolResultBlock) and block.images:
            swapped: list[ImageBlock | ImageUrlBlock] = [
                images[i.url] if isinstance(i, ImageUrlBlock) else i for i in block.images
            ]
            blocks.append(dataclasses.replace(block, images=swapped))
        else:
            blocks.append(block)
    return Message(message.role, blocks)


def _shown(url: str) -> str:
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return shown if len(shown) <= 200 else shown[:200] + "…"


def _refuse(url: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"could not fetch image {_shown(url)}: {why}", param="messages")


def _check_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(url, "only http(s) URLs are fetched")
    if allow_private:
        return
    try:
        ipaddress.ip_address(parts.hostname.split("%", 1)[0])
    except ValueError:
        return  # a host name: the guarded resolver checks what it resolves to
    # aiohttp does not call the resolver for IP literals, so check them here.
    if is_forbidden_address(parts.hostname):
        raise _refuse(url, "the address is not public")


async def _fetch_one(
    session: aiohttp.ClientSession, url: str, max_bytes: int, timeout_s: float, allow_private: bool
) -> ImageBlock:
    current = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            _check_url(current, allow_private)
            async with session.get(current, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                    current = urljoin(current, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise _refuse(url, f"HTTP {response.status}")
                raw = await _read_capped(response, max_bytes, url)
                declared = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
                try:
                    return image_from_bytes(raw, declared or None, param="messages")
                except InvalidRequestError as exc:
                    raise _refuse(url, exc.message) from None
        raise _refuse(url, f"more than {MAX_REDIRECTS} redirects")
    except ForbiddenAddressError:
        raise _refuse(url, "the address is not public") from None
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, ForbiddenAddressError):
            raise _refuse(url, "the address is not public") from None
        raise _refuse(url, "connection failed") from None
    except TimeoutError:
        raise _refuse(url, f"timed out after {timeout_s:g}s") from None
    except aiohttp.ClientError as exc:
        raise _refuse(url, type(exc).__name__) from None


async def _read_capped(response: Any, max_bytes: int, url: str) -> bytes:
    length = response.content_length
    if length is not None and length > max_bytes:
        raise _refuse(url, f"image is larger than {max_bytes} bytes")
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        buffer += chunk
        if len(buffer) > max_bytes:
            raise _refuse(url, f"image is larger than {max_bytes} bytes")
    return bytes(buffer)
