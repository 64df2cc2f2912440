"""The `kiro-proxy bench` command: options, progress lines, result files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

DEFAULT_OUT = Path("bench/results")


def bench(
    duration: Annotated[float, typer.Option(help="Seconds per load phase.")] = 5.0,
    concurrency: Annotated[int, typer.Option(help="Concurrent clients in the c=32 phases.")] = 32,
    streams: Annotated[int, typer.Option(help="Open streams in the memory phase.")] = 1000,
    workers: Annotated[int, typer.Option(help="Gateway worker processes (WORKERS).")] = 1,
    out: Annotated[Path, typer.Option(help="Folder for the JSON and Markdown results.")] = (
        DEFAULT_OUT
    ),
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke run: every figure, minimal time (CI).")
    ] = False,
    background_harness: Annotated[
        bool,
        typer.Option(
            help="Run the simulator and the load generator under SCHED_BATCH, so that their "
            "wakeups do not preempt the gateway (Linux; they still get their share of CPU)."
        ),
    ] = True,
) -> None:
    """Benchmark the gateway against the bundled simulator (throughput, latency, TTFT, memory,
    CPU per request, translation of a Claude Code-sized request)."""
    # Imported here: `kiro-proxy serve` loads this module too and needs none of it.
    from kiro_proxy.bench.report import write_results
    from kiro_proxy.bench.runner import BenchOptions, run_benchmark
    from kiro_proxy.bench.stats import run_with_fast_loop

    console = Console(stderr=True)
    if quick:
        options = BenchOptions.smoke()
        options.workers = workers
    else:
        options = BenchOptions(
            duration=duration, concurrency=concurrency, streams=streams, workers=workers
        )
    options.background_harness = background_harness
    began = time.monotonic()

    def progress(line: str) -> None:
        console.print(
            f"[dim]{time.monotonic() - began:6.1f}s[/dim] {line}", highlight=False, soft_wrap=True
        )

    results = run_with_fast_loop(run_benchmark(options, progress))
    json_path, md_path = write_results(results, out)
    console.print(f"results: {json_path} and {md_path}")
