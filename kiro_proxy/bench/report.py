"""Benchmark results as JSON (everything) and Markdown (the figures side by side)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

# (label, phase, path into a phase result) for the throughput/latency table.
_ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("non-streaming req/s, c=32", "nonstream_c32", ("requests_per_second",)),
    ("streaming req/s, c=32 (200 chunks)", "stream_c32", ("requests_per_second",)),
    ("streaming events/s, c=32", "stream_c32", ("events_per_second",)),
    ("non-streaming latency p50 ms, c=1", "nonstream_c1", ("latency_ms", "p50")),
    ("non-streaming latency p99 ms, c=1", "nonstream_c1", ("latency_ms", "p99")),
    ("non-streaming latency p50 ms, c=32", "nonstream_c32", ("latency_ms", "p50")),
    ("non-streaming latency p99 ms, c=32", "nonstream_c32", ("latency_ms", "p99")),
    ("streaming TTFT p50 ms, c=1", "stream_c1", ("ttft_ms", "p50")),
    ("streaming TTFT p99 ms, c=1", "stream_c1", ("ttft_ms", "p99")),
    ("streaming TTFT p50 ms, c=32", "stream_c32", ("ttft_ms", "p50")),
    ("streaming TTFT p99 ms, c=32", "stream_c32", ("ttft_ms", "p99")),
    ("streaming latency p50 ms, c=32", "stream_c32", ("latency_ms", "p50")),
    ("CPU ms per non-streaming request, c=32", "nonstream_c32", ("cpu_ms_per_request",)),
    ("CPU ms per streaming request, c=32", "stream_c32", ("cpu_ms_per_request",)),
)
_MEMORY_ROWS = (
    ("open streams", "streams_open"),
    ("RSS before, MB", "rss_baseline_mb"),
    ("peak RSS, MB", "rss_peak_mb"),
    ("KB per open stream", "kb_per_stream"),
)


# Issue 9's targets on the 2-core reference machine: (label, how it is read, comparison, limit).
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("non-streaming req/s, c=32", "nonstream_rps", ">=", 5000.0),
    ("streaming req/s, c=32 (200 chunks)", "stream_rps", ">=", 600.0),
    ("TTFT overhead p50 ms, c=1 (gateway − simulator)", "ttft_overhead_ms", "<", 1.0),
    ("KB per idle open stream", "kb_per_stream", "<", 50.0),
)


def target_values(results: dict[str, Any]) -> dict[str, float]:
    phases = results["phases"]
    return {
        "nonstream_rps": phases["nonstream_c32"]["gateway"]["requests_per_second"],
        "stream_rps": phases["stream_c32"]["gateway"]["requests_per_second"],
        "ttft_overhead_ms": phases["stream_c1"]["gateway"]["ttft_ms"]["p50"]
        - phases["stream_c1"]["simulator"]["ttft_ms"]["p50"],
        "kb_per_stream": phases["memory"]["gateway"]["kb_per_stream"],
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured figure and whether this run met it."""
    values = target_values(results)
    out = []
    for label, key, comparison, limit in TARGETS:
        value = values[key]
        met = value >= limit if comparison == ">=" else value < limit
        out.append(
            {"target": label, "limit": f"{comparison} {limit:g}", "value": value, "met": met}
        )
    return out


def cpu_budget(results: dict[str, Any], phase: str = "nonstream_c32") -> dict[str, float]:
    """Where the machine's CPU goes per gateway request: the gateway, the simulator behind it and
    the load generator in front of it all share the cores, so this bounds the throughput."""
    gateway = results["phases"][phase]["gateway"]
    parts = {
        "gateway": gateway["cpu_ms_per_request"],
        "simulator": gateway["simulator_cpu_ms_per_request"],
        "load generator": gateway.get("loadgen_cpu_ms_per_request", 0.0),
    }
    total = sum(parts.values())
    cpus = results["meta"]["cpus"]
    return {
        **parts,
        "total": round(total, 4),
        "cpu_bound_req_per_s": round(cpus * 1000 / total) if total else 0.0,
    }


def _dig(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def _is_rate(label: str) -> bool:
    return "/s" in label


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, flat: gateway, simulator and the gateway's overhead."""
    phases = results["phases"]
    out: dict[str, Any] = {}
    for label, phase, path in _ROWS:
        gateway = _dig(phases[phase]["gateway"], path)
        simulator = _dig(phases[phase]["simulator"], path)
        row: dict[str, Any] = {"gateway": gateway, "simulator": simulator}
        if _is_rate(label):
            row["ratio"] = round(gateway / simulator, 4) if simulator else None
        else:
            row["added"] = round(gateway - simulator, 4)
        out[label] = row
    return out


def to_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    options = meta["options"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(meta["started_at"]))
    lines = [
        f"# kiro-proxy benchmark ({when})",
        "",
        f"kiro-proxy {meta['version']}, Python {meta['python']}, {meta['cpus']} CPU(s), "
        f"{options['workers']} gateway worker(s), {options['duration']} s per phase"
        + (" — **smoke run: figures are not meaningful**" if options.get("quick") else ""),
        "",
        f"Note: {meta['note']}.",
        "",
        "Scheduling: the gateway runs under the normal policy; the simulator and the load "
        f"generator under `{meta.get('simulator_scheduling', 'unknown')}` "
        "(`batch`: SCHED_BATCH, their wakeups do not preempt the gateway; "
        "`kiro-proxy bench --no-background-harness` measures with both at `normal`).",
        "",
        "## Throughput and latency",
        "",
        "| figure | gateway | simulator direct | gateway vs direct |",
        "|---|---:|---:|---:|",
    ]
    for label, row in headline(results).items():
        versus = (
            f"{row['ratio']:.0%} of direct"
            if "ratio" in row and row["ratio"] is not None
            else f"+{_fmt(row.get('added'))}"
        )
        lines.append(f"| {label} | {_fmt(row['gateway'])} | {_fmt(row['simulator'])} | {versus} |")
    lines += [
        "",
        "## Targets (issue 9, 2-core reference machine)",
        "",
        "| target | limit | this run | met |",
        "|---|---:|---:|:---:|",
    ]
    for row in targets(results):
        met = "yes" if row["met"] else "**no**"
        lines.append(f"| {row['target']} | {row['limit']} | {_fmt(row['value'])} | {met} |")
    budget = cpu_budget(results)
    lines += [
        "",
        "CPU per non-streaming request at c=32 (ms): gateway "
        f"{budget['gateway']:.3f} + simulator {budget['simulator']:.3f} + load generator "
        f"{budget['load generator']:.3f} = {budget['total']:.3f}; with {results['meta']['cpus']} "
        f"CPU(s) fully busy that allows at most ~{budget['cpu_bound_req_per_s']:,.0f} req/s.",
    ]
    memory = results["phases"]["memory"]
    lines += [
        "",
        f"## Memory with {memory['gateway']['streams_requested']} open streams (slow chunks)",
        "",
        "| figure | gateway | simulator direct |",
        "|---|---:|---:|",
    ]
    for label, key in _MEMORY_ROWS:
        lines.append(
            f"| {label} | {_fmt(memory['gateway'][key])} | {_fmt(memory['simulator'][key])} |"
        )
    t = results["translation"]
    lines += [
        "",
        f"## Translation of a Claude Code-sized request ({t['request_bytes']:,} bytes, "
        f"{t['messages']} messages, {t['tools']} tools), in process",
        "",
        "| step | p50 ms | p99 ms |",
        "|---|---:|---:|",
    ]
    for label, key in (
        ("parse (orjson + pydantic)", "parse_ms"),
        ("parse → conversation", "conversation_ms"),
        ("input token estimate", "token_count_ms"),
        ("parse → conversation → build_kiro_request → to_json", "request_total_ms"),
        (f"reply: decode → assembler → SSE ({t['reply_text_chunks']} chunks)", "response_total_ms"),
    ):
        lines.append(f"| {label} | {t[key]['p50']:.3f} | {t[key]['p99']:.3f} |")
    errors = {
        f"{phase}/{target}": r["errors"]
        for phase, by_target in results["phases"].items()
        if phase != "memory"
        for target, r in by_target.items()
        if r.get("errors")
    }
    if errors:
        lines += ["", f"**Errors during the run:** {errors}"]
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """bench-<timestamp>.json and .md in `folder`, plus latest.json / latest.md copies."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(results["meta"]["started_at"]))
    data = {
        **results,
        "headline": headline(results),
        "targets": targets(results),
        "cpu_budget": cpu_budget(results),
    }
    json_bytes = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    markdown = to_markdown(results)
    json_path = folder / f"bench-{stamp}.json"
    md_path = folder / f"bench-{stamp}.md"
    json_path.write_bytes(json_bytes)
    md_path.write_text(markdown)
    (folder / "latest.json").write_bytes(json_bytes)
    (folder / "latest.md").write_text(markdown)
    return json_path, md_path
