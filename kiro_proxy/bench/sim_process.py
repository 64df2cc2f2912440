"""The simulator as a benchmark process: `python -m kiro_proxy.bench.sim_process --accounts N`.

Prints one JSON line {"url": ..., "accounts": [Kiro-Go config.json entries]} once listening, then
serves until its stdin closes (the benchmark ends, or dies: no orphan is left behind). Phases
switch the reply through the simulator's own /_sim/always control route.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import orjson

from kiro_proxy.bench.stats import run_with_fast_loop
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.state import SimAccount, SimState
from kiro_proxy.simulator.testing import kiro_go_account


def bench_state(accounts: int) -> tuple[SimState, list[SimAccount]]:
    state = SimState()
    # Direct calls carry any bearer token; quotas and request logs are not what is measured.
    state.accept_any_token = True
    state.enforce_quota = False
    state.record_bodies = False
    made = [state.add_account(f"bench{i}@example.com", usage_limit=1e12) for i in range(accounts)]
    return state, made


async def serve(port: int, accounts: int) -> None:
    state, made = bench_state(accounts)
    sim = await start_simulator("127.0.0.1", port, state)
    sys.stdout.write(
        orjson.dumps({"url": sim.url, "accounts": [kiro_go_account(a) for a in made]}).decode()
        + "\n"
    )
    sys.stdout.flush()
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await sim.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--accounts", type=int, default=4)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run_with_fast_loop(serve(args.port, args.accounts))


if __name__ == "__main__":
    main()
