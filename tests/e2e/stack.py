"""A live stack for end-to-end tests: the Kiro simulator and the real gateway (uvicorn, real HTTP)
running in a background thread with their own event loop, so synchronous clients — the official
SDKs, subprocesses such as the Claude Code CLI — can talk to it like to a deployed server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import uvicorn

from kiro_proxy.app import create_app
from kiro_proxy.settings import Settings
from kiro_proxy.simulator.app import RunningSimulator, start_simulator
from kiro_proxy.simulator.lean_generate import LeanGenerateServer, start_lean_generate
from kiro_proxy.simulator.state import SimAccount, SimState
from kiro_proxy.simulator.testing import kiro_go_account

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveStack:
    def __init__(
        self,
        data_dir: Path,
        *,
        accounts: int = 1,
        settings: dict[str, Any] | None = None,
        database_url: str | None = None,
        lean_generate: bool = False,
    ) -> None:
        """`lean_generate`: the gateway's CodeWhisperer URL (where generate calls go first) is
        the simulator's lean generate server, as in the benchmark."""
        self.data_dir = data_dir
        self._lean_generate = lean_generate
        self.lean: LeanGenerateServer | None = None
        self._account_count = accounts
        self._settings_overrides = settings or {}
        self._database_url = database_url
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.sim: RunningSimulator | None = None
        self.server: uvicorn.Server | None = None
        self.accounts: list[SimAccount] = []
        self.port = free_port()
        self.settings: Settings | None = None

    # --- running code on the stack's loop ------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    @property
    def state(self) -> SimState:
        assert self.sim is not None
        return self.sim.state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LiveStack:
        self._thread.start()
        self.sim = self.run(start_simulator())
        self.accounts = [
            self.call(lambda i=i: self.state.add_account(f"e2e{i}@example.com"))
            for i in range(self._account_count)
        ]
        config_path = self.data_dir / "config.json"
        config_path.write_bytes(
            orjson.dumps({"accounts": [kiro_go_account(a) for a in self.accounts]})
        )
        sim_url = self.sim.url
        if self._lean_generate:
            self.lean = self.run(start_lean_generate(self.state))
        values: dict[str, Any] = {
            "config_path": config_path,
            "data_dir": self.data_dir,
            "host": "127.0.0.1",
            "port": self.port,
            "kiro_api_url": sim_url,
            "kiro_codewhisperer_url": self.lean.url if self.lean is not None else sim_url,
            "kiro_auth_url": sim_url,
            "kiro_oidc_url": sim_url,
            "kiro_portal_url": sim_url,
            "first_byte_timeout": 10.0,
            "idle_timeout": 10.0,
        }
        if self._database_url:
            values["database_url"] = self._database_url
        values.update(self._settings_overrides)
        self.settings = Settings(**values)
        self.app = create_app(self.settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # The clients of these tests live in the same process: a pause of the whole process
            # (a full garbage collection of the suite's large heap) ages every kept-alive
            # connection at once, and uvicorn's default 5 s idle timeout could then close one
            # just as the client reuses it (an httpx ReadError seen once in a full run).
            timeout_keep_alive=60,
        )
        self.server = uvicorn.Server(config)
        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self.server.serve()))  # type: ignore[union-attr]
        self._wait_until_started()
        return self

    def _wait_until_started(self, timeout: float = 20) -> None:
        async def wait() -> None:
            assert self.server is not None
            for _ in range(int(timeout / 0.02)):
                if self.server.started:
                    return
                await asyncio.sleep(0.02)
            raise RuntimeError("gateway did not start")

        self.run(wait(), timeout=timeout + 5)

    def __enter__(self) -> LiveStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        async def shutdown() -> None:
            if self.server is not None:
                self.server.should_exit = True
                for _ in range(250):
                    if not self.server.started or getattr(self.server, "_done", False):
                        break
                    await asyncio.sleep(0.02)
            # Give the server's own shutdown (lifespan: runtime.close, client.close) time to run.
            await asyncio.sleep(0.3)
            if self.lean is not None:
                await self.lean.close()
            if self.sim is not None:
                await self.sim.close()

        try:
            self.run(shutdown(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    # --- helpers for tests -------------------------------------------------------------------
    def enqueue(self, *items: Any, account: SimAccount | None = None) -> None:
        self.call(lambda: self.state.enqueue(*items, account=account))

    @property
    def runtime(self) -> Any:
        return self.app.state.services.runtime

    def reset_health(self) -> None:
        """Clear cooldowns and quota marks so one test's injected faults do not leak into the next."""

        async def reset() -> None:
            for account in self.runtime.pool.all():
                await self.runtime.update_account(
                    account.id,
                    cooldown_until=0.0,
                    quota_exhausted_until=0.0,
                    consecutive_failures=0,
                    enabled=True,
                )

        self.run(reset())

    def reset(self) -> None:
        """Drop queued scripts and clear account health: what every test leaves behind."""
        self.call(self.state.clear_scripts)
        self.reset_health()

    def recorded(self) -> list[Any]:
        return self.call(lambda: list(self.state.requests))

    def generate_requests(self) -> list[Any]:
        return [r for r in self.recorded() if r.path.endswith("generateAssistantResponse")]


def clean_between_tests(stack_fixture: str) -> Any:
    """An autouse fixture for a conftest: after each test that used `stack_fixture` (a module-scoped
    LiveStack), reset it so one test's scripts and injected faults do not leak into the next."""

    @pytest.fixture(autouse=True)
    def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
        yield
        if stack_fixture in request.fixturenames:
            live: LiveStack = request.getfixturevalue(stack_fixture)
            live.reset()

    return _clean
