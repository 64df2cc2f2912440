"""Running the app under uvicorn with a graceful stop.

On SIGTERM (or Ctrl+C) uvicorn stops accepting connections, lets the requests in flight finish
for up to `shutdown_grace_seconds`, cancels what is left (the stream then records a "cancelled"
usage row), and runs the lifespan shutdown, which flushes the usage writer. Two changes to
uvicorn's defaults: the wait is logged with the number of requests it waits for, and the process
exits 0 afterwards instead of re-raising the signal (a drained stop is a clean stop; with the
re-raise, every `docker stop` would end with status 143).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from kiro_proxy.connection_handoff import ConnectionReceiver
from kiro_proxy.gc_tuning import settle_heap
from kiro_proxy.response_coalescing import CoalescingHttpToolsProtocol
from kiro_proxy.settings import Settings

log = logging.getLogger("kiro_proxy.shutdown")


class GracefulServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        *,
        grace_seconds: float,
        handoff: socket.socket | None = None,
        settle: bool = False,
    ) -> None:
        super().__init__(config)
        self.grace_seconds = grace_seconds
        # Freeze the start-up heap and raise the collector's threshold once started
        # (kiro_proxy/gc_tuning.py): for a process that only serves, not for one that embeds.
        self._settle = settle
        # A worker of `serve --workers N`: connections come from the supervisor over this
        # channel instead of a listening socket (kiro_proxy/connection_handoff.py).
        self._handoff = handoff
        self._receiver: ConnectionReceiver | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self._settle and self.started:  # start-up is done: what it built stays for good
            frozen = settle_heap()
            log.debug("garbage collector: %d start-up objects frozen", frozen)
        if self._handoff is not None and self.started:
            config = self.config

            def protocol() -> asyncio.Protocol:
                # What uvicorn's own listener builds for each connection it accepts.
                return config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=self.lifespan.state
                )

            self._receiver = ConnectionReceiver(self._handoff, protocol)
            self._receiver.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._receiver is not None:  # take no new connections, then drain as uvicorn does
            self._receiver.stop()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self.should_exit
        super().handle_exit(sig, frame)
        if first:
            log.info(
                "%s received: draining %d request(s) in flight for up to %.0f s",
                signal.Signals(sig).name,
                self._in_flight(),
                self.grace_seconds,
            )

    def _in_flight(self) -> int:
        app: Any = self.config.loaded_app if self.config.loaded else self.config.app
        # The loaded app may be wrapped by uvicorn's middleware; FastAPI's is underneath.
        while app is not None and not isinstance(app, FastAPI):
            app = getattr(app, "app", None)
        observability = getattr(getattr(app, "state", None), "observability", None)
        return len(observability.tracker) if observability is not None else 0

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            try:
                yield
            finally:
                # uvicorn re-raises the captured signal after shutdown; the stop was handled.
                self._captured_signals.clear()


def build_server(
    app: FastAPI, settings: Settings, *, handoff: socket.socket | None = None
) -> GracefulServer:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers propagate to ours (redacted, plain or JSON)
        http=CoalescingHttpToolsProtocol,  # head and body of a response in one send
        access_log=False,  # replaced by the request middleware's line
        # uvicorn annotates this as int, but passes it to asyncio.wait_for: a float works.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]
    )
    return GracefulServer(
        config, grace_seconds=settings.shutdown_grace_seconds, handoff=handoff, settle=True
    )
