"""Does the store take writes? A real write with a short timeout, for health checks.

A ``SELECT 1`` passes while another process holds SQLite's write lock, or while PostgreSQL
has every writer waiting on a lock; a heartbeat row update does not.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, update

from jobs.store.db import bounded_transaction
from jobs.store.tables import heartbeats


def write_probe(engine: Engine, name: str, now: datetime, timeout: float = 1.0) -> None:
    """Upsert the heartbeat row ``name``; raises when the write cannot be made in ``timeout``."""
    with bounded_transaction(engine, timeout) as conn:
        done = conn.execute(update(heartbeats).where(heartbeats.c.name == name).values(at=now))
        if done.rowcount == 0:
            conn.execute(heartbeats.insert().values(name=name, at=now))
