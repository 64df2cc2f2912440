"""Reading request bodies with a size limit (413 before the whole body is buffered)."""

from __future__ import annotations

from starlette.requests import Request

from kiro_proxy.errors import InvalidRequestError, RequestTooLargeError


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidRequestError("invalid Content-Length header") from None
        if size > limit:
            raise RequestTooLargeError(
                f"request body of {size} bytes exceeds the limit of {limit} bytes (MAX_BODY_BYTES)"
            )
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise RequestTooLargeError(
                f"request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)"
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise InvalidRequestError("request body is empty: send a JSON object")
    return body
