"""How the dispatcher reacts to each upstream failure before the first byte reaches the client.

Kiro-Go retries nothing inside a request and treats 402 like any error (protocol doc §10 item
13). The reactions here follow §4 and the task: refresh once on an invalid bearer token, disable
on suspension, park quota-exhausted accounts until the reset date, cool down throttled and
failing accounts with backoff, and hand 400s to the client untouched.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kiro_proxy.kiro.errors import KiroHTTPError
from kiro_proxy.kiro.events import ErrorEvent, ExceptionEvent


class Reaction(enum.Enum):
    REFRESH_AND_RETRY = "refresh"
    DISABLE = "disable"
    QUOTA_EXHAUSTED = "quota"
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    AUTH_FAILURE = "auth"
    PROMPT_TOO_LONG = "prompt_too_long"
    BAD_REQUEST = "bad_request"
    FATAL = "fatal"


# Reactions that end the request with an error for the client instead of trying another account.
CLIENT_ERRORS = frozenset({Reaction.PROMPT_TOO_LONG, Reaction.BAD_REQUEST, Reaction.FATAL})


@dataclass(slots=True, frozen=True)
class Verdict:
    reaction: Reaction
    message: str
    retry_after: float | None = None
    kind: str = ""  # error kind recorded in the usage row


def judge_http_error(exc: KiroHTTPError) -> Verdict:
    message = exc.message or exc.reason or f"HTTP {exc.status}"
    if exc.is_context_too_long:
        return Verdict(Reaction.PROMPT_TOO_LONG, message, kind="context_too_long")
    if exc.is_invalid_token:
        return Verdict(Reaction.REFRESH_AND_RETRY, message, kind="invalid_token")
    if exc.is_suspended:
        return Verdict(Reaction.DISABLE, message, kind="suspended")
    if exc.is_quota_exhausted:
        return Verdict(Reaction.QUOTA_EXHAUSTED, message, kind="quota_exhausted")
    if exc.is_throttled:
        return Verdict(Reaction.THROTTLED, message, retry_after=exc.retry_after, kind="throttled")
    if exc.is_transient:
        return Verdict(
            Reaction.TRANSIENT, message, retry_after=exc.retry_after, kind=f"http_{exc.status}"
        )
    if exc.is_bad_request or exc.status == 400:
        return Verdict(Reaction.BAD_REQUEST, message, kind="bad_request")
    if exc.status in (401, 403):
        # Neither a refreshable token nor a known suspension text: this account cannot serve
        # right now, another may.
        return Verdict(Reaction.AUTH_FAILURE, message, kind=f"http_{exc.status}")
    return Verdict(Reaction.FATAL, message, kind=f"http_{exc.status}")


def judge_stream_exception(event: ExceptionEvent | ErrorEvent) -> Verdict:
    """An exception frame arriving as the very first event still allows failover."""
    name = event.exception_type if isinstance(event, ExceptionEvent) else event.code
    message = event.message or name
    lowered = f"{name} {message}".lower()
    if "contentlengthexceeded" in lowered or "content_length_exceeds_threshold" in lowered:
        return Verdict(Reaction.PROMPT_TOO_LONG, message, kind="context_too_long")
    if "throttl" in lowered or "too many requests" in lowered:
        return Verdict(Reaction.THROTTLED, message, kind="throttled")
    if "monthly_request_count" in lowered:
        return Verdict(Reaction.QUOTA_EXHAUSTED, message, kind="quota_exhausted")
    if "validation" in lowered:
        return Verdict(Reaction.BAD_REQUEST, message, kind="bad_request")
    return Verdict(Reaction.TRANSIENT, message, kind=name or "stream_exception")
