"""Metrics fed from usage rows and the pool, rendered in Prometheus' text format."""

from __future__ import annotations

from usage_rows import usage_row

from kiro_proxy.observability.metrics import MAX_MODEL_LABELS, OTHER, Metrics


def _sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    return metrics.registry.get_sample_value(name, labels or {})


def test_usage_rows_feed_tokens_credits_ttft_errors_and_failovers() -> None:
    metrics = Metrics()
    metrics.observe_usage(usage_row())
    metrics.observe_usage(
        usage_row(status="error", error_kind="throttled", attempts=3, output_tokens=0)
    )
    model = {"model": "claude-sonnet-4.5"}
    assert _sample(metrics, "kiro_proxy_tokens_total", {"direction": "input", **model}) == 240
    assert _sample(metrics, "kiro_proxy_tokens_total", {"direction": "output", **model}) == 30
    assert _sample(metrics, "kiro_proxy_credits_total", model) == 0.5
    assert _sample(metrics, "kiro_proxy_time_to_first_token_seconds_count", model) == 2
    assert _sample(metrics, "kiro_proxy_time_to_first_token_seconds_sum", model) == 0.6
    assert _sample(metrics, "kiro_proxy_upstream_errors_total", {"kind": "throttled"}) == 1
    assert _sample(metrics, "kiro_proxy_failovers_total") == 2
    outcome = {**model, "outcome": "error"}
    assert _sample(metrics, "kiro_proxy_upstream_requests_total", outcome) == 1


def test_account_states_are_read_at_scrape_time() -> None:
    metrics = Metrics()
    states = ["usable", "usable", "cooling-down"]
    metrics.watch_accounts(lambda: iter(states))
    assert _sample(metrics, "kiro_proxy_accounts", {"state": "usable"}) == 2
    states.append("disabled")
    assert _sample(metrics, "kiro_proxy_accounts", {"state": "disabled"}) == 1
    assert _sample(metrics, "kiro_proxy_accounts", {"state": "quota-exhausted"}) == 0


def test_refreshes_are_counted_by_method_and_outcome() -> None:
    metrics = Metrics()
    metrics.observe_refresh("social", "success")
    metrics.observe_refresh("idc", "failure")
    assert (
        _sample(
            metrics, "kiro_proxy_token_refreshes_total", {"method": "social", "outcome": "success"}
        )
        == 1
    )
    assert b"kiro_proxy_token_refreshes_total" in metrics.render()


def test_client_chosen_model_names_cannot_grow_the_registry_without_bound() -> None:
    metrics = Metrics()
    labels = {metrics.model_label(f"random-{n}") for n in range(MAX_MODEL_LABELS + 50)}
    assert len(labels) == MAX_MODEL_LABELS + 1
    assert OTHER in labels
    assert metrics.model_label("random-1") == "random-1"  # already known: kept


def test_repeated_usage_rows_keep_counting_on_each_label_set() -> None:
    """The labelled series are looked up once per (model, status) and reused: every row still
    lands on its own model's and outcome's series, and nowhere else."""
    metrics = Metrics()
    for _ in range(3):
        metrics.observe_usage(usage_row())
        metrics.observe_usage(usage_row(model="claude-haiku-4.5", input_tokens=10, credits=0.0))
        metrics.observe_usage(
            usage_row(status="error", error_kind="throttled", first_token_ms=None)
        )
        metrics.observe_usage(usage_row(status="error", error_kind=None, first_token_ms=None))
        metrics.observe_usage(usage_row(status="cancelled", output_tokens=0, first_token_ms=None))
    sonnet = {"model": "claude-sonnet-4.5"}
    haiku = {"model": "claude-haiku-4.5"}
    requests = "kiro_proxy_upstream_requests_total"
    assert _sample(metrics, requests, {**sonnet, "outcome": "success"}) == 3
    assert _sample(metrics, requests, {**sonnet, "outcome": "error"}) == 6
    assert _sample(metrics, requests, {**sonnet, "outcome": "cancelled"}) == 3
    assert _sample(metrics, requests, {**haiku, "outcome": "success"}) == 3
    assert _sample(metrics, "kiro_proxy_tokens_total", {"direction": "input", **sonnet}) == 12 * 120
    assert _sample(metrics, "kiro_proxy_tokens_total", {"direction": "input", **haiku}) == 30
    assert _sample(metrics, "kiro_proxy_tokens_total", {"direction": "output", **sonnet}) == 9 * 30
    assert _sample(metrics, "kiro_proxy_credits_total", sonnet) == 12 * 0.25
    assert _sample(metrics, "kiro_proxy_credits_total", haiku) is None  # never a positive credit
    assert _sample(metrics, "kiro_proxy_time_to_first_token_seconds_count", sonnet) == 3
    assert _sample(metrics, "kiro_proxy_time_to_first_token_seconds_count", haiku) == 3
    assert _sample(metrics, "kiro_proxy_upstream_errors_total", {"kind": "throttled"}) == 3
    assert _sample(metrics, "kiro_proxy_upstream_errors_total", {"kind": "unknown"}) == 3


def test_usage_rows_past_the_model_cap_count_as_other() -> None:
    metrics = Metrics()
    for n in range(MAX_MODEL_LABELS + 5):
        metrics.observe_usage(usage_row(model=f"random-{n}"))
        metrics.observe_usage(usage_row(model=f"random-{n}"))
    other = {"model": OTHER, "outcome": "success"}
    assert _sample(metrics, "kiro_proxy_upstream_requests_total", other) == 10
    first = {"model": "random-0", "outcome": "success"}
    assert _sample(metrics, "kiro_proxy_upstream_requests_total", first) == 2
