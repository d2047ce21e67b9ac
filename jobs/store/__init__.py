"""Run history in SQL: SQLite (WAL) by default, PostgreSQL through ``DATABASE_URL``."""

from jobs.store.db import make_engine
from jobs.store.runs import RunRecord, RunStore

__all__ = ["RunRecord", "RunStore", "make_engine"]
