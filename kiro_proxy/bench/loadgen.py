"""The load generator, run as its own process so it never shares the measured server's event loop.

    python -m kiro_proxy.bench.loadgen < spec.json   →   one JSON result line on stdout

Two modes:
- "load": `concurrency` workers, each on its own keep-alive connection, send the same request
  back to back for `duration` seconds (after `warmup` seconds whose requests are not counted);
- "hold": open `concurrency` streams at once, print {"ready": n} when every one has received its
  first body byte, hold them until a line arrives on stdin, then close them all (memory phase).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from kiro_proxy.bench.http_client import Connection, Timing, post_request
from kiro_proxy.bench.stats import (
    run_in_background,
    run_with_fast_loop,
    scheduling_policy,
    summarize,
)


@dataclass(slots=True)
class LoadSpec:
    host: str
    port: int
    path: str
    body: bytes
    headers: dict[str, str]
    concurrency: int = 32
    duration: float = 5.0
    warmup: float = 0.5
    marker: bytes | None = None  # TTFT = first body chunk that holds it (None: first byte)
    events: str = "none"  # "sse" | "eventstream" | "none"
    mode: str = "load"  # "load" | "hold"
    background: bool = True  # SCHED_BATCH: never preempt the measured server (stats.py)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        values = dict(data)
        values["body"] = str(values["body"]).encode()
        marker = values.get("marker")
        values["marker"] = marker.encode() if marker else None
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "path": self.path,
            "body": self.body.decode(),
            "headers": self.headers,
            "concurrency": self.concurrency,
            "duration": self.duration,
            "warmup": self.warmup,
            "marker": self.marker.decode() if self.marker else None,
            "events": self.events,
            "mode": self.mode,
            "background": self.background,
        }


@dataclass(slots=True)
class _Tally:
    timings: list[Timing] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)


async def _worker(
    spec: LoadSpec, raw: bytes, counting_from: float, stop_at: float, tally: _Tally
) -> None:
    conn: Connection | None = None
    while time.perf_counter() < stop_at:
        try:
            if conn is None or conn.closed or not conn.keep_alive:
                if conn is not None:
                    conn.close()
                conn = await Connection.open(spec.host, spec.port)
            timing = await conn.request(raw, marker=spec.marker, events=spec.events)
        except (OSError, ConnectionError) as exc:
            tally.errors += 1
            if len(tally.error_samples) < 3:
                tally.error_samples.append(f"{type(exc).__name__}: {exc}")
            conn = None
            await asyncio.sleep(0.01)
            continue
        if timing.started < counting_from:
            continue
        key = str(timing.status)
        tally.statuses[key] = tally.statuses.get(key, 0) + 1
        if timing.status == 200:
            tally.timings.append(timing)
        else:
            tally.errors += 1
    if conn is not None:
        conn.close()


async def run_load(spec: LoadSpec) -> dict[str, Any]:
    raw = post_request(spec.host, spec.port, spec.path, spec.body, spec.headers)
    tally = _Tally()
    cpu_before = time.process_time()
    begin = time.perf_counter()
    counting_from = begin + spec.warmup
    stop_at = counting_from + spec.duration
    await asyncio.gather(
        *(_worker(spec, raw, counting_from, stop_at, tally) for _ in range(spec.concurrency))
    )
    # Requests that started inside the window count; the window ends when the last one does.
    window = max(time.perf_counter(), stop_at) - counting_from
    # Its own CPU (warm-up included, so a slight overestimate): the machine's cores are shared
    # by the load generator, the simulator and the gateway, and the report shows the split.
    own_cpu = time.process_time() - cpu_before
    timings = tally.timings
    done = len(timings)
    events = sum(t.events for t in timings)
    return {
        "mode": "load",
        "concurrency": spec.concurrency,
        "seconds": round(window, 3),
        "requests": done,
        "errors": tally.errors,
        "statuses": tally.statuses,
        "error_samples": tally.error_samples,
        "requests_per_second": done / window if window > 0 else 0.0,
        "events_per_request": events / done if done else 0.0,
        "events_per_second": events / window if window > 0 else 0.0,
        "latency_ms": summarize([(t.finished - t.started) * 1000 for t in timings]),
        "loadgen_cpu_ms_per_request": round(own_cpu * 1000 / done, 4) if done else 0.0,
        "ttft_ms": summarize([(t.first_marker - t.started) * 1000 for t in timings]),
        "scheduling": scheduling_policy(os.getpid()),
    }


async def run_hold(spec: LoadSpec) -> dict[str, Any]:
    """Open many streams, report when all are flowing, close them when told to."""
    raw = post_request(spec.host, spec.port, spec.path, spec.body, spec.headers)
    conns: list[Connection] = []
    # Open connections in small groups: a burst of 1,000 SYNs overflows the listen backlog.
    for start in range(0, spec.concurrency, 100):
        group = min(100, spec.concurrency - start)
        conns += await asyncio.gather(
            *(Connection.open(spec.host, spec.port) for _ in range(group))
        )
    tasks = [
        asyncio.ensure_future(c.request(raw, marker=spec.marker, events=spec.events)) for c in conns
    ]
    deadline = time.perf_counter() + max(30.0, spec.duration)
    while time.perf_counter() < deadline:
        flowing = sum(1 for c in conns if c.got_first_byte)
        failed = sum(1 for t in tasks if t.done())
        if flowing + failed >= len(conns):
            break
        await asyncio.sleep(0.05)
    flowing = sum(1 for c in conns if c.got_first_byte)
    _emit({"ready": flowing, "failed": len(conns) - flowing})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for c in conns:
        c.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"mode": "hold", "streams": flowing, "failed": len(conns) - flowing}


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


def main() -> None:
    spec = LoadSpec.from_json(orjson.loads(sys.stdin.readline()))
    if spec.background:
        run_in_background()
    runner = run_hold if spec.mode == "hold" else run_load
    _emit(run_with_fast_loop(runner(spec)))


if __name__ == "__main__":
    main()
