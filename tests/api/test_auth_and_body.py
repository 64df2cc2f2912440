"""The raw-header API-key lookup and the direct body reader give what Starlette's `request.headers`
and `request.stream()` gave: the same key for every header combination, the same bodies, the
same 400/413 errors, and a disconnect while reading is still `ClientDisconnect`."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from kiro_proxy.api.auth import presented_key
from kiro_proxy.api.body import read_body
from kiro_proxy.errors import InvalidRequestError, RequestTooLargeError


def _request(headers: Iterable[tuple[str, str]], messages: Iterable[Message] = ()) -> Request:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return Request({"type": "http", "method": "POST", "headers": raw}, receive)


def _starlette_key(request: Request) -> str | None:
    """The lookup as it was written with Starlette's Headers (the reference)."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


HEADER_SETS: list[list[tuple[str, str]]] = [
    [],
    [("x-api-key", "k1")],
    [("x-api-key", "  k1 \t")],
    [("x-api-key", ""), ("authorization", "Bearer b1")],
    [("authorization", "Bearer b1"), ("x-api-key", "k1")],
    [("authorization", "bearer b1")],
    [("authorization", "BEARER  b1 ")],
    [("authorization", "Bearer ")],
    [("authorization", "Bearer")],
    [("authorization", "Basic dXNlcjpwYXNz")],
    [("authorization", "Bearer first"), ("authorization", "Bearer second")],
    [("x-api-key", "first"), ("x-api-key", "second")],
    [("x-api-key", ""), ("x-api-key", "second")],
    [("x-api-key", "clé-\xe9")],
    [("content-type", "application/json"), ("host", "gateway")],
]


@pytest.mark.parametrize("headers", HEADER_SETS)
def test_presented_key_matches_the_starlette_headers_lookup(
    headers: list[tuple[str, str]],
) -> None:
    request = _request(headers)
    assert presented_key(request) == _starlette_key(request)


def _body(chunk: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": chunk, "more_body": more}


async def test_a_single_message_body_is_read_and_cached_for_later_reads() -> None:
    request = _request([("content-length", "7")], [_body(b'{"a":1}')])
    assert await read_body(request, 100) == b'{"a":1}'
    assert await request.body() == b'{"a":1}'


async def test_a_chunked_body_is_joined_and_empty_chunks_skipped() -> None:
    messages = [_body(b'{"a"', True), _body(b"", True), {"type": "other"}, _body(b":1}")]
    request = _request([], messages)
    assert await read_body(request, 100) == b'{"a":1}'


async def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    request = _request([("content-length", "101")])  # no message to receive at all
    with pytest.raises(RequestTooLargeError, match="101 bytes exceeds the limit of 100"):
        await read_body(request, 100)


async def test_a_streamed_body_over_the_limit_is_413_at_the_chunk_that_crosses_it() -> None:
    messages = [_body(b"x" * 60, True), _body(b"x" * 60, True)]  # a third would hang
    request = _request([], messages)
    with pytest.raises(RequestTooLargeError, match="exceeds the limit of 100 bytes"):
        await read_body(request, 100)


@pytest.mark.parametrize("value", ["abc", "", "1.5", "-"])
async def test_an_invalid_content_length_is_400(value: str) -> None:
    request = _request([("content-length", value)], [_body(b"{}")])
    with pytest.raises(InvalidRequestError, match="invalid Content-Length"):
        await read_body(request, 100)


async def test_an_empty_body_is_400() -> None:
    request = _request([("content-length", "0")], [_body(b"")])
    with pytest.raises(InvalidRequestError, match="request body is empty"):
        await read_body(request, 100)


async def test_a_disconnect_while_reading_is_client_disconnect() -> None:
    request = _request([], [_body(b"{", True), {"type": "http.disconnect"}])
    with pytest.raises(ClientDisconnect):
        await read_body(request, 100)
