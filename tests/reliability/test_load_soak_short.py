"""The load soak in small (100 streaming clients × 5 s, 5 % injected faults) against a real
`kiro-proxy serve` process: no crash, every request has its usage row, flat memory. The full
run is `python bench/load_soak.py --clients 1000 --seconds 60 --fault-rate 0.05`."""

from __future__ import annotations

from pathlib import Path

from bench.load_soak import run_soak


async def test_short_soak_accounts_for_every_request(tmp_path: Path) -> None:
    report = await run_soak(
        clients=100,
        seconds=5,
        fault_rate=0.05,
        accounts=50,
        workdir=tmp_path,
        progress=lambda _: None,
    )
    summary = report.summary()
    assert report.sent > 200, summary
    assert report.faults_injected > 0, summary
    assert report.outcomes["ok"] > report.sent * 0.8, summary
    assert not report.problems(), summary
    # Every client-visible outcome is either a complete answer or a well-formed error.
    assert set(report.outcomes) <= {"ok", "error_event", "http_502", "http_503", "http_529"}, (
        summary
    )
