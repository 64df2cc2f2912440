"""A byte-level HTTP/1.1 client for simulator tests: the test writes request bytes exactly as it
wants them (pipelined, split, malformed) and reads responses as they arrive, parsed by httptools,
with the framing (chunked or Content-Length) visible."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httptools


@dataclass(slots=True)
class RawResponse:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    complete: bool = False  # the framing said the body ended (not a cut connection)

    @property
    def chunked(self) -> bool:
        return self.headers.get("transfer-encoding", "").lower() == "chunked"

    def json_view(self) -> tuple[int, str | None, str | None, bytes]:
        """What a client of either server must see alike: status, type, Retry-After, body."""
        return (
            self.status,
            self.headers.get("content-type"),
            self.headers.get("retry-after"),
            self.body,
        )


def request_bytes(
    body: bytes,
    *,
    token: str | None,
    path: str = "/generateAssistantResponse",
    method: str = "POST",
    close: bool = False,
    version: str = "1.1",
    extra: dict[str, str] | None = None,
) -> bytes:
    headers = {
        "Host": "127.0.0.1",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **({"Authorization": f"Bearer {token}"} if token is not None else {}),
        **({"Connection": "close"} if close else {}),
        **(extra or {}),
    }
    head = f"{method} {path} HTTP/{version}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    return (head + "\r\n").encode() + body


class RawHttpClient:
    """One connection; responses (several when pipelined) in the order they complete."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = httptools.HttpResponseParser(self)
        self.responses: list[RawResponse] = []
        self.eof = False

    @classmethod
    async def open(cls, url: str) -> RawHttpClient:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    # --- httptools callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.responses.append(RawResponse())

    def on_header(self, name: bytes, value: bytes) -> None:
        self.responses[-1].headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.responses[-1].status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.responses[-1].body += body

    def on_message_complete(self) -> None:
        self.responses[-1].complete = True

    # --- use ----------------------------------------------------------------------------------
    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_once(self, limit: float = 5.0) -> bytes:
        """One read from the socket, fed to the parser (b"" at EOF)."""
        data = await asyncio.wait_for(self.reader.read(65536), limit)
        if data:
            self.parser.feed_data(data)
        else:
            self.eof = True
        return data

    async def read_until(self, done: object, limit: float = 5.0) -> None:
        """Read until `done()` holds or the server closes the connection."""
        assert callable(done)
        async with asyncio.timeout(limit):
            while not done() and not self.eof:
                await self.read_once()

    async def response(self, index: int = 0, limit: float = 5.0) -> RawResponse:
        """The `index`-th response on this connection, complete or cut by the server."""

        def finished() -> bool:
            return len(self.responses) > index and self.responses[index].complete

        await self.read_until(finished, limit)
        return self.responses[index]

    async def exchange(self, data: bytes, limit: float = 5.0) -> RawResponse:
        index = len(self.responses)
        await self.send(data)
        return await self.response(index, limit)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


async def one_exchange(url: str, data: bytes, limit: float = 5.0) -> RawResponse:
    client = await RawHttpClient.open(url)
    try:
        return await client.exchange(data, limit)
    finally:
        await client.close()
