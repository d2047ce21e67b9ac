"""Alembic environment: the URL comes from the programmatic config (or DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context

from jobs.store.db import make_engine
from jobs.store.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get(
    "DATABASE_URL", "sqlite:///var/beatkeeper.db"
)

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
