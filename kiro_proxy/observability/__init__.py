"""Logs, request ids and Prometheus metrics for the gateway.

app.py calls `Observability.install(app)` when it builds the app and `attach(runtime, client)`
once the pool runtime exists; the CLI calls `setup_logging` before starting the server.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from kiro_proxy.observability.instrument import (
    account_states,
    observe_refreshes,
    observe_usage,
    register_account_secrets,
)
from kiro_proxy.observability.logging_setup import setup_logging
from kiro_proxy.observability.metrics import CONTENT_TYPE, Metrics
from kiro_proxy.observability.middleware import (
    ObservabilityMiddleware,
    RequestInfo,
    RequestObserver,
    RequestTracker,
)
from kiro_proxy.observability.redaction import known_secrets, redact

__all__ = [
    "Metrics",
    "Observability",
    "ObservabilityMiddleware",
    "RequestInfo",
    "RequestObserver",
    "RequestTracker",
    "known_secrets",
    "redact",
    "setup_logging",
]


class Observability:
    def __init__(self) -> None:
        self.metrics = Metrics()
        self.tracker = RequestTracker()
        # Shared by the middleware and the model routes' fast path (api/fast_path.py).
        self.observer = RequestObserver(metrics=self.metrics, tracker=self.tracker)
        # Read at scrape time: no per-request cost.
        self.metrics.in_flight.set_function(lambda: len(self.tracker))

    def install(self, app: FastAPI) -> None:
        """Outermost middleware (so it times and logs everything) plus `GET /metrics`."""
        app.add_middleware(ObservabilityMiddleware, observer=self.observer)
        metrics = self.metrics

        async def metrics_endpoint(request: Request) -> Response:
            return Response(metrics.render(), media_type=CONTENT_TYPE)

        app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
        app.state.observability = self

    def attach(self, runtime: Any, client: Any) -> None:
        observe_usage(runtime.recorder, self.metrics, self.tracker)
        observe_refreshes(client, self.metrics)
        self.metrics.watch_accounts(account_states(runtime.pool))
        register_account_secrets(runtime.pool)

    def detach(self) -> None:
        self.metrics.watch_accounts(None)
