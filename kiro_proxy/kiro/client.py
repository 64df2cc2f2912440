"""The only module that talks HTTP to Kiro: generate (event stream), token refresh, usage, models.

The generate call on a direct connection goes through the lean HTTP/1.1 pool of `http1`
(`upstream_http_client="builtin"`, the default; "aiohttp" is the escape hatch); everything else
— REST calls, and generate through an account or global proxy — through one pooled aiohttp
session (plus one per SOCKS proxy). Timeouts are per phase — connect, first
byte, idle gap between chunks — and never total, so long generations are not cut (a Kiro-Go bug).
`generate` is an async generator: a non-200 raises `KiroHTTPError` before anything is yielded,
then typed events are yielded as frames arrive; mid-stream failures raise typed errors.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import aiohttp
import orjson

from kiro_proxy.kiro import fingerprint
from kiro_proxy.kiro.errors import (
    KiroConnectionError,
    KiroError,
    KiroHTTPError,
    KiroStreamError,
    KiroTimeoutError,
    TokenRefreshError,
    parse_error_body,
)
from kiro_proxy.kiro.events import KiroEvent, event_from_parts
from kiro_proxy.kiro.eventstream import EventStreamDecoder, EventStreamError, TruncatedStream
from kiro_proxy.kiro.http1 import ConnectTimeout, Http1Pool, Http1Reply
from kiro_proxy.kiro.reply_stream import KiroEventStream
from kiro_proxy.kiro.request import KiroRequest

Endpoint = Literal["auto", "codewhisperer", "amazonq"]
UpstreamHttpClient = Literal["builtin", "aiohttp"]
GENERATE_PATH = "/generateAssistantResponse"
DEFAULT_REGION = "us-east-1"
# The generate API exists only in these regions; everything else is served by us-east-1 (DSH).
_API_REGIONS = frozenset({"us-east-1", "eu-central-1"})
_MAX_MODEL_PAGES = 20


@dataclass(slots=True, frozen=True)
class UpstreamCredentials:
    access_token: str
    machine_id: str  # 64 hex chars (fingerprint.derive_machine_id)
    auth_method: str  # "social" | "idc" | "api_key"
    region: str = DEFAULT_REGION
    profile_arn: str | None = None
    proxy_url: str | None = None  # per-account outbound proxy (http:// or socks5://)

    def __repr__(self) -> str:  # never print the token
        return f"UpstreamCredentials(auth_method={self.auth_method!r}, region={self.region!r})"


@dataclass(slots=True, frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str | None
    expires_in: int
    profile_arn: str | None = None

    def __repr__(self) -> str:
        return f"TokenGrant(expires_in={self.expires_in}, profile_arn={self.profile_arn!r})"


def api_region(profile_arn: str | None) -> str:
    """API region from the profile ARN (`arn:aws:codewhisperer:<region>:…`), else us-east-1.

    The API region is not the auth region: an IdC account in ap-southeast-2 still generates in
    us-east-1.
    """
    if profile_arn:
        parts = profile_arn.split(":")
        if len(parts) > 3 and parts[3] in _API_REGIONS:
            return parts[3]
    return DEFAULT_REGION


def _fill(template: str, region: str) -> str:
    return template.replace("{region}", region or DEFAULT_REGION).rstrip("/")


# A fast upstream delivers tens of KB per read; ~25 typical text frames per slice keep the wait
# for the first event short without paying per-slice overhead on every small frame.
DECODE_SLICE_BYTES = 4096
# The reply's very first slice is smaller (a text frame is ~150 bytes): the first token waits
# for a few frames to be decoded, not for ~25 (~50 us in the profile of a burst).
FIRST_SLICE_BYTES = 512


class _Reply(Protocol):
    """A generate reply being read: `Http1Reply`, or `_AiohttpReply` around aiohttp's."""

    async def read(self, limit: float) -> bytes: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class _AiohttpReply:
    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def read(self, limit: float) -> bytes:
        async with asyncio.timeout(limit):
            return await self._response.content.readany()

    def release(self) -> None:
        self._response.release()

    def close(self) -> None:
        self._response.close()


class KiroClient:
    def __init__(
        self,
        *,
        api_url: str,
        codewhisperer_url: str,
        auth_url: str,
        oidc_url_template: str,
        kiro_version: str = "0.11.107",
        agent_mode: str = "vibe",
        connect_timeout: float = 10,
        first_byte_timeout: float = 120,
        idle_timeout: float = 300,
        proxy_url: str | None = None,
        upstream_http_client: UpstreamHttpClient = "builtin",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context` (tests: a local TLS server) defaults to the system's trust store."""
        self.api_url = api_url
        self.codewhisperer_url = codewhisperer_url
        self.auth_url = auth_url
        self.oidc_url_template = oidc_url_template
        self.kiro_version = kiro_version
        self.agent_mode = agent_mode
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.idle_timeout = idle_timeout
        self.proxy_url = proxy_url
        self.upstream_http_client = upstream_http_client
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._socks_sessions: dict[str, aiohttp.ClientSession] = {}
        self._http1: Http1Pool | None = None  # the generate calls on direct connections
        # Set by close(): a call made afterwards (a refresh or request still running while the
        # app shuts down) must not open new sessions that nobody would close.
        self._closed = False

    # --- lifecycle --------------------------------------------------------------------------
    def _timeout(self) -> aiohttp.ClientTimeout:
        # No total and no sock_read: phases are timed by hand around each await.
        return aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=self.connect_timeout, sock_read=None
        )

    async def start(self) -> None:
        self._closed = False
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=0, ttl_dns_cache=300, ssl=self._ssl_context or True
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout())
        if self._http1 is None and self.upstream_http_client == "builtin":
            self._http1 = Http1Pool(
                connect_timeout=self.connect_timeout, ssl_context=self._ssl_context
            )

    async def close(self) -> None:
        self._closed = True
        sessions = [self._session, *self._socks_sessions.values()]
        http1, self._http1 = self._http1, None
        self._session, self._socks_sessions = None, {}
        if http1 is not None:
            await http1.close()
        for session in sessions:
            if session is not None:
                await session.close()

    def idle_connections(self) -> int:
        """Keep-alive connections parked in the pools (direct ones: the SOCKS pools are not
        counted)."""
        idle = self._http1.idle_count if self._http1 is not None else 0
        if self._session is not None:
            connector = self._session.connector
            idle += sum(len(c) for c in connector._conns.values())  # type: ignore[union-attr]
        return idle

    async def _started(self) -> None:
        """Start on first use (a client nobody started); after close() only an explicit
        start() opens sessions again."""
        if self._session is None:
            if self._closed:
                raise KiroConnectionError("the Kiro client is closed (shutting down)")
            await self.start()

    async def __aenter__(self) -> KiroClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _effective_proxy(self, proxy_url: str | None) -> str | None:
        """The account's proxy, else the global one; None for a direct connection."""
        proxy = proxy_url or self.proxy_url
        return None if proxy in (None, "", "direct") else proxy

    def _session_for(self, proxy_url: str | None) -> tuple[aiohttp.ClientSession, str | None]:
        """Session and per-request `proxy=` for an account's proxy (falls back to the global one).

        HTTP proxies ride on the shared pool; SOCKS needs its own connector per proxy URL.
        """
        proxy = self._effective_proxy(proxy_url)
        if self._session is None:
            raise KiroError("KiroClient.start() was not called")
        if proxy is None or proxy.startswith(("http://", "https://")):
            return self._session, proxy
        session = self._socks_sessions.get(proxy)
        if session is None:
            from aiohttp_socks import ProxyConnector

            session = aiohttp.ClientSession(
                connector=ProxyConnector.from_url(proxy, limit=0),
                timeout=self._timeout(),
            )
            self._socks_sessions[proxy] = session
        return session, None

    # --- generate ---------------------------------------------------------------------------
    def generate_urls(self, endpoint: str, creds: UpstreamCredentials) -> list[str]:
        """Endpoint order (protocol doc §1.2): amazonq first only when preferred."""
        region = api_region(creds.profile_arn)
        codewhisperer = _fill(self.codewhisperer_url, region) + GENERATE_PATH
        amazonq = _fill(self.api_url, region) + GENERATE_PATH
        order = [amazonq, codewhisperer] if endpoint == "amazonq" else [codewhisperer, amazonq]
        return order if order[0] != order[1] else order[:1]

    def generate(
        self, request: KiroRequest, creds: UpstreamCredentials, *, endpoint: str = "auto"
    ) -> KiroEventStream:
        """The reply's events; nothing is sent until the first event is asked for."""
        return KiroEventStream(self._generate_batches(request, creds, endpoint))

    async def _generate_batches(
        self, request: KiroRequest, creds: UpstreamCredentials, endpoint: str
    ) -> AsyncGenerator[list[KiroEvent], None]:
        reply, first, used_url = await self._open_any(request, creds, endpoint)
        # This frame lives as long as the stream: drop the request (a long history is hundreds
        # of KB of objects) once it is sent, so an open stream holds only what it reads.
        del request, creds
        completed = False
        try:
            async for batch in self._event_batches(reply, first, used_url):
                yield batch
            completed = True
        finally:
            if completed:
                reply.release()
            else:
                reply.close()

    async def _open_any(
        self, request: KiroRequest, creds: UpstreamCredentials, endpoint: str
    ) -> tuple[_Reply, bytes, str]:
        """POST to the first endpoint that answers: the reply, its first bytes, its URL."""
        payload = request.to_payload()
        if "profileArn" not in payload and creds.profile_arn:
            payload["profileArn"] = creds.profile_arn
        body = orjson.dumps(payload)
        await self._started()
        # The lean client serves direct connections; proxies stay with aiohttp.
        lean = self._http1 if self._effective_proxy(creds.proxy_url) is None else None
        if lean is None:
            session, proxy = self._session_for(creds.proxy_url)
        urls = self.generate_urls(endpoint, creds)
        for index, url in enumerate(urls):
            headers = fingerprint.generate_headers(
                access_token=creds.access_token,
                machine_id=creds.machine_id,
                auth_method=creds.auth_method,
                kiro_version=self.kiro_version,
                agent_mode=self.agent_mode,
            )
            try:
                if lean is not None:
                    reply, first = await self._open_lean(lean, url, body, headers)
                    return reply, first, url
                response, first = await self._open_stream(session, url, body, headers, proxy)
                return _AiohttpReply(response), first, url
            except KiroHTTPError as error:
                # 429 on one endpoint may be a per-endpoint quota: try the other one.
                if not error.is_throttled or index == len(urls) - 1:
                    raise
            except (KiroConnectionError, KiroTimeoutError) as error:
                if isinstance(error, KiroTimeoutError) and error.phase != "connect":
                    raise
                if index == len(urls) - 1:
                    raise
        raise AssertionError("generate_urls returned no URL")  # pragma: no cover

    async def _open_stream(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: bytes,
        headers: dict[str, str],
        proxy: str | None,
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """POST and wait for the first body bytes (the first-byte timeout covers both)."""
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(self.first_byte_timeout):
                response = await session.post(url, data=body, headers=headers, proxy=proxy)
                if response.status != 200:
                    data = await response.read()
                    response.release()
                    raise KiroHTTPError.from_body(
                        response.status,
                        data,
                        response.headers.get("Retry-After"),
                        endpoint=_host(url),
                    )
                first = await response.content.readany()
                return response, first
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            _close(response)
            raise self._transport_error(exc, url) from exc

    async def _open_lean(
        self, pool: Http1Pool, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[Http1Reply, bytes]:
        """`_open_stream` on the lean client: the same phases, errors and non-200 handling."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_byte_timeout
        try:
            reply = await pool.post(url, body, headers, first_byte_timeout=self.first_byte_timeout)
        except (TimeoutError, OSError) as exc:
            raise self._transport_error(exc, url) from exc
        if reply.status == 200:
            return reply, reply.take()
        try:
            data = await reply.read_all(deadline - loop.time())
        except BaseException as exc:  # cancelled too: the half-read connection must be closed
            reply.close()
            if isinstance(exc, TimeoutError | OSError):
                raise self._transport_error(exc, url) from exc
            raise
        reply.release()
        raise KiroHTTPError.from_body(reply.status, data, reply.retry_after, endpoint=_host(url))

    async def _event_batches(
        self, reply: _Reply, data: bytes, url: str
    ) -> AsyncGenerator[list[KiroEvent], None]:
        """The events decoded from each read, as lists (never an empty one). A large read is
        decoded a slice at a time: its first events go out before the rest is decoded."""
        decoder = EventStreamDecoder()
        feed = decoder.feed_as  # events straight from the decoder, no Frame per frame
        idle = self.idle_timeout
        slice_bytes = FIRST_SLICE_BYTES
        while data:
            view = memoryview(data)
            start = 0
            while start < len(data):
                end = start + slice_bytes
                try:
                    events = feed(view[start:end], event_from_parts)
                except EventStreamError as exc:  # too many corrupt frames, or a size limit
                    raise KiroStreamError(
                        f"unreadable event stream from {_host(url)}: {exc}"
                    ) from exc
                start = end
                if events:
                    slice_bytes = DECODE_SLICE_BYTES
                    yield events
            try:
                data = await reply.read(idle)
            except TimeoutError as exc:
                raise KiroTimeoutError("idle", idle, endpoint=_host(url)) from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise KiroConnectionError(
                    f"stream from {_host(url)} cut: {type(exc).__name__}: {exc}"
                ) from exc
        try:
            decoder.close()
        except TruncatedStream as exc:
            raise KiroStreamError(f"stream from {_host(url)} ended mid-frame") from exc
        except EventStreamError as exc:  # an error deferred behind frames of the last chunk
            raise KiroStreamError(f"unreadable event stream from {_host(url)}: {exc}") from exc

    # --- REST calls -------------------------------------------------------------------------
    async def _request_json(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        proxy_url: str | None,
        json_body: dict[str, Any] | None = None,
    ) -> tuple[int, bytes, str | None]:
        await self._started()
        session, proxy = self._session_for(proxy_url)
        data = orjson.dumps(json_body) if json_body is not None else None
        try:
            async with asyncio.timeout(self.first_byte_timeout):
                async with session.request(
                    method, url, data=data, headers=headers, proxy=proxy
                ) as response:
                    return (
                        response.status,
                        await response.read(),
                        response.headers.get("Retry-After"),
                    )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._transport_error(exc, url) from exc

    def _transport_error(self, exc: BaseException, url: str) -> KiroError:
        """A failure before the answer's first bytes, as the timeout or connection error it is.
        Order matters: aiohttp's connect timeout is a ClientError and a TimeoutError at once.
        Serves both transports: the lean one raises ConnectTimeout, TimeoutError and OSError."""
        if isinstance(exc, aiohttp.ConnectionTimeoutError | ConnectTimeout):
            return KiroTimeoutError("connect", self.connect_timeout, endpoint=_host(url))
        if isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ClientError):
            return KiroTimeoutError("first_byte", self.first_byte_timeout, endpoint=_host(url))
        return KiroConnectionError(f"{_host(url)}: {type(exc).__name__}: {exc}")

    async def refresh_social(
        self,
        refresh_token: str,
        *,
        machine_id: str,
        region: str = DEFAULT_REGION,
        proxy_url: str | None = None,
    ) -> TokenGrant:
        url = _fill(self.auth_url, region) + "/refreshToken"
        status, body, _ = await self._request_json(
            "POST",
            url,
            headers=fingerprint.social_refresh_headers(
                machine_id=machine_id, kiro_version=self.kiro_version
            ),
            proxy_url=proxy_url,
            json_body={"refreshToken": refresh_token},
        )
        return _token_grant(status, body, refresh_token)

    async def refresh_oidc(
        self,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        *,
        region: str,
        proxy_url: str | None = None,
    ) -> TokenGrant:
        # camelCase JSON, not the RFC's form encoding: that is what SSO-OIDC accepts (JW note).
        url = _fill(self.oidc_url_template, region) + "/token"
        status, body, _ = await self._request_json(
            "POST",
            url,
            headers=fingerprint.oidc_headers(),
            proxy_url=proxy_url,
            json_body={
                "clientId": client_id,
                "clientSecret": client_secret,
                "refreshToken": refresh_token,
                "grantType": "refresh_token",
            },
        )
        return _token_grant(status, body, refresh_token)

    async def _get_runtime(
        self, creds: UpstreamCredentials, path: str, query: dict[str, str]
    ) -> dict[str, Any]:
        if creds.profile_arn:
            query = {**query, "profileArn": creds.profile_arn}
        url = f"{_fill(self.api_url, api_region(creds.profile_arn))}{path}?{urlencode(query)}"
        headers = fingerprint.runtime_headers(
            access_token=creds.access_token,
            machine_id=creds.machine_id,
            auth_method=creds.auth_method,
            kiro_version=self.kiro_version,
        )
        status, body, retry_after = await self._request_json(
            "GET", url, headers=headers, proxy_url=creds.proxy_url
        )
        if status != 200:
            raise KiroHTTPError.from_body(status, body, retry_after, endpoint=_host(url))
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise KiroError(f"{path}: upstream answered with invalid JSON") from exc
        if not isinstance(data, dict):
            raise KiroError(f"{path}: upstream answered with a non-object")
        return data

    async def get_usage_limits(self, creds: UpstreamCredentials) -> dict[str, Any]:
        """Raw getUsageLimits JSON (usage, subscription, userInfo.email)."""
        return await self._get_runtime(
            creds,
            "/getUsageLimits",
            {"origin": "AI_EDITOR", "resourceType": "AGENTIC_REQUEST", "isEmailRequired": "true"},
        )

    async def list_models(self, creds: UpstreamCredentials) -> list[dict[str, Any]]:
        """Every page of ListAvailableModels."""
        models: list[dict[str, Any]] = []
        next_token: str | None = None
        for _ in range(_MAX_MODEL_PAGES):
            query = {"origin": "AI_EDITOR", "maxResults": "50"}
            if next_token:
                query["nextToken"] = next_token
            page = await self._get_runtime(creds, "/ListAvailableModels", query)
            models.extend(m for m in page.get("models") or [] if isinstance(m, dict))
            next_token = page.get("nextToken") or None
            if not next_token:
                break
        return models


def _token_grant(status: int, body: bytes, old_refresh_token: str) -> TokenGrant:
    if status != 200:
        reason, message = parse_error_body(body)
        raise TokenRefreshError(status, reason, message)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TokenRefreshError(status, None, "refresh answer is not JSON") from exc
    access = data.get("accessToken") if isinstance(data, dict) else None
    if not isinstance(access, str) or not access:
        raise TokenRefreshError(status, None, "refresh answer has no accessToken")
    expires_in = data.get("expiresIn")
    profile_arn = data.get("profileArn")
    return TokenGrant(
        access_token=access,
        # IdC answers may omit the refresh token: the old one stays valid (KG, KRS).
        refresh_token=data.get("refreshToken") or old_refresh_token,
        expires_in=int(expires_in) if isinstance(expires_in, int | float) else 3600,
        profile_arn=profile_arn if isinstance(profile_arn, str) and profile_arn else None,
    )


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


def _close(response: aiohttp.ClientResponse | None) -> None:
    if response is not None:
        response.close()
