"""Failures of the login and import flows.

Every message is shown to a person (admin panel, CLI) and must say what to do next. Messages
never contain tokens, cookies or client secrets.
"""

from __future__ import annotations


class LoginError(Exception):
    """A login or import step failed. `code` is a stable machine-readable name."""

    def __init__(self, message: str, *, code: str = "login_failed", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class CredentialFormatError(LoginError):
    """The supplied credential (file, JSON, cookie) is malformed or incomplete."""

    def __init__(self, message: str, *, code: str = "invalid_credentials") -> None:
        super().__init__(message, code=code, status=400)


class SessionNotFoundError(LoginError):
    def __init__(self, what: str = "login") -> None:
        super().__init__(
            f"this {what} session is unknown or expired (sessions last 10 minutes): "
            "start the login again",
            code="session_not_found",
            status=404,
        )
