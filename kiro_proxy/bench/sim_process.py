"""The simulator as a benchmark process:
`python -m kiro_proxy.bench.sim_process --accounts N [--background]`.

Prints one JSON line {"url": ..., "generate_url": ..., "accounts": [Kiro-Go config.json entries]}
once listening, then serves until its stdin closes (the benchmark ends, or dies: no orphan is left
behind). `url` is the aiohttp simulator (every endpoint: token refresh, usage, /_sim control);
`generate_url` is the lean server answering generate calls for the same state at a fraction of
the CPU (the simulator shares the machine's cores with the gateway it measures). Phases switch
the reply through the simulator's own /_sim/always control route.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import orjson

from kiro_proxy.bench.stats import run_in_background, run_with_fast_loop
from kiro_proxy.simulator.app import start_simulator
from kiro_proxy.simulator.lean_generate import start_lean_generate
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


async def serve(port: int, accounts: int, generate_port: int = 0) -> None:
    state, made = bench_state(accounts)
    sim = await start_simulator("127.0.0.1", port, state)
    lean = await start_lean_generate(state, "127.0.0.1", generate_port)
    line = {
        "url": sim.url,
        "generate_url": lean.url,
        "accounts": [kiro_go_account(a) for a in made],
    }
    sys.stdout.write(orjson.dumps(line).decode() + "\n")
    sys.stdout.flush()
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await lean.close()
        await sim.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--generate-port", type=int, default=0)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument(
        "--background", action="store_true", help="run under SCHED_BATCH (see stats.py)"
    )
    args = parser.parse_args()
    if args.background:
        run_in_background()
    with contextlib.suppress(KeyboardInterrupt):
        run_with_fast_loop(serve(args.port, args.accounts, args.generate_port))


if __name__ == "__main__":
    main()
