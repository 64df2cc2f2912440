"""The benchmark's simulator process: the lean generate server next to the aiohttp simulator,
on one state, and the gateway's settings pointing generate calls at it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiro_proxy.bench import payloads
from kiro_proxy.bench.processes import SimulatorProcess, gateway_environment
from kiro_proxy.bench.scripts import text_reply
from kiro_proxy.bench.stats import scheduling_policy
from kiro_proxy.simulator.generate_outcome import EVENTSTREAM
from tests.simulator.raw_http_client import one_exchange, request_bytes


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    process = SimulatorProcess.start(accounts=2)
    yield process
    process.stop()


def _generate_request() -> bytes:
    body = payloads.kiro_body_for(payloads.short_request(stream=False))
    headers = {k: v for k, v in payloads.DIRECT_HEADERS.items() if k != "authorization"}
    return request_bytes(body, token="bench-direct-token", extra=headers)


async def test_the_lean_server_answers_with_the_scripts_of_the_control_route(
    sim: SimulatorProcess,
) -> None:
    assert sim.generate_port != sim.port
    reply = text_reply(3, 16)
    await sim.always(reply)
    try:
        answer = await one_exchange(sim.generate_url, _generate_request())
    finally:
        await sim.always(None)
    assert answer.status == 200 and answer.headers["content-type"] == EVENTSTREAM
    assert answer.body == base64.b64decode(reply["steps"][0]["data"])


async def test_the_lean_server_answers_only_generate_calls(sim: SimulatorProcess) -> None:
    lean = await one_exchange(
        sim.generate_url, request_bytes(b"{}", token=None, path="/_sim/state")
    )
    assert lean.status == 404


def test_the_gateway_environment_points_generate_calls_at_the_lean_server(
    sim: SimulatorProcess,
) -> None:
    env = gateway_environment(sim, Path("/tmp/unused"), workers=2)
    assert env["KIRO_CODEWHISPERER_URL"] == sim.generate_url
    for name in ("KIRO_API_URL", "KIRO_AUTH_URL", "KIRO_OIDC_URL", "KIRO_PORTAL_URL"):
        assert env[name] == sim.url, name
    assert env["WORKERS"] == "2"


def test_the_simulator_runs_in_the_background_unless_told_not_to(sim: SimulatorProcess) -> None:
    assert scheduling_policy(sim.pid) == "batch"
    normal = SimulatorProcess.start(accounts=1, background=False)
    try:
        assert scheduling_policy(normal.pid) == "normal"
    finally:
        normal.stop()
