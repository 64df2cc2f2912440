"""JsonResponse sends exactly what Starlette's Response(…, media_type="application/json") sends."""

from __future__ import annotations

import pytest
from starlette.responses import Response
from starlette.types import Message

from kiro_proxy.api.json_response import JsonResponse


async def _messages(response: Response) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("not read")

    async def send(message: Message) -> None:
        sent.append(message)

    await response({"type": "http"}, receive, send)
    return sent


@pytest.mark.parametrize("status", [200, 400, 429, 500, 204, 304, 101])
@pytest.mark.parametrize("body", [b'{"ok":true}', b"", '{"t":"\u00e9"}'.encode()])
async def test_same_messages_as_starlette(status: int, body: bytes) -> None:
    ours = await _messages(JsonResponse(body, status))
    starlette = await _messages(Response(body, status_code=status, media_type="application/json"))
    assert ours == starlette
