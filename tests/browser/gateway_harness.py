"""The real gateway (create_app) and the Kiro simulator, served on loopback from one background
thread with its own event loop, for browser tests that drive them from the main thread."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from kiro_proxy.app import create_app
from kiro_proxy.settings import Settings
from kiro_proxy.simulator.app import RunningSimulator, start_simulator

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    def __init__(self, data_dir: Path, admin_password: str) -> None:
        self.data_dir = data_dir
        self.admin_password = admin_password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.sim: RunningSimulator | None = None
        self.server: uvicorn.Server | None = None
        self.app: Any = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)
        self._ready: Future[None] = Future()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        try:
            self.sim = await start_simulator()
            url = self.sim.url
            settings = Settings(
                config_path=self.data_dir / "config.json",
                admin_password=self.admin_password,
                kiro_api_url=url,
                kiro_codewhisperer_url=url,
                kiro_auth_url=url,
                kiro_oidc_url=url,
                kiro_portal_url=url,
            )
            self.app = create_app(settings)
            config = uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
            self.server = uvicorn.Server(config)
            serving = asyncio.ensure_future(self.server.serve())
            while not self.server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.02)
            self._ready.set_result(None)
            await serving
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise
        finally:
            if self.sim is not None:
                await self.sim.close()

    def start(self) -> Gateway:
        self._thread.start()
        self._ready.result(timeout=30)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self._thread.join(timeout=15)

    def in_loop(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the gateway's loop (simulator state is loop-owned)."""
        future: Future[T] = Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return future.result(timeout=10)

    def db_usage(self) -> tuple[int, int, int]:
        """(requests, successes, tokens) straight from the SQLite file."""
        with sqlite3.connect(self.data_dir / "kiro-proxy.db") as db:
            count, ok, tokens = db.execute(
                "SELECT count(*), coalesce(sum(status = 'success'), 0),"
                " coalesce(sum(input_tokens + output_tokens), 0) FROM usage_records"
            ).fetchone()
        return int(count), int(ok), int(tokens)

    def wait_for_usage_rows(self, count: int, timeout: float = 10.0) -> tuple[int, int, int]:
        deadline = time.monotonic() + timeout
        while True:
            usage = self.db_usage()
            if usage[0] >= count or time.monotonic() > deadline:
                return usage
            time.sleep(0.1)
