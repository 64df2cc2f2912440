"""SQLAlchemy 2 table models. Times are unix seconds (float) for portability between SQLite and
PostgreSQL; secret columns (suffix `_enc`) hold Fernet ciphertext from store/crypto.py.

Changing a model means adding an Alembic revision under store/migrations/versions.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    nickname: Mapped[str | None] = mapped_column(String(200))
    auth_method: Mapped[str] = mapped_column(String(16), default="social")
    provider: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(32), default="us-east-1")
    start_url: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(Text)
    client_secret_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[float | None] = mapped_column(Float)
    profile_arn: Mapped[str | None] = mapped_column(Text)
    machine_id: Mapped[str | None] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    proxy_url_enc: Mapped[str | None] = mapped_column(Text)

    subscription_type: Mapped[str | None] = mapped_column(String(32))
    subscription_title: Mapped[str | None] = mapped_column(String(200))
    usage_current: Mapped[float | None] = mapped_column(Float)
    usage_limit: Mapped[float | None] = mapped_column(Float)
    reset_at: Mapped[float | None] = mapped_column(Float)
    trial_status: Mapped[str | None] = mapped_column(String(32))
    trial_usage_current: Mapped[float | None] = mapped_column(Float)
    trial_usage_limit: Mapped[float | None] = mapped_column(Float)
    trial_expires_at: Mapped[float | None] = mapped_column(Float)
    limits_checked_at: Mapped[float | None] = mapped_column(Float)
    last_refresh_at: Mapped[float | None] = mapped_column(Float)

    cooldown_until: Mapped[float] = mapped_column(Float, default=0.0)
    quota_exhausted_until: Mapped[float] = mapped_column(Float, default=0.0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)

    request_count: Mapped[int] = mapped_column(BigInteger, default=0)
    success_count: Mapped[int] = mapped_column(BigInteger, default=0)
    error_count: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_credits: Mapped[float] = mapped_column(Float, default=0.0)
    last_used_at: Mapped[float | None] = mapped_column(Float)

    # Where the account came from ("kiro-go:<id>" for an import), to keep imports idempotent.
    source: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[float] = mapped_column(Float, default=0.0)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)
    request_count: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_credits: Mapped[float] = mapped_column(Float, default=0.0)


class UsageRecordRow(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_created_at", "created_at"),
        Index("ix_usage_records_account_id", "account_id"),
        Index("ix_usage_records_api_key_id", "api_key_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[float] = mapped_column(Float)
    request_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    stream: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    credits: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    first_token_ms: Mapped[int | None] = mapped_column(Integer)
    error_kind: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class SettingRow(Base):
    """Settings changed at run time (admin panel) and small runtime state (global counters)."""

    __tablename__ = "settings_kv"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[float] = mapped_column(Float, default=0.0)


class AdminSessionRow(Base):
    """A logged-in admin panel session, shared by every worker process. `key` is the sha256 of
    the cookie value: the token itself is never stored."""

    __tablename__ = "admin_sessions"
    __table_args__ = (
        Index("ix_admin_sessions_expires_at", "expires_at"),
        Index("ix_admin_sessions_created_at", "created_at"),
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf_token: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(128))


class LoginFailureRow(Base):
    """Wrong admin passwords from one client address (the login throttle of every worker)."""

    __tablename__ = "admin_login_failures"
    __table_args__ = (Index("ix_admin_login_failures_last_failure", "last_failure"),)

    address: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)
    last_failure: Mapped[float] = mapped_column(Float, default=0.0)
