"""Alembic environment: migrates the database named in the Alembic config."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.db import Database

config = context.config
database = Database(config.get_main_option("sqlalchemy.url") or "")

with database.engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=database.is_sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
