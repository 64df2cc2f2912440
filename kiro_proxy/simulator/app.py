"""The simulator application: every Kiro endpoint the project calls, on one port.

Point KIRO_API_URL, KIRO_CODEWHISPERER_URL, KIRO_AUTH_URL, KIRO_OIDC_URL and KIRO_PORTAL_URL at
`RunningSimulator.url` and the gateway cannot tell the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiohttp import web

from kiro_proxy.simulator.auth_routes import add_auth_routes
from kiro_proxy.simulator.control import add_control_routes
from kiro_proxy.simulator.generate import handle_generate
from kiro_proxy.simulator.state import SIM_STATE_KEY, SimState
from kiro_proxy.simulator.usage_routes import add_usage_routes


def create_app(state: SimState | None = None) -> web.Application:
    # Large Claude Code bodies (tools + history + images) exceed aiohttp's 1 MiB default.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[SIM_STATE_KEY] = state or SimState()
    app.router.add_post("/generateAssistantResponse", handle_generate)
    add_usage_routes(app)
    add_auth_routes(app)
    add_control_routes(app)
    return app


@dataclass(slots=True)
class RunningSimulator:
    url: str
    state: SimState
    runner: web.AppRunner

    async def close(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_simulator(
    host: str = "127.0.0.1", port: int = 0, state: SimState | None = None
) -> RunningSimulator:
    """Start in the current event loop; port 0 picks a free port (see `.url`)."""
    app = create_app(state)
    # Short shutdown: stalled test streams must not hold up cleanup. Handler cancellation is off
    # by default since aiohttp 3.9: without it a Stall step sleeps on after its client has gone.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound_port = sockets[0].getsockname()[1] if sockets else port
    return RunningSimulator(f"http://{host}:{bound_port}", app[SIM_STATE_KEY], runner)


def run(host: str = "127.0.0.1", port: int = 8900, state: SimState | None = None) -> None:
    """Blocking entry point for `kiro-proxy simulate --port N`."""

    async def main() -> None:
        sim = await start_simulator(host, port, state)
        print(f"Kiro simulator listening on {sim.url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await sim.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
