"""The lean client's resolved-address cache: one lookup per name for DNS_CACHE_SECONDS, shared
by concurrent connections, and a fresh lookup when a cached address stops answering."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from kiro_proxy.kiro.http1 import DNS_CACHE_SECONDS, Address, AddressCache, Http1Pool
from kiro_proxy.simulator.app import RunningSimulator, start_simulator


class FakeResolver:
    """Answers every name with `answer`, counting the calls (a small delay so concurrent
    lookups overlap)."""

    def __init__(self, address: str) -> None:
        self.answer: list[Address] = [(int(socket.AF_INET), address)]
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[Address]:
        self.calls.append((host, port))
        await asyncio.sleep(0.01)
        return list(self.answer)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver("127.0.0.1")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def pool(resolver: FakeResolver, clock: Clock) -> AsyncIterator[Http1Pool]:
    """idle_expiry=-1: no connection is reused, every call opens a new one."""
    pool = Http1Pool(
        connect_timeout=5, idle_expiry=-1, addresses=AddressCache(resolver, clock=clock)
    )
    yield pool
    await pool.close()


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator("127.0.0.1", 0)
    yield running
    await running.close()


def port_of(sim: RunningSimulator) -> int:
    return int(sim.url.rsplit(":", 1)[1])


async def post(pool: Http1Pool, port: int) -> None:
    url = f"http://kiro.example.test:{port}/generateAssistantResponse"
    reply = await pool.post(url, b"{}", {"content-type": "application/json"}, first_byte_timeout=5)
    await reply.read_all(5)
    reply.close()


async def test_new_connections_share_one_lookup_until_it_expires(
    sim: RunningSimulator, pool: Http1Pool, resolver: FakeResolver, clock: Clock
) -> None:
    for _ in range(3):
        await post(pool, port_of(sim))
    await asyncio.gather(*(post(pool, port_of(sim)) for _ in range(5)))
    assert pool.connections_opened == 8
    assert resolver.calls == [("kiro.example.test", port_of(sim))]
    clock.now += DNS_CACHE_SECONDS - 1
    await post(pool, port_of(sim))
    assert len(resolver.calls) == 1
    clock.now += 2  # past the TTL: looked up again
    await post(pool, port_of(sim))
    assert len(resolver.calls) == 2


async def test_concurrent_first_connections_make_one_lookup(
    sim: RunningSimulator, pool: Http1Pool, resolver: FakeResolver
) -> None:
    await asyncio.gather(*(post(pool, port_of(sim)) for _ in range(6)))
    assert len(resolver.calls) == 1 and pool.connections_opened == 6


async def test_a_cached_address_that_refuses_is_looked_up_again(
    pool: Http1Pool, resolver: FakeResolver
) -> None:
    first = await start_simulator("127.0.0.1", 0)
    port = port_of(first)
    await post(pool, port)
    await first.close()
    # The host moved: the same port now answers on another address.
    async with await start_simulator("127.0.0.2", port) as moved:
        resolver.answer = [(int(socket.AF_INET), "127.0.0.2")]
        await post(pool, port)  # 127.0.0.1 (cached) refuses; a fresh lookup finds .2
        assert len(resolver.calls) == 2
        assert moved.state.generate_calls == 1
        await post(pool, port)  # and the new address is cached
        assert len(resolver.calls) == 2


async def test_a_fresh_address_that_refuses_is_a_connection_error(
    pool: Http1Pool, resolver: FakeResolver
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        await post(pool, port)
    assert len(resolver.calls) == 1  # no second lookup for an address just resolved


async def test_ip_literals_are_not_looked_up(
    sim: RunningSimulator, pool: Http1Pool, resolver: FakeResolver
) -> None:
    reply = await pool.post(sim.url + "/generateAssistantResponse", b"{}", {}, first_byte_timeout=5)
    await reply.read_all(5)
    reply.close()
    assert resolver.calls == []
