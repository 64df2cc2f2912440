"""Admin sessions and login throttle records in the database (shared by worker processes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("csrf_token", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
    )
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])
    op.create_index("ix_admin_sessions_created_at", "admin_sessions", ["created_at"])
    op.create_table(
        "admin_login_failures",
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("last_failure", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_admin_login_failures_last_failure", "admin_login_failures", ["last_failure"]
    )


def downgrade() -> None:
    op.drop_index("ix_admin_login_failures_last_failure", table_name="admin_login_failures")
    op.drop_table("admin_login_failures")
    op.drop_index("ix_admin_sessions_created_at", table_name="admin_sessions")
    op.drop_index("ix_admin_sessions_expires_at", table_name="admin_sessions")
    op.drop_table("admin_sessions")
