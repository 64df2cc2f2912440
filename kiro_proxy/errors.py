"""The gateway's error hierarchy. Raised anywhere; rendered as Anthropic or OpenAI error JSON in
one place (api/errors.py). Messages are for the end user: say what went wrong and what to do.
"""

from __future__ import annotations


class ProxyError(Exception):
    status: int = 500
    kind: str = "api_error"  # Anthropic error type; api/errors.py maps it to OpenAI's vocabulary

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after  # seconds; sent as Retry-After on 429/503/529


class InvalidRequestError(ProxyError):
    status = 400
    kind = "invalid_request_error"


class PromptTooLongError(InvalidRequestError):
    """Upstream CONTENT_LENGTH_EXCEEDS_THRESHOLD. The message must contain "prompt is too long":
    Claude Code looks for it to compact its context."""

    def __init__(self, detail: str = "") -> None:
        message = "prompt is too long: the conversation exceeds the model's context window"
        super().__init__(
            message + (f" ({detail})" if detail else ""), code="context_length_exceeded"
        )


class AuthenticationError(ProxyError):
    status = 401
    kind = "authentication_error"


class PermissionDeniedError(ProxyError):
    status = 403
    kind = "permission_error"


class NotFoundError(ProxyError):
    status = 404
    kind = "not_found_error"


class RequestTooLargeError(ProxyError):
    status = 413
    kind = "request_too_large"


class RateLimitError(ProxyError):
    status = 429
    kind = "rate_limit_error"


class UpstreamError(ProxyError):
    """Kiro failed in a way no retry fixed."""

    status = 502
    kind = "api_error"


class OverloadedError(ProxyError):
    """No usable account right now (all cooling down, exhausted or disabled)."""

    status = 529
    kind = "overloaded_error"
