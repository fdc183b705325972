"""Alembic environment: the engine is handed in by imagetune.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Engine

from imagetune.db.models import Base

engine: Engine = context.config.attributes["engine"]

MIGRATION_LOCK = 0x696D675475
"""Advisory lock key: API and worker processes starting together migrate one at a time."""

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Taken before Alembic reads the current revision, so whoever waits sees the
        # schema the first one left and has nothing to do; released at commit.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
