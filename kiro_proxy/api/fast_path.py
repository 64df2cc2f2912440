"""The model routes served in one ASGI layer, in front of the FastAPI middleware stack.

A POST to a model route (`/v1/messages`, `/v1/chat/completions`, `/v1/responses` and their
aliases) used to pass ten layers before reaching its endpoint: FastAPI's telemetry check,
ServerErrorMiddleware, ExceptionTelemetryMiddleware, AppBodyLimitMiddleware, the observability
middleware, CORS, ExceptionMiddleware, AsyncExitStackMiddleware, the router and Starlette's
request_response wrapper. Each wraps `send` or builds a Request of its own; together they were
about a tenth of a short request's CPU time. `ModelFastPath` does for these routes exactly what
that stack does for them, once:

- the request id, in-flight tracking, metrics and access-log line (the same `RequestObserver`
  as `ObservabilityMiddleware`, so the same fields, labels and tracker);
- the `Vary: Origin` header Starlette's CORS middleware adds to answers to requests without an
  `Origin` (caches must not serve them to browsers);
- `scope["route"]` (metrics label), `scope["app"]` (routes read `request.app.state`) and the
  other keys the router would set;
- the app's exception handlers, looked up like Starlette's ExceptionMiddleware does (class MRO,
  status-code handlers for HTTPException), and the 500 handler like ServerErrorMiddleware: the
  error is logged, a 500 sent when no response started, and the exception re-raised to the
  server, which logs it too. As in the full stack, that 500 carries no x-request-id (the
  observability layer sits inside ServerErrorMiddleware there).

What it leaves to the full stack: every other method and path, requests with an `Origin` header
(browsers: CORS answers and preflights stay with the CORS middleware), and apps mounted under a
root path. The FastAPI app's body-size limit (`max_body_size`) is off; the 413 comes from the
endpoints' own `read_body`, which behaves the same on both paths. FastAPI's native OpenTelemetry
(active only when a tracer/meter/logger provider is configured; kiro-proxy configures none) does
not see fast-path requests.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiro_proxy.api.json_response import JsonResponse
from kiro_proxy.observability.middleware import (
    REQUEST_ID_HEADER,
    RequestObserver,
    valid_request_id,
)

Handler = Callable[[Request, Exception], Awaitable[Response | None]]
Endpoint = Callable[[Request], Awaitable[Response]]

_ORIGIN_HEADER = b"origin"
_VARY_HEADER = b"vary"
_VARY_ORIGIN = (_VARY_HEADER, b"Origin")
_HANDLED_AFTER_START = "Caught handled exception, but response already started."


class ExceptionHandlers:
    """The app's exception handlers split the way FastAPI's `build_middleware_stack` splits
    them: `Exception`/500 is the server-error handler, status codes are HTTPException handlers,
    the other classes are matched along the exception's MRO."""

    def __init__(self, handlers: Mapping[Any, Callable[..., Any]]) -> None:
        self.server_error: Handler | None = None
        self.by_status: dict[int, Handler] = {}
        self.by_class: dict[type[BaseException], Handler] = {}
        for key, handler in handlers.items():
            asynchronous = _as_async(handler)
            if key in (500, Exception):
                self.server_error = asynchronous
            elif isinstance(key, int):
                self.by_status[key] = asynchronous
            else:
                self.by_class[key] = asynchronous

    def handler_for(self, error: Exception) -> Handler | None:
        if isinstance(error, HTTPException):
            handler = self.by_status.get(error.status_code)
            if handler is not None:
                return handler
        by_class = self.by_class
        for cls in type(error).__mro__:
            handler = by_class.get(cls)
            if handler is not None:
                return handler
        return None


def _response_headers(start: Message, request_id: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """The response's headers plus what the middleware stack adds for a request without an
    Origin: `Vary: Origin` (merged into an existing Vary as Starlette's CORS middleware does),
    then the request id."""
    headers: list[tuple[bytes, bytes]] = list(start.get("headers", ()))
    vary = [index for index, (name, _) in enumerate(headers) if name == _VARY_HEADER]
    if not vary:
        headers.append(_VARY_ORIGIN)
    else:
        merged = b", ".join([*(headers[index][1] for index in vary), b"Origin"])
        for index in reversed(vary[1:]):
            del headers[index]
        headers[vary[0]] = (_VARY_HEADER, merged)
    headers.append(request_id)
    return headers


def _as_async(handler: Callable[..., Any]) -> Handler:
    if inspect.iscoroutinefunction(handler):
        return handler  # type: ignore[no-any-return]
    return functools.partial(run_in_threadpool, handler)


class ModelFastPath:
    def __init__(self, app: ASGIApp, routes: Iterable[Route], observer: RequestObserver) -> None:
        self._app = app
        self._router = getattr(app, "router", None)
        self._observer = observer
        self._routes: dict[str, Route] = {}
        for route in routes:
            if route.methods != {"POST"}:
                raise ValueError(f"fast path serves POST-only routes, not {route.methods}")
            if not inspect.iscoroutinefunction(route.endpoint):
                raise ValueError(f"fast path endpoints are async functions: {route.path}")
            self._routes[route.path] = route
        self._handlers = ExceptionHandlers({})

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(self._routes)

    def bind_exception_handlers(self, handlers: Mapping[Any, Callable[..., Any]]) -> None:
        """Called when the app builds its middleware stack, so both use the same handlers."""
        self._handlers = ExceptionHandlers(handlers)

    def match(self, scope: Scope) -> tuple[Route, bytes | None] | None:
        """The route and the caller's raw x-request-id when this layer serves the request."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        route = self._routes.get(scope["path"])
        if route is None or scope.get("root_path"):
            return None
        incoming: bytes | None = None
        seen_id = False
        for name, value in scope["headers"]:
            if name == _ORIGIN_HEADER:
                return None
            if name == REQUEST_ID_HEADER and not seen_id:
                incoming = value
                seen_id = True
        return route, incoming

    async def serve(
        self, route: Route, incoming_id: bytes | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["app"] = self._app
        scope["router"] = self._router
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        scope["route"] = route
        request = Request(scope, receive, send)
        # ServerErrorMiddleware's part: knows whether a response started on the wire.
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._observed(route.endpoint, request, incoming_id, scope, send_tracked)
        except Exception as error:
            handler = self._handlers.server_error
            response = (
                await handler(request, error)
                if handler is not None
                else PlainTextResponse("Internal Server Error", status_code=500)
            )
            if not started and response is not None:
                await response(scope, receive, send)
            raise

    async def _observed(
        self,
        endpoint: Endpoint,
        request: Request,
        incoming_id: bytes | None,
        scope: Scope,
        send: Send,
    ) -> None:
        """ObservabilityMiddleware's part, with the exception handlers inside it."""
        begun = time.perf_counter()
        observer = self._observer
        info = observer.begin(scope, valid_request_id(incoming_id) if incoming_id else None)
        header = (REQUEST_ID_HEADER, info.request_id.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": _response_headers(message, header)}
            await send(message)

        receive = request.receive
        try:
            try:
                response = await endpoint(request)
                if type(response) is JsonResponse:
                    # What send_with_id makes of its two messages (a JsonResponse has no Vary).
                    status = response.status_code
                    headers = [*response.raw_headers, _VARY_ORIGIN, header]
                    await send(
                        {"type": "http.response.start", "status": status, "headers": headers}
                    )
                    await send({"type": "http.response.body", "body": response.body})
                else:
                    await response(scope, receive, send_with_id)
            except Exception as error:
                handler = self._handlers.handler_for(error)
                if handler is None:
                    raise
                if status != 0:
                    raise RuntimeError(_HANDLED_AFTER_START) from error
                handled = await handler(request, error)
                if handled is not None:
                    await handled(scope, receive, send_with_id)
                error.__traceback__ = None  # as Starlette: reused errors must not pile up frames
        except BaseException:
            if status == 0:
                status = 500
            raise
        finally:
            observer.end(scope, info, status, time.perf_counter() - begun)
