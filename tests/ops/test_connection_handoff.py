"""The supervisor of `serve --workers N` deals accepted connections out round-robin
(kiro_proxy/connection_handoff.py): every worker gets the same share, a worker that is gone is
skipped, and a worker serves what it receives as if it had accepted it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from kiro_proxy.connection_handoff import ConnectionDealer, ConnectionReceiver, channel_pair


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def _connect(listener: socket.socket) -> socket.socket:
    return socket.create_connection(listener.getsockname(), timeout=5)


def _take(channel: socket.socket, count: int) -> list[socket.socket]:
    channel.settimeout(5)
    taken = []
    while len(taken) < count:
        _, fds, _, _ = socket.recv_fds(channel, 16, 8)
        taken += [socket.socket(fileno=fd) for fd in fds]
    return taken


def test_connections_are_dealt_round_robin(listener: socket.socket) -> None:
    dealer = ConnectionDealer(listener)
    workers = [channel_pair() for _ in range(3)]
    for pid, (ours, _) in enumerate(workers, start=100):
        dealer.add_worker(pid, ours)
    dealer.start()
    clients = [_connect(listener) for _ in range(9)]
    try:
        received = [_take(theirs, 3) for _, theirs in workers]
        assert [len(r) for r in received] == [3, 3, 3]
        assert dealer.handed_off == 9
        # Each received descriptor is a live connection to one of the clients.
        peers = {s.getpeername() for r in received for s in r}
        assert peers == {c.getsockname() for c in clients}
        for sock in (s for r in received for s in r):
            sock.close()
    finally:
        dealer.stop()
        for client in clients:
            client.close()
        for _, theirs in workers:
            theirs.close()


def test_a_worker_that_is_gone_is_skipped(listener: socket.socket) -> None:
    dealer = ConnectionDealer(listener)
    alive_ours, alive = channel_pair()
    dead_ours, dead = channel_pair()
    dead.close()  # the worker exited before the supervisor noticed
    dealer.add_worker(1, dead_ours)
    dealer.add_worker(2, alive_ours)
    dealer.start()
    clients = [_connect(listener) for _ in range(4)]
    try:
        taken = _take(alive, 4)
        assert len(taken) == 4 and dealer.handed_off == 4
        # Each is a live connection to one of the clients, none lost on the dead channel.
        assert {t.getpeername() for t in taken} == {c.getsockname() for c in clients}
        for sock in taken:
            sock.close()
    finally:
        dealer.stop()
        for client in clients:
            client.close()
        alive.close()


def test_stop_refuses_new_connections(listener: socket.socket) -> None:
    address = listener.getsockname()
    dealer = ConnectionDealer(listener)
    dealer.start()
    dealer.stop()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2)


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"echo:" + data)  # type: ignore[attr-defined]


async def test_a_worker_serves_the_connections_it_receives(listener: socket.socket) -> None:
    dealer = ConnectionDealer(listener)
    ours, theirs = channel_pair()
    dealer.add_worker(7, ours)
    receiver = ConnectionReceiver(theirs, Echo)
    receiver.start()
    dealer.start()
    try:
        for word in (b"one", b"two"):
            reader, writer = await asyncio.open_connection(*listener.getsockname())
            writer.write(word)
            assert await asyncio.wait_for(reader.readexactly(5 + len(word)), 5) == b"echo:" + word
            writer.close()
    finally:
        receiver.stop()
        await asyncio.to_thread(dealer.stop)
