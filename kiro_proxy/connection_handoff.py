"""`serve --workers N`: the supervisor accepts connections and deals them out round-robin.

When N workers all accept on one inherited listening socket, whichever is awake first takes a
whole burst of connections: seen in the benchmark as 32 keep-alive connections split 0/32 or
11/21, one worker saturated while the other idles. Clients that keep their connections (Claude
Code, SDKs) stay pinned to the worker that happened to accept them. Here the supervisor accepts
(one thread, blocking `accept`) and passes each connection's descriptor to the next worker over
a Unix socket pair (SCM_RIGHTS), so every worker gets the same share; the worker hands it to its
event loop as an accepted socket, and uvicorn's protocol serves it as if it had accepted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger("kiro_proxy.workers")

_SEND_TIMEOUT_SECONDS = 1.0  # a worker that takes no connection for this long is skipped
_RECEIVE_BATCH = 64  # descriptors taken per wake-up of the worker's reader


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(supervisor end, worker end): SEQPACKET keeps one connection per message."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


class ConnectionDealer:
    """In the supervisor: accepts on the listening socket and hands connections to workers."""

    def __init__(self, listener: socket.socket) -> None:
        self._listener = listener
        self._channels: dict[int, socket.socket] = {}  # worker pid → supervisor end
        self._lock = threading.Lock()
        self._turn = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.handed_off = 0

    def add_worker(self, pid: int, channel: socket.socket) -> None:
        channel.settimeout(_SEND_TIMEOUT_SECONDS)
        with self._lock:
            self._channels[pid] = channel

    def remove_worker(self, pid: int) -> None:
        with self._lock:
            channel = self._channels.pop(pid, None)
        if channel is not None:
            channel.close()

    def forget_in_child(self) -> None:
        """In a newly forked worker: close the copies of the supervisor's ends it inherited
        (no lock: the accept thread does not exist in the child)."""
        for channel in self._channels.values():
            channel.close()
        self._channels = {}
        self._listener.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept_loop, name="accept", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting (new connections are refused from now on); idempotent."""
        if self._stopping:
            return
        self._stopping = True
        # Wakes the thread blocked in accept() (EINVAL), then frees the port.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            channels = list(self._channels.values())
            self._channels.clear()
        for channel in channels:
            channel.close()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                if self._stopping:
                    return
                log.exception("accept failed; going on")
                continue
            with connection:  # the worker has its own copy of the descriptor once sent
                if not self._hand_off(connection):
                    log.error("no worker took a connection; it is closed")

    def _hand_off(self, connection: socket.socket) -> bool:
        with self._lock:
            order = list(self._channels.items())
            start = self._turn
            self._turn += 1
        for step in range(len(order)):
            pid, channel = order[(start + step) % len(order)]
            try:
                socket.send_fds(channel, [b"c"], [connection.fileno()])
            except OSError as error:  # a worker gone, or not taking connections
                log.warning("worker %d did not take a connection (%s)", pid, error)
                continue
            self.handed_off += 1
            return True
        return False


ProtocolFactory = Callable[[], asyncio.Protocol]


class ConnectionReceiver:
    """In a worker: takes the descriptors the supervisor sends and serves them on the loop."""

    def __init__(self, channel: socket.socket, protocol_factory: ProtocolFactory) -> None:
        self._channel = channel
        self._factory = protocol_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._channel.setblocking(False)
        self._loop.add_reader(self._channel.fileno(), self._on_readable)

    def stop(self) -> None:
        """Take no more connections (those already served go on); idempotent."""
        if self._loop is not None:
            self._loop.remove_reader(self._channel.fileno())
            self._loop = None
        self._channel.close()

    def _on_readable(self) -> None:
        loop = self._loop
        if loop is None:
            return
        while True:
            try:
                data, fds, _flags, _address = socket.recv_fds(self._channel, 16, _RECEIVE_BATCH)
            except BlockingIOError:
                return
            except OSError:
                log.exception("the supervisor's channel failed; taking no more connections")
                self.stop()
                return
            if not data and not fds:  # the supervisor closed its end
                self.stop()
                return
            for fd in fds:
                sock = socket.socket(fileno=fd)
                sock.setblocking(False)
                task = loop.create_task(self._serve(loop, sock))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _serve(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._factory, sock)
        except OSError:  # the client went away before the loop took the socket
            sock.close()
