"""Smoke test of `kiro-proxy bench --quick`: it runs end to end (simulator, gateway process,
load-generator processes) and writes well-formed JSON and Markdown with every figure. Timing
values are not checked: CI machines are too noisy for that."""

from __future__ import annotations

import math

import orjson
import pytest
from typer.testing import CliRunner

from kiro_proxy.bench.report import _ROWS, TARGETS, cpu_budget, headline, targets
from kiro_proxy.cli import app

LOAD_PHASES = ("nonstream_c32", "nonstream_c1", "stream_c32", "stream_c1")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    outcome = CliRunner().invoke(app, ["bench", "--quick", "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    json_files = sorted(out.glob("bench-*.json"))
    md_files = sorted(out.glob("bench-*.md"))
    assert len(json_files) == 1 and len(md_files) == 1
    assert (out / "latest.json").read_bytes() == json_files[0].read_bytes()
    return orjson.loads(json_files[0].read_bytes()), md_files[0].read_text()


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.parametrize("phase", LOAD_PHASES)
@pytest.mark.parametrize("target", ["gateway", "simulator"])
def test_every_load_phase_has_its_figures(
    results: tuple[dict, str], phase: str, target: str
) -> None:
    r = results[0]["phases"][phase][target]
    assert r["errors"] == 0, r["error_samples"]
    assert r["requests"] > 0 and set(r["statuses"]) == {"200"}
    for key in ("requests_per_second", "cpu_seconds", "cpu_ms_per_request"):
        assert _positive(r[key]) or (key.startswith("cpu") and r[key] >= 0), key
    for stat in ("latency_ms", "ttft_ms"):
        summary = r[stat]
        assert summary["count"] == r["requests"]
        assert 0 < summary["p50"] <= summary["p99"] <= summary["max"]


def test_streams_carry_every_text_chunk(results: tuple[dict, str]) -> None:
    """200 distinct chunks each become an SSE event (the assembler would drop repeats)."""
    data = results[0]
    chunks = data["meta"]["options"]["stream_chunks"]
    for phase in ("stream_c32", "stream_c1"):
        assert data["phases"][phase]["gateway"]["events_per_request"] >= chunks, phase
    assert data["phases"]["stream_c32"]["simulator"]["events_per_request"] >= chunks
    assert data["phases"]["stream_c32"]["gateway"]["events_per_second"] > 0


@pytest.mark.parametrize("target", ["gateway", "simulator"])
def test_memory_phase_held_every_stream(results: tuple[dict, str], target: str) -> None:
    memory = results[0]["phases"]["memory"][target]
    assert memory["streams_open"] == memory["streams_requested"] > 0
    assert memory["rss_peak_mb"] >= memory["rss_baseline_mb"] > 0
    assert memory["kb_per_stream"] is not None and memory["kb_per_stream"] >= 0


def test_translation_figures(results: tuple[dict, str]) -> None:
    t = results[0]["translation"]
    assert 90_000 <= t["request_bytes"] <= 120_000
    assert t["tools"] > 0 and t["messages"] > 10
    for key in ("parse_ms", "conversation_ms", "token_count_ms", "request_total_ms"):
        assert _positive(t[key]["p50"]), key
    assert _positive(t["response_total_ms"]["p50"]) and t["sse_bytes"] > 0


def test_headline_and_markdown_name_every_figure(results: tuple[dict, str]) -> None:
    data, markdown = results
    assert data["headline"] == headline(data)
    for label, _, _ in _ROWS:
        row = data["headline"][label]
        # CPU time has clock-tick resolution: a very short phase may read 0.
        low = 0 if label.startswith("CPU") else 1e-9
        assert row["gateway"] >= low and row["simulator"] >= low, label
        assert f"| {label} |" in markdown
    for text in ("KB per open stream", "peak RSS, MB", "Claude Code-sized request", "smoke run"):
        assert text in markdown
    assert "n/a" not in markdown and "Errors during the run" not in markdown


def test_targets_and_cpu_budget_are_reported(results: tuple[dict, str]) -> None:
    data, markdown = results
    assert data["targets"] == targets(data)
    assert [row["target"] for row in data["targets"]] == [label for label, *_ in TARGETS]
    for row in data["targets"]:
        assert f"| {row['target']} |" in markdown
    budget = data["cpu_budget"]
    assert budget == cpu_budget(data)
    assert _positive(budget["load generator"])  # the load generator's own CPU is measured
    assert budget["total"] >= budget["gateway"] + budget["load generator"]
    assert "allows at most" in markdown


def _synthetic(nonstream: float, stream: float, ttft: tuple[float, float], kb: float) -> dict:
    def load(rps: float, ttft_p50: float = 0.0) -> dict:
        return {"requests_per_second": rps, "ttft_ms": {"p50": ttft_p50}}

    return {
        "phases": {
            "nonstream_c32": {"gateway": load(nonstream)},
            "stream_c32": {"gateway": load(stream)},
            "stream_c1": {"gateway": load(0, ttft[0]), "simulator": load(0, ttft[1])},
            "memory": {"gateway": {"kb_per_stream": kb}},
        }
    }


def test_targets_compare_each_figure_with_its_limit() -> None:
    met = targets(_synthetic(5000, 600, (1.2, 0.3), 49.9))
    assert [row["met"] for row in met] == [True, True, True, True]
    missed = targets(_synthetic(4999, 599.9, (1.3, 0.3), 50.0))
    assert [row["met"] for row in missed] == [False, False, False, False]
    assert missed[2]["value"] == pytest.approx(1.0)  # overhead = gateway − simulator


def test_the_harness_runs_in_the_background(results: tuple[dict, str]) -> None:
    """The simulator and every load generator ran under SCHED_BATCH, and the report says so."""
    data, markdown = results
    assert data["meta"]["simulator_scheduling"] == "batch"
    for phase in LOAD_PHASES:
        for target in ("gateway", "simulator"):
            assert data["phases"][phase][target]["scheduling"] == "batch", (phase, target)
    assert "generator under `batch`" in markdown


def test_help_lists_the_options() -> None:
    outcome = CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "240"})
    assert outcome.exit_code == 0
    options = ("--duration", "--concurrency", "--streams", "--workers", "--out", "--quick")
    for option in (*options, "--no-background-harness"):
        assert option in outcome.output
