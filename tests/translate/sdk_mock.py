"""An httpx2 client for the anthropic/openai SDKs that answers every request with one SSE body."""

import httpx2


def sse_http_client(body: bytes) -> httpx2.Client:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx2.Client(transport=httpx2.MockTransport(handler))
