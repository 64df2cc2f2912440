"""uvicorn's HTTP protocol with each response's head and first body bytes sent together.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`, then
the body in a second write: two send calls for every response, two TCP segments, and a client
woken twice for a reply that fits in one packet. `CoalescingHttpToolsProtocol` gives uvicorn a
transport that holds a write starting with the status line until the next write, which it joins,
or until the end of the event loop's current turn, so a response whose body is not ready yet
(a stream still waiting for its first event) has its head on the wire just as early as before.
Order is never changed: whatever is held leaves before anything written after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1."


class CoalescingTransport:
    """A transport wrapper for one connection (everything but write/close/abort passes through)."""

    __slots__ = ("_flush_handle", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:7] == _STATUS_LINE and not self._transport.is_closing():
            self._held = bytes(data)
            if self._flush_handle is None:
                self._flush_handle = self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        self._flush_handle = None
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    # What uvicorn calls on every request or connection, spelled out: an attribute reached
    # through __getattr__ first fails the normal lookup, which builds an AttributeError.
    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `CoalescingTransport` (`uvicorn.Config(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
