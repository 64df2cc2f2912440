"""Alembic environment, run programmatically by store/database.py (no alembic.ini needed).

The caller passes an open synchronous connection in `config.attributes["connection"]` (taken
from the async engine with `run_sync`), so the same code serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from kiro_proxy.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through kiro_proxy.store.database.run_migrations")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables when needed.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
