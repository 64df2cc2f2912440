"""Per-account SOCKS5 proxy: a tiny in-test SOCKS5 server relays to the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import struct

from kiro_proxy.kiro.events import TextEvent
from kiro_proxy.simulator.app import RunningSimulator
from kiro_proxy.simulator.testing import client_for, credentials_for, simple_request


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class Socks5:
    """No-auth SOCKS5 CONNECT (RFC 1928), enough for a client test; records targets."""

    def __init__(self, redirect_port: int) -> None:
        self.redirect_port = redirect_port
        self.targets: list[tuple[str, int]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, methods = await reader.readexactly(2)
        await reader.readexactly(methods)
        writer.write(b"\x05\x00")
        _, _, _, kind = await reader.readexactly(4)
        if kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        (port,) = struct.unpack(">H", await reader.readexactly(2))
        self.targets.append((host, port))
        # Every target lands on the simulator: proves traffic went through the proxy.
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redirect_port)
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def test_socks5_proxy_per_account(sim: RunningSimulator) -> None:
    sim_port = int(sim.url.rsplit(":", 1)[1])
    proxy = Socks5(sim_port)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    account = sim.state.add_account()
    kiro = client_for("http://kiro.invalid:8443")
    try:
        creds = credentials_for(account, proxy_url=f"socks5://127.0.0.1:{port}")
        events = [e async for e in kiro.generate(simple_request(), creds)]
        assert TextEvent("Hello! ") in events
        assert ("kiro.invalid", 8443) in proxy.targets
        # An account without a proxy goes direct (and cannot resolve the fake host).
        direct = client_for(sim.url)
        async with direct:
            assert [e async for e in direct.generate(simple_request(), credentials_for(account))]
    finally:
        await kiro.close()
        server.close()
