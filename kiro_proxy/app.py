"""Wires everything together: the only module that knows every part."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kiro_proxy import __version__
from kiro_proxy.admin.routes import install_admin, start_admin
from kiro_proxy.api import (
    anthropic_routes,
    common_routes,
    openai_routes,
    relay,
    responses_routes,
)
from kiro_proxy.api.cors import ModelApiCORS
from kiro_proxy.api.errors import error_response, flavour_for_path
from kiro_proxy.api.fast_path import ModelFastPath
from kiro_proxy.api.openapi import install_openapi
from kiro_proxy.api.services import Services
from kiro_proxy.config_file import ConfigFile, runtime_listener
from kiro_proxy.errors import (
    InvalidRequestError,
    NotFoundError,
    ProxyError,
)
from kiro_proxy.kiro.client import KiroClient
from kiro_proxy.observability import Observability
from kiro_proxy.pool.runtime import create_runtime
from kiro_proxy.settings import Settings

log = logging.getLogger("kiro_proxy")


def build_client(settings: Settings) -> KiroClient:
    return KiroClient(
        api_url=settings.kiro_api_url,
        codewhisperer_url=settings.kiro_codewhisperer_url,
        auth_url=settings.kiro_auth_url,
        oidc_url_template=settings.kiro_oidc_url,
        kiro_version=settings.kiro_version,
        agent_mode=settings.kiro_agent_mode,
        connect_timeout=settings.connect_timeout,
        first_byte_timeout=settings.first_byte_timeout,
        idle_timeout=settings.idle_timeout,
        proxy_url=settings.proxy_url,
        upstream_http_client=settings.upstream_http_client,
    )


class Gateway(FastAPI):
    """The FastAPI app, with the model routes served by `ModelFastPath` ahead of the
    middleware stack (api/fast_path.py); every other request goes through the stack."""

    fast_path: ModelFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast_path = self.fast_path
        if fast_path is not None:
            matched = fast_path.match(scope)
            if matched is not None:
                if self.middleware_stack is None:
                    self.middleware_stack = self.build_middleware_stack()
                await fast_path.serve(matched[0], matched[1], scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        # Built once, at the first request: the fast path takes the same exception handlers.
        stack = super().build_middleware_stack()
        if self.fast_path is not None:
            self.fast_path.bind_exception_handlers(self.exception_handlers)
        return stack


def create_app(settings: Settings) -> Gateway:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # First run: create data/config.json (Kiro-Go's fields, hashed password, mode 0600).
        config_file.ensure(admin_password=settings.admin_password)
        client = build_client(settings)
        await client.start()
        runtime = await create_runtime(settings, client)
        observability.attach(runtime, client)
        unsubscribe = config_file.subscribe(runtime_listener(runtime))
        await start_admin(app, runtime)  # sessions, login throttle, settings: shared by workers
        app.state.services = Services(settings=settings, client=client, runtime=runtime)
        await relay.warm_up()  # the first request no longer loads the tokenizer (api/relay.py)
        try:
            yield
        finally:
            unsubscribe()
            observability.detach()
            await runtime.close()
            await client.close()

    observability = Observability()
    config_file = ConfigFile(settings.config_path)
    app = Gateway(
        title="kiro-proxy",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_middleware(
        ModelApiCORS,  # the model API cross-origin without credentials; /admin same-origin only
        allow_origins=settings.cors_origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["x-request-id"],
    )
    # Added last = outermost: times and logs every request, CORS preflights included.
    observability.install(app)
    app.state.config_file = config_file
    app.include_router(anthropic_routes.router)
    app.include_router(openai_routes.router)
    app.include_router(responses_routes.router)
    app.include_router(common_routes.router)
    install_admin(app, settings)  # /admin panel and /admin/api (kiro_proxy/admin)
    fast_routes = _install_fast_model_routes(app)
    _install_error_handlers(app)
    install_openapi(app)  # request/response schemas and security schemes (api/openapi.py)
    app.fast_path = ModelFastPath(app, fast_routes, observability.observer)
    return app


class _PlainRoute(Route):
    """A Starlette route that, like FastAPI's, puts itself in the scope: the metrics and the
    access log label requests by `scope["route"].path`."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def _install_fast_model_routes(app: FastAPI) -> list[_PlainRoute]:
    """The model routes again as plain Starlette routes, matched before everything else.

    They take the raw Request and parse bodies themselves, so FastAPI's request handler
    (dependency solving, nested router dispatch) adds nothing but cost: about a sixth of a
    short request's CPU time in the profile (`kiro-proxy bench`). The FastAPI routes stay
    registered for the OpenAPI document; errors still reach the same exception handlers.
    Requests the fast path (api/fast_path.py) leaves to the stack, those from browsers above
    all, are served by these routes.
    """
    fast = [
        _PlainRoute(route.path, route.endpoint, methods=sorted(route.methods))
        for module in (anthropic_routes, openai_routes, responses_routes)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    ]
    app.router.routes[0:0] = fast
    return fast


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProxyError)
    async def _proxy_error(request: Request, error: ProxyError) -> Response:
        return error_response(error, flavour_for_path(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        return error_response(
            InvalidRequestError(f"invalid request: {error.errors()}"),
            flavour_for_path(request.url.path),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        path = request.url.path
        if error.status_code == 404:
            proxy_error: ProxyError = NotFoundError(f"no route for {request.method} {path}")
        elif error.status_code == 405:
            proxy_error = InvalidRequestError(f"method {request.method} not allowed on {path}")
            proxy_error.status = 405
        else:
            proxy_error = ProxyError(str(error.detail))
            proxy_error.status = error.status_code
        return error_response(proxy_error, flavour_for_path(path))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            ProxyError("internal error in the gateway; see its log for details"),
            flavour_for_path(request.url.path),
        )
