"""The JSON answer of the model routes, built without Starlette's generic header assembly.

`JsonResponse(body_bytes, status)` sends exactly what `Response(body_bytes, status_code=status,
media_type="application/json")` sends (same headers in the same order, same body); it only skips
`render` and `init_headers`, and the fast path (api/fast_path.py) sends its two ASGI messages
itself instead of wrapping `send`.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

_CONTENT_TYPE = (b"content-type", b"application/json")


class JsonResponse(Response):
    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        if status_code < 200 or status_code in (204, 304):  # as Starlette: no length on these
            self.raw_headers = [_CONTENT_TYPE]
        else:
            self.raw_headers = [
                (b"content-length", str(len(body)).encode("latin-1")),
                _CONTENT_TYPE,
            ]


def json_response(body: object, status: int = 200) -> JsonResponse:
    """`body` serialised with orjson, as the model and common routes answer."""
    return JsonResponse(orjson.dumps(body), status)
