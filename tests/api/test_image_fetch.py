"""Remote image fetching: a local aiohttp server for the happy and failure paths, and the SSRF
guard refusing non-public addresses without connecting."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from kiro_proxy.api import image_fetch
from kiro_proxy.api.image_fetch import (
    ForbiddenAddressError,
    GuardedResolver,
    fetch_images,
    is_forbidden_address,
)
from kiro_proxy.errors import InvalidRequestError
from kiro_proxy.translate.conversation import (
    Conversation,
    ImageBlock,
    ImageUrlBlock,
    Message,
    TextBlock,
    ToolResultBlock,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x02" * 20


@dataclass
class Server:
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        srv.hits.append(request.path)
        name = request.match_info["name"]
        if name == "cat.png":
            return web.Response(body=PNG, content_type="image/png")
        if name == "mislabelled":
            return web.Response(body=WEBP, content_type="image/jpeg")
        if name == "redirect":
            raise web.HTTPFound("/img/cat.png")
        if name == "loop":
            raise web.HTTPFound("/img/loop")
        if name == "to-other-host":
            raise web.HTTPFound(f"http://127.0.0.2:{request.url.port}/img/cat.png")
        if name == "big":
            return web.Response(body=PNG + b"\x00" * 5000, content_type="image/png")
        if name == "slow":
            await asyncio.sleep(0.8)
            return web.Response(body=PNG, content_type="image/png")
        if name == "text":
            return web.Response(text="hello", content_type="text/plain")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/img/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.url = f"http://127.0.0.1:{port}"
    yield srv
    await runner.cleanup()


def conv_with(*urls: str) -> Conversation:
    return Conversation(
        messages=[Message("user", [TextBlock("look"), *(ImageUrlBlock(u) for u in urls)])]
    )


async def fetch(
    conv: Conversation, *, allow_private: bool = True, max_bytes: int = 1000
) -> Conversation:
    return await fetch_images(conv, max_bytes=max_bytes, timeout=0.5, allow_private=allow_private)


async def test_image_url_is_downloaded_and_inlined(server: Server) -> None:
    out = await fetch(conv_with(f"{server.url}/img/cat.png"))
    assert out.messages[0].blocks[1] == ImageBlock("image/png", base64.b64encode(PNG).decode())


async def test_same_url_is_fetched_once_and_tool_result_images_too(server: Server) -> None:
    url = f"{server.url}/img/cat.png"
    conv = Conversation(
        messages=[
            Message(
                "user", [ImageUrlBlock(url), ToolResultBlock("t", "r", images=[ImageUrlBlock(url)])]
            )
        ]
    )
    out = await fetch(conv)
    result = out.messages[0].blocks[1]
    assert isinstance(result, ToolResultBlock) and isinstance(result.images[0], ImageBlock)
    assert server.hits == ["/img/cat.png"]


async def test_conversation_without_urls_is_returned_unchanged() -> None:
    conv = Conversation(messages=[Message("user", [TextBlock("hi")])])
    assert await fetch(conv) is conv


async def test_mislabelled_content_type_is_fixed_by_sniffing(server: Server) -> None:
    out = await fetch(conv_with(f"{server.url}/img/mislabelled"))
    block = out.messages[0].blocks[1]
    assert isinstance(block, ImageBlock) and block.media_type == "image/webp"


async def test_redirects_are_followed(server: Server) -> None:
    out = await fetch(conv_with(f"{server.url}/img/redirect"))
    assert isinstance(out.messages[0].blocks[1], ImageBlock)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("missing", "HTTP 404"),
        ("big", "larger than 1000 bytes"),
        ("slow", "timed out"),
        ("text", "unsupported image media type 'text/plain'"),
        ("loop", "redirects"),
    ],
)
async def test_fetch_failures_are_clear_400s(server: Server, name: str, needle: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await fetch(conv_with(f"{server.url}/img/{name}"))
    assert needle in info.value.message


async def test_error_message_hides_the_query_string_of_signed_urls(server: Server) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await fetch(conv_with(f"{server.url}/img/missing?X-Amz-Signature=secret123"))
    assert "secret123" not in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/img/cat.png",
        "http://10.1.2.3:{port}/img/cat.png",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.0.1/x.png",
        "http://[::1]:{port}/img/cat.png",
        "http://[::ffff:127.0.0.1]:{port}/img/cat.png",
        "http://0.0.0.0:{port}/img/cat.png",
        "http://224.0.0.1/x.png",
        "http://localhost:{port}/img/cat.png",
    ],
)
async def test_guard_refuses_non_public_addresses_without_connecting(
    server: Server, url: str
) -> None:
    port = server.url.rsplit(":", 1)[1]
    with pytest.raises(InvalidRequestError) as info:
        await fetch(conv_with(url.format(port=port)), allow_private=False)
    assert "not public" in info.value.message
    assert server.hits == []


async def test_guard_checks_every_redirect_hop(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend 127.0.0.1 is public so the first hop is allowed; the redirect to 127.0.0.2 is not.
    monkeypatch.setattr(image_fetch, "is_forbidden_address", lambda address: address != "127.0.0.1")
    with pytest.raises(InvalidRequestError) as info:
        await fetch(conv_with(f"{server.url}/img/to-other-host"), allow_private=False)
    assert "not public" in info.value.message
    assert server.hits == ["/img/to-other-host"]


async def test_guarded_resolver_drops_loopback_answers() -> None:
    resolver = GuardedResolver()
    try:
        with pytest.raises(ForbiddenAddressError):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),
        ("10.0.0.5", True),
        ("172.16.3.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.251", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("not-an-ip", True),
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_is_forbidden_address(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(address) is forbidden
