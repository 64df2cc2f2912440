"""Prometheus metrics, one registry per app (tests build many apps in one process).

Request-level figures come from the middleware; upstream figures (model, tokens, credits, time
to first token, error kinds) from the usage rows the dispatcher records; account states are read
from the pool at scrape time, so they are never stale and cost nothing per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from kiro_proxy.pool.usage import UsageRow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds. Chat completions run from a fraction of a second to many minutes.
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)

# The model label comes from the client; cap distinct values so a client sending random names
# cannot grow the registry without bound.
MAX_MODEL_LABELS = 64
OTHER = "other"
MAX_CACHED_LABEL_SETS = 4096

AccountStates = Callable[[], Iterable[str]]


class _AccountStateCollector(Collector):
    def __init__(self, source: Callable[[], AccountStates | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "kiro_proxy_accounts", "Accounts by state (usable, cooling-down, …)", labels=["state"]
        )
        counts = dict.fromkeys(
            ("usable", "cooling-down", "quota-exhausted", "disabled", "no-credentials"), 0
        )
        states = self._source()
        if states is not None:
            for state in states():
                counts[state] = counts.get(state, 0) + 1
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family


@dataclass(slots=True)
class _UsageChildren:
    """The labelled series one (model, status) pair of usage rows feeds, each looked up the first
    time it is needed (a series appears in /metrics only once something was counted on it)."""

    model: str  # the label (capped, see model_label)
    requests: Any
    ttft: Any = None
    input_tokens: Any = None
    output_tokens: Any = None
    credits: Any = None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "kiro_proxy_requests",
            "HTTP requests by route, model and status code",
            ["route", "model", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "kiro_proxy_request_duration_seconds",
            "Time from request start to the last response byte",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "kiro_proxy_time_to_first_token_seconds",
            "Time from request start to Kiro's first event (after failover)",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "kiro_proxy_requests_in_flight", "Requests being served now", registry=r
        )
        self.upstream_requests = Counter(
            "kiro_proxy_upstream_requests",
            "Requests that reached the pool, by model and outcome (success, error, cancelled)",
            ["model", "outcome"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "kiro_proxy_upstream_errors",
            "Requests that ended in an upstream error, by error kind",
            ["kind"],
            registry=r,
        )
        self.failovers = Counter(
            "kiro_proxy_failovers",
            "Extra accounts tried because an earlier one failed before the first byte",
            registry=r,
        )
        self.refreshes = Counter(
            "kiro_proxy_token_refreshes",
            "Access-token refresh calls to Kiro, by auth method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.tokens = Counter(
            "kiro_proxy_tokens",
            "Tokens, by direction (input, output) and model",
            ["direction", "model"],
            registry=r,
        )
        self.credits = Counter(
            "kiro_proxy_credits", "Kiro credits consumed, by model", ["model"], registry=r
        )
        self.started_at = time.time()
        Gauge("kiro_proxy_start_time_seconds", "Unix time the gateway started", registry=r).set(
            self.started_at
        )
        self._account_states: AccountStates | None = None
        r.register(_AccountStateCollector(lambda: self._account_states))
        self._models: set[str] = set()
        self._request_children: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}
        self._usage_children: dict[tuple[str, str], _UsageChildren] = {}
        self._error_children: dict[str, Any] = {}

    def watch_accounts(self, states: AccountStates | None) -> None:
        """Give the scrape a way to read account states (the pool, once the runtime exists)."""
        self._account_states = states

    def model_label(self, model: str | None) -> str:
        if not model:
            return "none"
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODEL_LABELS:
            return OTHER
        self._models.add(model)
        return model

    def observe_request(self, route: str, model: str | None, status: int, seconds: float) -> None:
        key = (route, model, status)
        children = self._request_children.get(key)
        if children is None:
            # `labels()` hashes and locks on every call; the label sets are few, so keep them.
            children = (
                self.requests.labels(route, self.model_label(model), str(status)),
                self.latency.labels(route),
            )
            if len(self._request_children) < MAX_CACHED_LABEL_SETS:
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_usage(self, row: UsageRow) -> None:
        key = (row.model, row.status)
        children = self._usage_children.get(key)
        if children is None:
            # Like observe_request: `labels()` (hashing, a lock) on up to five metrics per
            # request cost more than the rest of the bookkeeping; the (model, status) pairs are
            # few, so their series are kept.
            model = self.model_label(row.model)
            children = _UsageChildren(model, self.upstream_requests.labels(model, row.status))
            if len(self._usage_children) < MAX_CACHED_LABEL_SETS:
                self._usage_children[key] = children
        children.requests.inc()
        if row.status == "error":
            kind = row.error_kind or "unknown"
            errors = self._error_children.get(kind)
            if errors is None:
                errors = self.upstream_errors.labels(kind)
                if len(self._error_children) < MAX_CACHED_LABEL_SETS:
                    self._error_children[kind] = errors
            errors.inc()
        if row.attempts > 1:
            self.failovers.inc(row.attempts - 1)
        if row.first_token_ms is not None:
            if children.ttft is None:
                children.ttft = self.ttft.labels(children.model)
            children.ttft.observe(row.first_token_ms / 1000)
        if row.input_tokens > 0:
            if children.input_tokens is None:
                children.input_tokens = self.tokens.labels("input", children.model)
            children.input_tokens.inc(row.input_tokens)
        if row.output_tokens > 0:
            if children.output_tokens is None:
                children.output_tokens = self.tokens.labels("output", children.model)
            children.output_tokens.inc(row.output_tokens)
        if row.credits > 0:
            if children.credits is None:
                children.credits = self.credits.labels(children.model)
            children.credits.inc(row.credits)

    def observe_refresh(self, method: str, outcome: str) -> None:
        self.refreshes.labels(method, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
