"""Adapter from settings to the remote-image fetcher (the only I/O step before translation)."""

from __future__ import annotations

from kiro_proxy.api.image_fetch import fetch_images
from kiro_proxy.settings import Settings
from kiro_proxy.translate.conversation import Conversation


async def resolve_remote_images(conv: Conversation, settings: Settings) -> Conversation:
    return await fetch_images(
        conv,
        max_bytes=settings.image_fetch_max_bytes,
        timeout=settings.image_fetch_timeout,
        allow_private=settings.allow_private_image_urls,
    )
