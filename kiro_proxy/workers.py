"""`serve --workers N`: N gateway processes answering on one port.

One Python process tops out at about one CPU core; several worker processes use the others.
The parent does the one-time work first (config file, admin password, database migrations,
Kiro-Go import: done N times at once they would race), binds the socket, then forks the
workers, which each run the whole app (pool, jobs, usage writer) under the graceful uvicorn
server. The parent accepts the connections and deals them out round-robin, so that every
worker gets the same share (kiro_proxy/connection_handoff.py). The workers share pool state
through the database (pool/state_sync.py, store/shared_state.py).

Apart from dealing connections, the parent only supervises: SIGTERM or SIGINT stops the
accepting and is passed on to every worker as SIGTERM (each drains its requests in flight, as a
single process does), and the parent exits once all have stopped; a worker that dies is
replaced, unless it failed during start-up (then everything stops, as the next one would fail
the same way).

The admin panel's state is shared the same way: sessions and the login throttle are in the
database (admin/session.py, admin/throttle.py), and a setting changed through one worker is
announced there and taken in by the others within about a second (admin/settings_sync.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from types import FrameType

from kiro_proxy.connection_handoff import ConnectionDealer, channel_pair
from kiro_proxy.settings import Settings

log = logging.getLogger("kiro_proxy.workers")

# uvicorn's exit status for "failed before serving" (uvicorn.config.STARTUP_FAILURE).
STARTUP_FAILURE = 3
_RESTART_DELAY_SECONDS = 1.0


async def prepare_shared_state(settings: Settings) -> None:
    """The start-up work that must happen once, before the workers exist."""
    from kiro_proxy.admin.session import AdminAuth, ConfigFilePasswordStore
    from kiro_proxy.config_file import ConfigFile
    from kiro_proxy.store.accounts import AccountRepository
    from kiro_proxy.store.crypto import SecretBox
    from kiro_proxy.store.database import open_database
    from kiro_proxy.store.import_kiro_go import import_kiro_go_config
    from kiro_proxy.store.settings_kv import SettingsRepository

    config = ConfigFile(settings.config_path)
    config.ensure(admin_password=settings.admin_password)
    # Generates (and prints, once) the admin password when none is configured; the workers
    # then find its hash instead of each generating its own.
    AdminAuth(ConfigFilePasswordStore(config), env_password=settings.admin_password)
    database = await open_database(settings.resolved_database_url)  # runs the migrations
    try:
        box = await asyncio.to_thread(SecretBox.for_data_dir, settings.resolved_data_dir)
        accounts = AccountRepository(database, box)
        report = await import_kiro_go_config(
            settings.config_path, accounts, SettingsRepository(database)
        )
        if report.added:
            log.info("config.json: imported %s", ", ".join(report.added))
    finally:
        await database.close()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _run_worker(settings: Settings, channel: socket.socket) -> int:
    """In the forked child: the app under the graceful server, serving the connections the
    supervisor hands over on `channel` (kiro_proxy/connection_handoff.py)."""
    from kiro_proxy.app import create_app
    from kiro_proxy.graceful import build_server

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    server = build_server(create_app(settings), settings, handoff=channel)
    server.run(sockets=[])
    return 0 if server.started else STARTUP_FAILURE


class Supervisor:
    def __init__(self, settings: Settings, workers: int, sock: socket.socket) -> None:
        self.settings = settings
        self.count = workers
        self.children: set[int] = set()
        self.stopping = False
        self.dealer = ConnectionDealer(sock)

    def _spawn(self) -> None:
        ours, theirs = channel_pair()
        pid = os.fork()
        if pid == 0:  # the worker: connections arrive on its channel, never from the listener
            self.dealer.forget_in_child()
            ours.close()
            code = 1
            try:
                code = _run_worker(self.settings, theirs)
            except BaseException:
                log.exception("worker crashed")
            finally:
                logging.shutdown()
                os._exit(code)
        theirs.close()
        self.children.add(pid)
        self.dealer.add_worker(pid, ours)
        log.info("worker %d started", pid)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info(
                "%s received: stopping %d worker(s)", signal.Signals(sig).name, len(self.children)
            )
        self.stopping = True
        self.dealer.stop()  # new connections are refused while the workers drain theirs
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for _ in range(self.count):
            self._spawn()
        self.dealer.start()
        status = 0
        while self.children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            self.children.discard(pid)
            self.dealer.remove_worker(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if self.stopping:
                continue
            if code == STARTUP_FAILURE:
                log.error("worker %d failed to start; stopping", pid)
                status = 1
                self._on_signal(signal.SIGTERM, None)
                continue
            log.warning("worker %d exited (status %d); starting a new one", pid, code)
            time.sleep(_RESTART_DELAY_SECONDS)
            if not self.stopping:
                self._spawn()
        self.dealer.stop()
        return status


def serve_workers(settings: Settings, workers: int) -> int:
    """Run `workers` gateway processes; returns the exit status once they have all stopped."""
    asyncio.run(prepare_shared_state(settings))
    sock = bind_socket(settings.host, settings.port)
    log.info(
        "listening on http://%s:%d with %d worker processes", settings.host, settings.port, workers
    )
    return Supervisor(settings, workers, sock).run()
