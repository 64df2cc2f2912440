"""Prometheus metrics, one registry per app (tests build many apps in one process).

Request-level figures come from the middleware; upstream figures (model, tokens, credits, time
to first token, error kinds) from the usage rows the dispatcher records; account states are read
from the pool at scrape time, so they are never stale and cost nothing per request.

The request path does plain arithmetic only: each label set has a small series object (a counter's
value, a histogram's per-bucket counts and sum) looked up once per label set and kept, and a
histogram's bucket is found with `bisect`. The exposition is built at scrape time by one
prometheus_client Collector, which yields metric families for prometheus_client to print; the
families, names, HELP texts, labels, values and `_created` samples are those prometheus_client's
own Counter and Histogram printed (tests/ops/test_metrics_exposition.py holds them to it). A
prometheus_client Counter costs 0.4-0.8 µs per update (a lock, argument checks, several calls),
several times per request.

Threads: the series are updated without locks, which is correct because the gateway observes
requests, usage rows and refreshes on its event loop thread only, and scrapes (GET /metrics) run
on that same loop. Updating these metrics from another thread would race with the loop.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

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
# Lookups by the raw (unlabelled) values a request carries are cached up to this many keys; past
# it each observation finds its series by label values instead (counted all the same).
MAX_CACHED_LABEL_SETS = 4096

# prometheus_client's own switch for `_created` samples, honoured the same way.
STAMP_CREATED = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in (
    "true",
    "1",
    "t",
)

AccountStates = Callable[[], Iterable[str]]
Labels = tuple[str, ...]

_LATENCY_BOUNDS = tuple(float(b) for b in LATENCY_BUCKETS)
_TTFT_BOUNDS = tuple(float(b) for b in TTFT_BUCKETS)
_ACCOUNT_STATES = ("usable", "cooling-down", "quota-exhausted", "disabled", "no-credentials")


class _CounterSeries:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()


class _HistogramSeries:
    """`buckets[i]` counts the observations whose first bound `>=` them is bound i (the last
    slot is +Inf), as `bisect_left` over the bounds finds it; cumulated at scrape time."""

    __slots__ = ("buckets", "created", "sum")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.sum = 0.0
        self.created = time.time()


class _Counter:
    """A counter family: its series by label values, created on first use."""

    def __init__(self, name: str, documentation: str, labelnames: Labels = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.series: dict[Labels, _CounterSeries] = {}
        if not labelnames:  # an unlabelled counter is shown (at 0) from the start
            self.get(())

    def get(self, labels: Labels) -> _CounterSeries:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = _CounterSeries()
        return series

    def collect(self) -> list[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, series in self.series.items():
            created = series.created if STAMP_CREATED else None
            family.add_metric(labels, series.value, created=created)
        return [family]


class _Histogram:
    def __init__(
        self, name: str, documentation: str, labelnames: Labels, bounds: tuple[float, ...]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.bounds = bounds
        self._les = [*(floatToGoString(b) for b in bounds), "+Inf"]
        self.series: dict[Labels, _HistogramSeries] = {}

    def get(self, labels: Labels) -> _HistogramSeries:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = _HistogramSeries(len(self.bounds) + 1)
        return series

    def collect(self) -> list[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, series in self.series.items():
            cumulative = 0.0
            buckets = []
            for le, count in zip(self._les, series.buckets, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(labels, buckets, series.sum)
            if STAMP_CREATED:
                labelled = dict(zip(self.labelnames, labels, strict=True))
                family.samples.append(Sample(f"{self.name}_created", labelled, series.created))
        return [family]


class _Gauge:
    """A gauge read at scrape time."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name = name
        self.documentation = documentation
        self._read = read

    def set_function(self, read: Callable[[], float]) -> None:
        self._read = read

    def collect(self) -> list[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation, value=self._read())]


@dataclass(slots=True)
class _UsageSlots:
    """The series one (model, status) pair of usage rows feeds, each looked up the first time
    it is needed (a series appears in /metrics only once something was counted on it)."""

    model: str  # the label (capped, see model_label)
    requests: _CounterSeries
    ttft: _HistogramSeries | None = None
    input_tokens: _CounterSeries | None = None
    output_tokens: _CounterSeries | None = None
    credits: _CounterSeries | None = None


class _MetricsCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        for source in (
            m.requests,
            m.latency,
            m.ttft,
            m.in_flight,
            m.upstream_requests,
            m.upstream_errors,
            m.failovers,
            m.refreshes,
            m.tokens,
            m.credits,
            m.start_time,
        ):
            yield from source.collect()
        yield m.accounts_family()


class Metrics:
    def __init__(self) -> None:
        self.requests = _Counter(
            "kiro_proxy_requests",
            "HTTP requests by route, model and status code",
            ("route", "model", "status"),
        )
        self.latency = _Histogram(
            "kiro_proxy_request_duration_seconds",
            "Time from request start to the last response byte",
            ("route",),
            _LATENCY_BOUNDS,
        )
        self.ttft = _Histogram(
            "kiro_proxy_time_to_first_token_seconds",
            "Time from request start to Kiro's first event (after failover)",
            ("model",),
            _TTFT_BOUNDS,
        )
        self.in_flight = _Gauge(
            "kiro_proxy_requests_in_flight", "Requests being served now", lambda: 0.0
        )
        self.upstream_requests = _Counter(
            "kiro_proxy_upstream_requests",
            "Requests that reached the pool, by model and outcome (success, error, cancelled)",
            ("model", "outcome"),
        )
        self.upstream_errors = _Counter(
            "kiro_proxy_upstream_errors",
            "Requests that ended in an upstream error, by error kind",
            ("kind",),
        )
        self.failovers = _Counter(
            "kiro_proxy_failovers",
            "Extra accounts tried because an earlier one failed before the first byte",
        )
        self.refreshes = _Counter(
            "kiro_proxy_token_refreshes",
            "Access-token refresh calls to Kiro, by auth method and outcome",
            ("method", "outcome"),
        )
        self.tokens = _Counter(
            "kiro_proxy_tokens",
            "Tokens, by direction (input, output) and model",
            ("direction", "model"),
        )
        self.credits = _Counter("kiro_proxy_credits", "Kiro credits consumed, by model", ("model",))
        self.started_at = time.time()
        started_at = self.started_at
        self.start_time = _Gauge(
            "kiro_proxy_start_time_seconds", "Unix time the gateway started", lambda: started_at
        )
        self._failovers = self.failovers.get(())
        self._account_states: AccountStates | None = None
        self._models: set[str] = set()
        self._request_slots: dict[
            tuple[str, str | None, int], tuple[_CounterSeries, _HistogramSeries]
        ] = {}
        self._usage_slots: dict[tuple[str, str], _UsageSlots] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_MetricsCollector(self))

    def watch_accounts(self, states: AccountStates | None) -> None:
        """Give the scrape a way to read account states (the pool, once the runtime exists)."""
        self._account_states = states

    def accounts_family(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "kiro_proxy_accounts", "Accounts by state (usable, cooling-down, …)", labels=["state"]
        )
        counts = dict.fromkeys(_ACCOUNT_STATES, 0)
        states = self._account_states
        if states is not None:
            for state in states():
                counts[state] = counts.get(state, 0) + 1
        for state, count in counts.items():
            family.add_metric([state], count)
        return family

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
        slots = self._request_slots.get((route, model, status))
        if slots is None:
            slots = self._new_request_slots(route, model, status)
        requests, latency = slots
        requests.value += 1
        latency.buckets[bisect_left(_LATENCY_BOUNDS, seconds)] += 1
        latency.sum += seconds

    def _new_request_slots(
        self, route: str, model: str | None, status: int
    ) -> tuple[_CounterSeries, _HistogramSeries]:
        slots = (
            self.requests.get((route, self.model_label(model), str(status))),
            self.latency.get((route,)),
        )
        if len(self._request_slots) < MAX_CACHED_LABEL_SETS:
            self._request_slots[route, model, status] = slots
        return slots

    def observe_usage(self, row: UsageRow) -> None:
        slots = self._usage_slots.get((row.model, row.status))
        if slots is None:
            slots = self._new_usage_slots(row.model, row.status)
        slots.requests.value += 1
        if row.status == "error":
            self.upstream_errors.get((row.error_kind or "unknown",)).value += 1
        if row.attempts > 1:
            self._failovers.value += row.attempts - 1
        if row.first_token_ms is not None:
            ttft = slots.ttft
            if ttft is None:
                ttft = slots.ttft = self.ttft.get((slots.model,))
            seconds = row.first_token_ms / 1000
            ttft.buckets[bisect_left(_TTFT_BOUNDS, seconds)] += 1
            ttft.sum += seconds
        if row.input_tokens > 0:
            series = slots.input_tokens
            if series is None:
                series = slots.input_tokens = self.tokens.get(("input", slots.model))
            series.value += row.input_tokens
        if row.output_tokens > 0:
            series = slots.output_tokens
            if series is None:
                series = slots.output_tokens = self.tokens.get(("output", slots.model))
            series.value += row.output_tokens
        if row.credits > 0:
            series = slots.credits
            if series is None:
                series = slots.credits = self.credits.get((slots.model,))
            series.value += row.credits

    def _new_usage_slots(self, model: str, status: str) -> _UsageSlots:
        label = self.model_label(model)
        slots = _UsageSlots(label, self.upstream_requests.get((label, status)))
        if len(self._usage_slots) < MAX_CACHED_LABEL_SETS:
            self._usage_slots[model, status] = slots
        return slots

    def observe_refresh(self, method: str, outcome: str) -> None:
        self.refreshes.get((method, outcome)).value += 1

    def render(self) -> bytes:
        return generate_latest(self.registry)
