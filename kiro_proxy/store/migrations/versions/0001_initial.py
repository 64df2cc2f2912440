"""Initial schema: accounts, api_keys, usage_records, settings_kv.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320)),
        sa.Column("nickname", sa.String(200)),
        sa.Column("auth_method", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("start_url", sa.Text()),
        sa.Column("client_id", sa.Text()),
        sa.Column("client_secret_enc", sa.Text()),
        sa.Column("refresh_token_enc", sa.Text()),
        sa.Column("access_token_enc", sa.Text()),
        sa.Column("expires_at", sa.Float()),
        sa.Column("profile_arn", sa.Text()),
        sa.Column("machine_id", sa.String(128)),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text()),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("proxy_url_enc", sa.Text()),
        sa.Column("subscription_type", sa.String(32)),
        sa.Column("subscription_title", sa.String(200)),
        sa.Column("usage_current", sa.Float()),
        sa.Column("usage_limit", sa.Float()),
        sa.Column("reset_at", sa.Float()),
        sa.Column("trial_status", sa.String(32)),
        sa.Column("trial_usage_current", sa.Float()),
        sa.Column("trial_usage_limit", sa.Float()),
        sa.Column("trial_expires_at", sa.Float()),
        sa.Column("limits_checked_at", sa.Float()),
        sa.Column("last_refresh_at", sa.Float()),
        sa.Column("cooldown_until", sa.Float(), nullable=False),
        sa.Column("quota_exhausted_until", sa.Float(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("success_count", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_credits", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float()),
        sa.Column("source", sa.String(200), unique=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float()),
        sa.Column("last_used_at", sa.Float()),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_credits", sa.Float(), nullable=False),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("api_key_id", sa.String(64)),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("first_token_ms", sa.Integer()),
        sa.Column("error_kind", sa.String(64)),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_usage_records_created_at", "usage_records", ["created_at"])
    op.create_index("ix_usage_records_account_id", "usage_records", ["account_id"])
    op.create_index("ix_usage_records_api_key_id", "usage_records", ["api_key_id"])
    op.create_table(
        "settings_kv",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settings_kv")
    op.drop_index("ix_usage_records_api_key_id", table_name="usage_records")
    op.drop_index("ix_usage_records_account_id", table_name="usage_records")
    op.drop_index("ix_usage_records_created_at", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_table("api_keys")
    op.drop_table("accounts")
