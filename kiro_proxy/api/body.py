"""Reading request bodies with a size limit (413 before the whole body is buffered).

Reads the ASGI messages directly rather than through `request.stream()` (an async generator
plus Starlette's Headers for the Content-Length): on a short request that wrapper work was
a measurable slice of the time before translation starts. The body read is then cached on the
Request as Starlette's own `request.body()` does, so a later `body()` or `stream()` returns it.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from kiro_proxy.errors import InvalidRequestError, RequestTooLargeError

_CONTENT_LENGTH = b"content-length"


def _declared_length(request: Request) -> bytes | None:
    for name, value in request.scope["headers"]:
        if name == _CONTENT_LENGTH:
            return value  # the first one, as `request.headers.get` would
    return None


async def read_body(request: Request, limit: int) -> bytes:
    declared = _declared_length(request)
    if declared is not None:
        try:
            size = int(declared.decode("latin-1"))
        except ValueError:
            raise InvalidRequestError("invalid Content-Length header") from None
        if size > limit:
            raise RequestTooLargeError(
                f"request body of {size} bytes exceeds the limit of {limit} bytes (MAX_BODY_BYTES)"
            )
    receive = request.receive
    chunks: list[bytes] = []
    received = 0
    more = True
    while more:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if chunk:
                received += len(chunk)
                if received > limit:
                    raise RequestTooLargeError(
                        f"request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)"
                    )
                chunks.append(chunk)
        elif kind == "http.disconnect":
            raise ClientDisconnect()
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # Starlette's cache of the read body (see `Request.body`)
    if not body:
        raise InvalidRequestError("request body is empty: send a JSON object")
    return body
