"""The dispatcher: one request in, an open upstream reply out, with failover before the first byte.

`open_reply` pulls the first event before returning, so every failure that happens before the
client sees a byte (HTTP errors, refusals, timeouts, an exception frame as first event) can move
to another account. Once the reply is handed over there is no retry; the API layer turns later
errors into an error event and calls `finish`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kiro_proxy.errors import (
    InvalidRequestError,
    OverloadedError,
    PermissionDeniedError,
    PromptTooLongError,
    ProxyError,
    RateLimitError,
    UpstreamError,
)
from kiro_proxy.kiro.errors import KiroError, KiroHTTPError
from kiro_proxy.kiro.events import ErrorEvent, ExceptionEvent, KiroEvent
from kiro_proxy.kiro.request import KiroRequest
from kiro_proxy.pool.account import Account
from kiro_proxy.pool.backoff import first_of_next_month_utc, throttle_cooldown, transient_cooldown
from kiro_proxy.pool.failover import (
    CLIENT_ERRORS,
    Reaction,
    Verdict,
    judge_http_error,
    judge_stream_exception,
)
from kiro_proxy.pool.pool import AccountPool
from kiro_proxy.pool.reply import RequestContext, UpstreamReply, close_quietly
from kiro_proxy.pool.tokens import RefreshFailed, TokenManager
from kiro_proxy.pool.usage import UsageRecorder, UsageRow

# RequestContext and UpstreamReply live in reply.py; the API layer imports them from here.
__all__ = ["Dispatcher", "RequestContext", "UpstreamReply"]

log = logging.getLogger(__name__)

QuotaHook = Callable[[Account], Awaitable[None]]


class _NextAccount(Exception):
    """This account could not serve; the dispatcher tries another."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


class Dispatcher:
    def __init__(
        self,
        client: Any,
        pool: AccountPool,
        tokens: TokenManager,
        recorder: UsageRecorder,
        *,
        max_attempts: int = 3,
        preferred_endpoint: str = "auto",
        on_quota_exhausted: QuotaHook | None = None,
    ) -> None:
        self.client = client
        self.pool = pool
        self.tokens = tokens
        self.recorder = recorder
        self.max_attempts = max_attempts
        self.preferred_endpoint = preferred_endpoint
        self._on_quota_exhausted = on_quota_exhausted
        self._background: set[asyncio.Task[None]] = set()

    async def open_reply(self, request: KiroRequest, *, context: RequestContext) -> UpstreamReply:
        started = time.monotonic()
        tried: list[str] = []
        failures: list[str] = []
        reactions: list[Reaction] = []
        last_account: Account | None = None
        ran_out_of_accounts = False
        try:
            while len(tried) < self.max_attempts:
                account = self.pool.select(exclude=tried)
                if account is None:
                    ran_out_of_accounts = True
                    break
                tried.append(account.id)
                last_account = account
                try:
                    return await self._attempt(account, request, context, started, len(tried))
                except _NextAccount as step:
                    failures.append(f"{account.label}: {step.verdict.kind or 'error'}")
                    reactions.append(step.verdict.reaction)
                    log.info(
                        "request %s: account %s failed (%s), trying another",
                        context.request_id,
                        account.label,
                        step.verdict.kind,
                    )
        except asyncio.CancelledError:
            self._record(context, last_account, started, len(tried), "cancelled", "cancelled")
            raise
        except ProxyError as exc:
            self._record(context, last_account, started, len(tried), "error", exc.kind)
            raise
        except Exception as exc:  # a bug or an unforeseen failure: still counted, then surfaced
            kind = type(exc).__name__
            self._record(context, last_account, started, len(tried), "error", kind)
            raise

        error = self._final_error(tried, failures, reactions, ran_out_of_accounts)
        self._record(context, last_account, started, len(tried), "error", error.kind)
        raise error

    def _final_error(
        self,
        tried: list[str],
        failures: list[str],
        reactions: list[Reaction],
        ran_out_of_accounts: bool,
    ) -> ProxyError:
        """The client-facing error once no account could serve, named after what went wrong:
        a client retries a 429 after Retry-After, and must not retry a 403."""
        tail = f" (tried {'; '.join(failures)})" if failures else ""
        outcomes = set(reactions)
        if reactions and outcomes <= {Reaction.THROTTLED, Reaction.QUOTA_EXHAUSTED}:
            wait = self.pool.seconds_until_available()
            what = (
                "out of monthly quota"
                if outcomes == {Reaction.QUOTA_EXHAUSTED}
                else "rate limited by Kiro"
            )
            return RateLimitError(f"every account is {what}; retry later{tail}", retry_after=wait)
        if reactions and outcomes == {Reaction.AUTH_FAILURE}:
            return PermissionDeniedError(f"Kiro refused access for every account tried{tail}")
        if ran_out_of_accounts or not tried:
            return OverloadedError(
                self.pool.explain_unavailable() + tail,
                retry_after=self.pool.seconds_until_available(),
            )
        return UpstreamError(f"Kiro failed on {len(tried)} attempts{tail}")

    async def _attempt(
        self,
        account: Account,
        request: KiroRequest,
        context: RequestContext,
        started: float,
        attempts: int,
    ) -> UpstreamReply:
        account.in_flight += 1
        handed_over = False
        try:
            await self._fresh_token(account)
            refreshed = False
            while True:
                creds = self.tokens.credentials(account)
                stream: Any = None
                try:
                    stream = self.client.generate(request, creds, endpoint=self.preferred_endpoint)
                    if inspect.isawaitable(stream):
                        stream = await stream
                    stream = aiter(stream)
                    try:
                        first: KiroEvent | None = await anext(stream)
                    except StopAsyncIteration:
                        first = None
                except KiroHTTPError as exc:
                    await close_quietly(stream)
                    verdict = judge_http_error(exc)
                    if verdict.reaction is Reaction.REFRESH_AND_RETRY and not refreshed:
                        refreshed = True
                        await self._fresh_token(account, stale=creds.access_token)
                        continue
                    self._react(account, verdict)
                except KiroError as exc:  # timeouts, connection and stream failures
                    await close_quietly(stream)
                    kind = (
                        type(exc).__name__.removeprefix("Kiro").removesuffix("Error").lower()
                        or "upstream"
                    )
                    self._react(account, Verdict(Reaction.TRANSIENT, str(exc), kind=kind))
                except BaseException:
                    await close_quietly(stream)
                    raise
                if first is None:
                    await close_quietly(stream)
                    self._react(account, Verdict(Reaction.TRANSIENT, "empty reply", kind="empty"))
                if isinstance(first, ExceptionEvent | ErrorEvent):
                    await close_quietly(stream)
                    self._react(account, judge_stream_exception(first))
                handed_over = True
                return UpstreamReply(
                    on_finish=self._finish_reply,
                    account=account,
                    stream=stream,
                    first_event=first,
                    context=context,
                    started=started,
                    first_event_at=time.monotonic(),
                    attempts=attempts,
                )
        finally:
            if not handed_over:
                account.in_flight -= 1

    async def _fresh_token(self, account: Account, *, stale: str | None = None) -> None:
        try:
            if stale is None:
                await self.tokens.ensure_fresh(account)
            else:
                await self.tokens.refresh(account, stale_access_token=stale)
        except RefreshFailed as exc:
            if exc.permanent:
                raise _NextAccount(
                    Verdict(Reaction.DISABLE, str(exc), kind="invalid_grant")
                ) from exc
            self._react(account, Verdict(Reaction.TRANSIENT, str(exc), kind="refresh_failed"))

    def _react(self, account: Account, verdict: Verdict) -> None:
        """Apply the verdict to the account; raise the client's error or move to the next."""
        reaction = verdict.reaction
        if reaction in CLIENT_ERRORS:
            if reaction is Reaction.PROMPT_TOO_LONG:
                raise PromptTooLongError()
            if reaction is Reaction.BAD_REQUEST:
                raise InvalidRequestError(f"Kiro rejected the request: {verdict.message}")
            raise UpstreamError(f"Kiro error: {verdict.message}")
        if reaction is Reaction.DISABLE:
            if account.enabled:  # a refused refresh has already disabled it with its reason
                self.pool.disable(account, f"suspended by Kiro: {verdict.message[:200]}")
                log.warning("account %s disabled: %s", account.label, account.disabled_reason)
        elif reaction is Reaction.QUOTA_EXHAUSTED:
            self._park_until_reset(account)
        elif reaction is Reaction.THROTTLED:
            failures = self.pool.note_failure(account)
            self.pool.cool_down(account, throttle_cooldown(failures, verdict.retry_after))
        else:  # transient, auth failure, a token still refused after one refresh
            failures = self.pool.note_failure(account)
            self.pool.cool_down(account, transient_cooldown(failures, verdict.retry_after))
        raise _NextAccount(verdict)

    def _park_until_reset(self, account: Account) -> None:
        now = self.pool.clock()
        until = account.reset_at if account.reset_at and account.reset_at > now else None
        self.pool.mark_quota_exhausted(account, until or first_of_next_month_utc(now))
        log.warning("account %s has used its monthly quota", account.label)
        if self._on_quota_exhausted is not None:
            # getUsageLimits may know the real reset date; ask off the request path.
            task = asyncio.create_task(self._on_quota_exhausted(account))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _finish_reply(
        self,
        account: Account,
        context: RequestContext,
        *,
        status: str,
        input_tokens: int,
        output_tokens: int,
        credits: float,
        error_kind: str | None,
        started: float,
        first_event_at: float,
        attempts: int,
    ) -> None:
        account.in_flight = max(0, account.in_flight - 1)
        success = status == "success"
        self.pool.record_request(
            account,
            success=success,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            credits=credits,
        )
        if status == "error":
            failures = self.pool.note_failure(account)
            if error_kind and "throttl" in error_kind.lower():
                self.pool.cool_down(account, throttle_cooldown(failures))
        self._record(
            context,
            account,
            started,
            attempts,
            status,
            error_kind,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            credits=credits,
            first_token_ms=int((first_event_at - started) * 1000),
        )

    def _record(
        self,
        context: RequestContext,
        account: Account | None,
        started: float,
        attempts: int,
        status: str,
        error_kind: str | None,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        credits: float = 0.0,
        first_token_ms: int | None = None,
    ) -> None:
        """Queue the request's usage row (the defaults: no reply reached the client)."""
        latency_ms = int((time.monotonic() - started) * 1000)
        self.recorder.record(
            UsageRow(
                created_at=self.pool.clock(),
                request_id=context.request_id,
                account_id=account.id if account else None,
                api_key_id=context.api_key_id,
                route=context.route,
                model=context.model,
                stream=context.stream,
                status=status,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                credits=credits,
                latency_ms=latency_ms,
                first_token_ms=first_token_ms,
                error_kind=error_kind,
                attempts=attempts,
            )
        )

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
