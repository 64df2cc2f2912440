"""A loopback HTTP/1.1 server whose replies are written byte for byte by the test, for what the
simulator cannot do: odd framings (Content-Length, chunks split anywhere, EOF-delimited),
interim replies, closing idle connections, huge fast bodies, TLS with a self-signed cert."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(slots=True)
class RawRequest:
    head: bytes
    body: bytes

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode()
        return None


# respond(request, writer) writes the reply; True keeps the connection for another request.
Responder = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class RawHttpServer:
    respond: Responder
    ssl_context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    accepted: int = 0  # connections accepted
    client_closed: int = 0  # connections the client closed (EOF or reset seen by the server)
    requests: list[RawRequest] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> RawHttpServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.ssl_context)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def url(self, host: str | None = None) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host or self.host}:{self.port}"

    async def close(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.client_closed += 1
                    return
                request = RawRequest(head, b"")
                length = int(request.header("content-length") or 0)
                request.body = await reader.readexactly(length)
                self.requests.append(request)
                if not await self.respond(request, writer):
                    return
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.client_closed += 1
        finally:
            self._writers.discard(writer)
            writer.close()


def ok_head(extra: str = "", *, length: int | None = None) -> bytes:
    """A 200 event-stream status line and headers; chunked unless `length` is given."""
    framing = (
        f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    )
    return (
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
        f"{framing}{extra}\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


@dataclass(slots=True, frozen=True)
class SelfSignedCert:
    cert_pem: bytes
    key_pem: bytes

    def server_context(self, tmp_path: object) -> ssl.SSLContext:
        from pathlib import Path

        folder = Path(str(tmp_path))
        cert, key = folder / "cert.pem", folder / "key.pem"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """The default (verifying) client context, trusting only this certificate."""
        return ssl.create_default_context(cadata=self.cert_pem.decode())


def self_signed_cert(hostname: str = "localhost") -> SelfSignedCert:
    """A certificate for `hostname` (DNS name) and 127.0.0.1, signed by its own key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return SelfSignedCert(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
