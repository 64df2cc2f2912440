"""Fixtures shared by the Kiro client tests: a simulator in the test's event loop and a client
pointed at it with short timeouts. The client's generate transport is the lean builtin one; a
module overrides the `upstream_http_client` fixture to run its tests on aiohttp too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kiro_proxy.kiro.client import KiroClient, UpstreamHttpClient
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.testing import client_for


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    yield running
    await running.close()


@pytest.fixture
def upstream_http_client() -> UpstreamHttpClient:
    return "builtin"


@pytest.fixture
async def client(
    sim: RunningSimulator, upstream_http_client: UpstreamHttpClient
) -> AsyncIterator[KiroClient]:
    kiro = client_for(
        sim.url, first_byte_timeout=2, idle_timeout=2, upstream_http_client=upstream_http_client
    )
    await kiro.start()
    yield kiro
    await kiro.close()
