"""Small statistics helpers: percentiles and process CPU/RSS read from /proc (Linux)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[rank])


def summarize(values: Iterable[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 4),
        "p50": round(percentile(ordered, 50), 4),
        "p90": round(percentile(ordered, 90), 4),
        "p99": round(percentile(ordered, 99), 4),
        "max": round(ordered[-1], 4),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        data = handle.read()
    # The command name may hold spaces; fields after the closing parenthesis are fixed.
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as handle:
        return int(handle.read().split()[1]) * _PAGE


def total(fn: object, pids: Iterable[int]) -> float:
    """Sum of a per-process reading over several processes (gateway workers)."""
    assert callable(fn)
    return float(sum(fn(pid) for pid in pids))


def run_in_background() -> bool:
    """Put this process under SCHED_BATCH (Linux): the load generator and the simulator share
    the machine's cores with the gateway they measure, and under the normal policy each of their
    many wakeups preempts a gateway worker in the middle of a request (0.7 involuntary switches
    per request and worker, measured on 2 cores). A batch-policy process still gets its full
    share of CPU; it only waits for the running process's time slice instead of cutting it.
    On a machine with spare cores one would pin the harness to its own cores instead.
    False where the policy does not exist or may not be set."""
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return False
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError:
        return False
    return True


def scheduling_policy(pid: int) -> str:
    """ "batch" or "normal" (SCHED_BATCH or SCHED_OTHER), "other" for anything else."""
    try:
        policy = os.sched_getscheduler(pid)
    except (AttributeError, OSError):
        return "unknown"
    if policy == getattr(os, "SCHED_BATCH", None):
        return "batch"
    return "normal" if policy == getattr(os, "SCHED_OTHER", None) else "other"


def run_with_fast_loop(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)
    return uvloop.run(coro)
