"""CORS for the model API only.

Browser-based clients (and Kiro-Go's users) call /v1/* from other origins, so the model routes
answer `Access-Control-Allow-Origin` for the configured origins (default `*`), never with
credentials: API keys travel in headers, not cookies. The admin panel is same-origin only: its
routes get no CORS headers at all, so no other site can read admin answers, with or without
the session cookie (which is also SameSite=Strict, and every change needs the CSRF header).
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

ADMIN_PREFIX = "/admin"


class ModelApiCORS(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
