"""Alembic environment: the URL comes from the programmatic config (or the settings)."""

from __future__ import annotations

from alembic import context

from jobs.settings import JobsSettings
from jobs.store.db import make_engine
from jobs.store.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or JobsSettings.from_env().database_url

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
