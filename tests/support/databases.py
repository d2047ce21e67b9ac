"""Fresh databases for tests: a SQLite file, or a PostgreSQL database dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jobs.store.migrate import upgrade


def sqlite_database(folder: Path) -> str:
    url = f"sqlite:///{folder / f'bk-{uuid.uuid4().hex[:8]}.db'}"
    upgrade(url)
    return url


@contextmanager
def postgres_database(admin: str) -> Iterator[str]:
    """A migrated database on the server at ``admin``; raises if the server is not usable."""
    admin_url = make_url(admin).set(drivername="postgresql+psycopg")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bk_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        engine.dispose()
        raise
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        engine.dispose()


@contextmanager
def usable_postgres_database() -> Iterator[str]:
    """A migrated database of this test's own on the test server (BEATKEEPER_TEST_POSTGRES_URL),
    dropped afterwards; a server that is not usable skips the test (fails it in CI)."""
    from tests.conftest import POSTGRES_URL, unavailable  # conftest imports this module

    try:
        database = postgres_database(POSTGRES_URL)
        url = database.__enter__()
    except Exception as exc:  # noqa: BLE001 - any failure means the server is not usable
        unavailable(f"PostgreSQL not usable at {POSTGRES_URL}: {exc}")
    try:
        yield url
    finally:
        database.__exit__(None, None, None)
