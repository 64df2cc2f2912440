"""The whole /metrics text after a representative run of observations, parsed back and compared
with the samples those observations must give: every family's name, type, HELP text and order,
every labelled series with its value, histogram buckets (bounds are inclusive), the model-label
cap, label sets beyond the lookup cache, and a `_created` sample for each counter and histogram
series. Written against the prometheus_client Counter/Histogram implementation and kept when the
metrics moved to a scrape-time collector, so the exposition stays what dashboards already read."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
from prometheus_client.parser import text_string_to_metric_families
from usage_rows import MESSAGES, SONNET, usage_row

from kiro_proxy.observability import Observability
from kiro_proxy.observability import metrics as metrics_module
from kiro_proxy.observability.metrics import (
    LATENCY_BUCKETS,
    MAX_MODEL_LABELS,
    OTHER,
    TTFT_BUCKETS,
)
from kiro_proxy.observability.middleware import RequestInfo

HAIKU = "claude-haiku-4.5"
CHAT = "/v1/chat/completions"

Key = tuple[str, frozenset[tuple[str, str]]]

FAMILIES = [
    ("kiro_proxy_requests", "counter", "HTTP requests by route, model and status code"),
    (
        "kiro_proxy_request_duration_seconds",
        "histogram",
        "Time from request start to the last response byte",
    ),
    (
        "kiro_proxy_time_to_first_token_seconds",
        "histogram",
        "Time from request start to Kiro's first event (after failover)",
    ),
    ("kiro_proxy_requests_in_flight", "gauge", "Requests being served now"),
    (
        "kiro_proxy_upstream_requests",
        "counter",
        "Requests that reached the pool, by model and outcome (success, error, cancelled)",
    ),
    (
        "kiro_proxy_upstream_errors",
        "counter",
        "Requests that ended in an upstream error, by error kind",
    ),
    (
        "kiro_proxy_failovers",
        "counter",
        "Extra accounts tried because an earlier one failed before the first byte",
    ),
    (
        "kiro_proxy_token_refreshes",
        "counter",
        "Access-token refresh calls to Kiro, by auth method and outcome",
    ),
    ("kiro_proxy_tokens", "counter", "Tokens, by direction (input, output) and model"),
    ("kiro_proxy_credits", "counter", "Kiro credits consumed, by model"),
    ("kiro_proxy_start_time_seconds", "gauge", "Unix time the gateway started"),
    ("kiro_proxy_accounts", "gauge", "Accounts by state (usable, cooling-down, …)"),
]

# (route, model, status, seconds): bounds hit exactly, a value past the last bound, no model.
REQUESTS: list[tuple[str, str | None, int, float]] = [
    (MESSAGES, SONNET, 200, 0.01),
    (MESSAGES, SONNET, 200, 0.2),
    (MESSAGES, SONNET, 200, 0.05),
    (MESSAGES, None, 400, 0.001),
    (CHAT, HAIKU, 200, 1.5),
    (CHAT, HAIKU, 502, 700.0),
    ("unmatched", None, 404, 0.0),
    (MESSAGES, SONNET, 200, 0.2),
]


USAGE = [
    usage_row(),
    usage_row(
        status="error", error_kind="throttled", attempts=3, output_tokens=0, first_token_ms=50
    ),
    usage_row(
        status="error",
        input_tokens=0,
        output_tokens=0,
        credits=0.0,
        first_token_ms=None,
        attempts=2,
    ),
    usage_row(status="cancelled", output_tokens=0, first_token_ms=200_000),
    usage_row(model=HAIKU, input_tokens=10, output_tokens=4, credits=0.0, first_token_ms=1000),
    usage_row(
        model=HAIKU,
        status="error",
        error_kind="throttled",
        input_tokens=0,
        output_tokens=0,
        credits=0.0,
        first_token_ms=None,
    ),
]

# Sonnet and haiku took two of the model labels; the rest go to the first random names.
RANDOM_LABELLED = MAX_MODEL_LABELS - 2
RANDOM_MODELS = [f"random-{n}" for n in range(RANDOM_LABELLED + 2)]


def _key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


def _histogram(name: str, bounds: Iterable[float], values: list[float], **labels: str) -> dict:
    """The samples a Prometheus histogram of `values` exposes: cumulative `le` buckets."""
    samples: dict[Key, float] = {}
    for bound, text in [*((b, repr(float(b))) for b in bounds), (float("inf"), "+Inf")]:
        samples[_key(f"{name}_bucket", le=text, **labels)] = sum(v <= bound for v in values)
    samples[_key(f"{name}_count", **labels)] = len(values)
    total = 0.0
    for value in values:
        total += value
    samples[_key(f"{name}_sum", **labels)] = total
    return samples


def _expected(started_at: float) -> dict[Key, float]:
    requests = "kiro_proxy_requests_total"
    upstream = "kiro_proxy_upstream_requests_total"
    tokens = "kiro_proxy_tokens_total"
    latency = "kiro_proxy_request_duration_seconds"
    ttft = "kiro_proxy_time_to_first_token_seconds"
    samples: dict[Key, float] = {
        _key(requests, route=MESSAGES, model=SONNET, status="200"): 4,
        _key(requests, route=MESSAGES, model="none", status="400"): 1,
        _key(requests, route=CHAT, model=HAIKU, status="200"): 1,
        _key(requests, route=CHAT, model=HAIKU, status="502"): 1,
        _key(requests, route="unmatched", model="none", status="404"): 1,
        _key(requests, route=MESSAGES, model="random-0", status="200"): 1,
        _key(requests, route=MESSAGES, model=OTHER, status="200"): 2,
        **_histogram(
            latency, LATENCY_BUCKETS, [0.01, 0.2, 0.05, 0.001, 0.2, 0.3, 0.3, 3.0], route=MESSAGES
        ),
        **_histogram(latency, LATENCY_BUCKETS, [1.5, 700.0], route=CHAT),
        **_histogram(latency, LATENCY_BUCKETS, [0.0], route="unmatched"),
        **_histogram(ttft, TTFT_BUCKETS, [0.3, 0.05, 200.0], model=SONNET),
        **_histogram(ttft, TTFT_BUCKETS, [1.0], model=HAIKU),
        _key("kiro_proxy_requests_in_flight"): 2,
        _key(upstream, model=SONNET, outcome="success"): 1,
        _key(upstream, model=SONNET, outcome="error"): 2,
        _key(upstream, model=SONNET, outcome="cancelled"): 1,
        _key(upstream, model=HAIKU, outcome="success"): 1,
        _key(upstream, model=HAIKU, outcome="error"): 1,
        _key(upstream, model=OTHER, outcome="success"): 2,
        _key("kiro_proxy_upstream_errors_total", kind="throttled"): 2,
        _key("kiro_proxy_upstream_errors_total", kind="unknown"): 1,
        _key("kiro_proxy_failovers_total"): 3,
        _key("kiro_proxy_token_refreshes_total", method="social", outcome="success"): 2,
        _key("kiro_proxy_token_refreshes_total", method="idc", outcome="failure"): 1,
        _key(tokens, direction="input", model=SONNET): 360,
        _key(tokens, direction="input", model=HAIKU): 10,
        _key(tokens, direction="input", model=OTHER): 10,
        _key(tokens, direction="output", model=SONNET): 30,
        _key(tokens, direction="output", model=HAIKU): 4,
        _key("kiro_proxy_credits_total", model=SONNET): 0.75,
        _key("kiro_proxy_start_time_seconds"): started_at,
        _key("kiro_proxy_accounts", state="usable"): 2,
        _key("kiro_proxy_accounts", state="cooling-down"): 1,
        _key("kiro_proxy_accounts", state="quota-exhausted"): 0,
        _key("kiro_proxy_accounts", state="disabled"): 0,
        _key("kiro_proxy_accounts", state="no-credentials"): 0,
        _key("kiro_proxy_accounts", state="some-new-state"): 1,
    }
    for model in RANDOM_MODELS[:RANDOM_LABELLED]:
        samples[_key(upstream, model=model, outcome="success")] = 1
        samples[_key(tokens, direction="input", model=model)] = 5
    return samples


def _observe(observability: Observability) -> None:
    metrics = observability.metrics
    for route, model, status, seconds in REQUESTS:
        metrics.observe_request(route, model, status, seconds)
    for row in USAGE:
        metrics.observe_usage(row)
    for model in RANDOM_MODELS:
        metrics.observe_usage(
            usage_row(
                model=model, input_tokens=5, output_tokens=0, credits=0.0, first_token_ms=None
            )
        )
    metrics.observe_request(MESSAGES, "random-0", 200, 0.3)
    metrics.observe_request(MESSAGES, RANDOM_MODELS[-1], 200, 0.3)
    metrics.observe_request(MESSAGES, RANDOM_MODELS[-2], 200, 3.0)
    metrics.observe_refresh("social", "success")
    metrics.observe_refresh("idc", "failure")
    metrics.observe_refresh("social", "success")
    states = ["usable", "cooling-down", "usable", "some-new-state"]
    metrics.watch_accounts(lambda: iter(states))
    for request_id in ("a", "b"):
        observability.tracker.active[request_id] = RequestInfo(request_id)


@pytest.mark.parametrize("cached_label_sets", [None, 1], ids=["cache", "past-the-cache"])
def test_exposition_after_a_representative_run(
    cached_label_sets: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if cached_label_sets is not None:
        # Every label set after the first is past the lookup cache: still counted, and on its
        # own series.
        monkeypatch.setattr(metrics_module, "MAX_CACHED_LABEL_SETS", cached_label_sets)
    before = time.time()
    observability = Observability()
    _observe(observability)
    after = time.time()
    families = list(text_string_to_metric_families(observability.metrics.render().decode()))

    main = [f for f in families if not f.name.endswith("_created")]
    assert [(f.name, f.type, f.documentation) for f in main] == FAMILIES
    samples = {_key(s.name, **s.labels): s.value for f in main for s in f.samples}
    assert samples == _expected(observability.metrics.started_at)

    # One `_created` gauge per counter and histogram series, stamped when it first appeared.
    help_texts = {name: text for name, _, text in FAMILIES}
    created = [f for f in families if f.name.endswith("_created")]
    with_series = [f.name for f in main if f.type in ("counter", "histogram")]
    assert [f.name for f in created] == [f"{name}_created" for name in with_series]
    stamped: set[Key] = set()
    for family in created:
        assert (family.type, family.documentation) == ("gauge", help_texts[family.name[:-8]])
        for sample in family.samples:
            assert before <= sample.value <= after
            stamped.add(_key(sample.name[: -len("_created")], **sample.labels))
    series = {
        (name.removesuffix("_total").removesuffix("_count"), labels)
        for name, labels in samples
        if name.endswith(("_total", "_count"))
    }
    assert stamped == series


def test_no_created_samples_when_prometheus_client_is_told_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PROMETHEUS_DISABLE_CREATED_SERIES (read into STAMP_CREATED) drops every `_created`
    sample, as it does for prometheus_client's own metrics; the series themselves stay."""
    monkeypatch.setattr(metrics_module, "STAMP_CREATED", False)
    observability = Observability()
    _observe(observability)
    text = observability.metrics.render().decode()
    assert "_created" not in text
    families = text_string_to_metric_families(text)
    samples = {_key(s.name, **s.labels): s.value for f in families for s in f.samples}
    assert samples == _expected(observability.metrics.started_at)
