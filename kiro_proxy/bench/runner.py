"""The benchmark run: start the simulator and the gateway, drive both with the load generator
phase by phase, and collect every figure (gateway and simulator-direct side by side)."""

from __future__ import annotations

import asyncio
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kiro_proxy import __version__
from kiro_proxy.bench import payloads
from kiro_proxy.bench.loadgen import LoadSpec
from kiro_proxy.bench.processes import GatewayProcess, HeldStreams, SimulatorProcess, run_load
from kiro_proxy.bench.scripts import slow_reply, text_reply
from kiro_proxy.bench.stats import cpu_seconds, rss_bytes, scheduling_policy, total
from kiro_proxy.bench.translation import measure_translation

Progress = Callable[[str], None]


@dataclass(slots=True)
class BenchOptions:
    duration: float = 5.0  # seconds per load phase
    concurrency: int = 32
    streams: int = 1000  # open streams in the memory phase
    stream_chunks: int = 200
    short_chunks: int = 2
    chunk_chars: int = 16
    workers: int = 1
    accounts: int = 4
    translation_rounds: int = 50
    warmup: float = 1.0
    quick: bool = False
    # The simulator and the load generator run under SCHED_BATCH (stats.run_in_background).
    background_harness: bool = True

    @classmethod
    def smoke(cls) -> BenchOptions:
        """The shortest run that still produces every figure (CI; not for reading numbers)."""
        return cls(
            duration=0.25, streams=20, translation_rounds=3, warmup=0.2, accounts=2, quick=True
        )


@dataclass(slots=True)
class Target:
    """One side of the comparison: the gateway, or the simulator called directly."""

    name: str
    port: int
    path: str
    headers: dict[str, str]
    marker: bytes | None
    events: str
    pids: Callable[[], list[int]]
    bodies: dict[str, bytes] = field(default_factory=dict)
    background: bool = True  # the load generator's scheduling (stats.run_in_background)

    def spec(self, body: str, concurrency: int, duration: float, **extra: Any) -> LoadSpec:
        return LoadSpec(
            host="127.0.0.1",
            port=self.port,
            path=self.path,
            body=self.bodies[body],
            headers=self.headers,
            concurrency=concurrency,
            duration=duration,
            warmup=0.0,
            marker=self.marker,
            events=self.events,
            background=self.background,
            **extra,
        )


def _targets(sim: SimulatorProcess, gateway: GatewayProcess, background: bool) -> list[Target]:
    short_ns = payloads.short_request(stream=False)
    short_st = payloads.short_request(stream=True)
    kiro = payloads.kiro_body_for(short_st)
    return [
        Target(
            "gateway",
            gateway.port,
            "/v1/messages",
            payloads.ANTHROPIC_HEADERS,
            b"text_delta",
            "sse",
            lambda: gateway.pids,
            {"nonstream": short_ns, "stream": short_st},
            background,
        ),
        Target(
            "simulator",
            sim.generate_port,
            "/generateAssistantResponse",
            payloads.DIRECT_HEADERS,
            None,
            "eventstream",
            lambda: [sim.pid],
            {"nonstream": kiro, "stream": kiro},
            background,
        ),
    ]


async def _load_phase(target: Target, sim: SimulatorProcess, spec: LoadSpec) -> dict[str, Any]:
    """One load-generator run with the CPU time it cost the target and the simulator."""
    pids = target.pids()
    cpu_before = total(cpu_seconds, pids)
    sim_before = cpu_seconds(sim.pid)
    result = await run_load(spec)
    cpu = total(cpu_seconds, pids) - cpu_before
    done = max(1, result["requests"])
    result["cpu_seconds"] = round(cpu, 3)
    result["cpu_ms_per_request"] = round(cpu * 1000 / done, 4)
    result["simulator_cpu_ms_per_request"] = round(
        (cpu_seconds(sim.pid) - sim_before) * 1000 / done, 4
    )
    return result


async def _memory_phase(target: Target, streams: int, *, settle: float) -> dict[str, Any]:
    pids = target.pids()
    await asyncio.sleep(settle)  # let the previous phase's connections close
    baseline = total(rss_bytes, pids)
    held = HeldStreams(target.spec("stream", streams, 30.0, mode="hold"))
    opened = asyncio.ensure_future(held.open())
    peak = baseline
    while not opened.done():
        peak = max(peak, total(rss_bytes, pids))
        await asyncio.sleep(0.05)
    ready = opened.result()
    for _ in range(round(settle * 20)):  # streams open and trickling: sample a little longer
        peak = max(peak, total(rss_bytes, pids))
        await asyncio.sleep(0.1)
    await held.release()
    open_streams = int(ready.get("ready", 0))
    delta = peak - baseline
    return {
        "streams_requested": streams,
        "streams_open": open_streams,
        "rss_baseline_mb": round(baseline / 2**20, 2),
        "rss_peak_mb": round(peak / 2**20, 2),
        "rss_delta_mb": round(delta / 2**20, 2),
        "kb_per_stream": round(delta / 1024 / open_streams, 2) if open_streams else None,
    }


async def run_benchmark(options: BenchOptions, progress: Progress) -> dict[str, Any]:
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "version": __version__,
            "started_at": started,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": _cpu_count(),
            "options": asdict(options),
            "note": (
                "load generator, simulator and gateway share this machine's CPUs; "
                "the simulator-direct figures are the ceiling of this setup"
            ),
        }
    }
    progress(f"translation: Claude Code-sized request, {options.translation_rounds} rounds")
    results["translation"] = measure_translation(options.translation_rounds)
    t = results["translation"]
    progress(
        f"  request side p50 {t['request_total_ms']['p50']:.2f} ms, "
        f"response side p50 {t['response_total_ms']['p50']:.2f} ms"
    )

    with tempfile.TemporaryDirectory(prefix="kiro-proxy-bench-") as folder:
        sim = SimulatorProcess.start(options.accounts, background=options.background_harness)
        gateway: GatewayProcess | None = None
        try:
            gateway = GatewayProcess.start(sim, Path(folder) / "gateway", workers=options.workers)
            await gateway.wait_ready()
            results["meta"]["simulator_scheduling"] = scheduling_policy(sim.pid)
            progress(
                f"started simulator (pid {sim.pid}, {results['meta']['simulator_scheduling']}) "
                f"and gateway ({len(gateway.pids)} process(es), pids {gateway.pids})"
            )
            results["phases"] = await _run_phases(options, sim, gateway, progress)
        finally:
            if gateway is not None:
                gateway.stop()
            sim.stop()
    results["meta"]["seconds"] = round(time.time() - started, 1)
    return results


async def _run_phases(
    options: BenchOptions, sim: SimulatorProcess, gateway: GatewayProcess, progress: Progress
) -> dict[str, Any]:
    c = options.concurrency
    phases: dict[str, dict[str, Any]] = {}
    targets = _targets(sim, gateway, options.background_harness)
    plan = [
        ("nonstream_c32", "nonstream", c, options.short_chunks),
        ("nonstream_c1", "nonstream", 1, options.short_chunks),
        ("stream_c32", "stream", c, options.stream_chunks),
        ("stream_c1", "stream", 1, options.stream_chunks),
    ]
    await sim.always(text_reply(options.short_chunks, options.chunk_chars))
    for target in targets:  # first requests refresh tokens, fill caches, open pools
        await run_load(target.spec("nonstream", 4, options.warmup))
    for name, body, concurrency, chunks in plan:
        await sim.always(text_reply(chunks, options.chunk_chars))
        phases[name] = {}
        for target in targets:
            spec = target.spec(body, concurrency, options.duration)
            result = await _load_phase(target, sim, spec)
            phases[name][target.name] = result
            progress(_describe(name, target.name, result))
    # Slow chunks: streams stay open while memory is measured.
    await sim.always(slow_reply(120, options.chunk_chars, delay=1.0))
    phases["memory"] = {}
    for target in targets:
        result = await _memory_phase(target, options.streams, settle=0.1 if options.quick else 0.5)
        phases["memory"][target.name] = result
        progress(
            f"memory {target.name:>9}: {result['streams_open']} open streams, "
            f"peak RSS {result['rss_peak_mb']} MB, {result['kb_per_stream']} KB/stream"
        )
    await sim.always(None)
    return phases


def _describe(phase: str, target: str, r: dict[str, Any]) -> str:
    text = (
        f"{phase:<14}{target:>9}: {r['requests_per_second']:8.0f} req/s"
        f"  p50 {r['latency_ms']['p50']:7.2f} ms  p99 {r['latency_ms']['p99']:7.2f} ms"
    )
    if phase.startswith("stream"):
        text += f"  TTFT p50 {r['ttft_ms']['p50']:.2f} ms  {r['events_per_second']:,.0f} events/s"
    text += f"  CPU {r['cpu_ms_per_request']:.3f} ms/req"
    if r["errors"]:
        text += f"  ERRORS {r['errors']} {r['error_samples'][:1]}"
    return text


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
