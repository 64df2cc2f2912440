"""A faithful fake of every Kiro endpoint the project calls (tests, benchmarks, the demo).

    sim = await start_simulator()             # free port on 127.0.0.1; sim.url, sim.state
    account = sim.state.add_account(email="a@example.com")
    sim.state.enqueue(script.Reply([script.Text("hi")]), account=account)

Modules: state (accounts, tokens, queues, request log), script (reply steps and faults),
validation (§2.2 structural rules), generate_outcome (what a generate call gets, server-neutral),
generate (its aiohttp writer), auth_routes, usage_routes, control (/_sim/*), app; lean_generate
is a second, lean HTTP/1.1 server for generate calls only (the benchmark's fast upstream).
"""

from kiro_proxy.simulator.app import RunningSimulator, create_app, run, start_simulator
from kiro_proxy.simulator.state import SimAccount, SimState

__all__ = ["RunningSimulator", "SimAccount", "SimState", "create_app", "run", "start_simulator"]
