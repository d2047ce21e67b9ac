"""Does the store take writes? A real write with a short timeout, for health checks.

A ``SELECT 1`` passes while another process holds SQLite's write lock, or while PostgreSQL
has every writer waiting on a lock; a heartbeat row update does not.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, text, update

from jobs.store.tables import heartbeats


def write_probe(engine: Engine, name: str, now: datetime, timeout: float = 1.0) -> None:
    """Upsert the heartbeat row ``name``; raises when the write cannot be made in ``timeout``."""
    millis = max(1, int(timeout * 1000))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={millis}")
            conn.commit()  # end the implicit transaction the PRAGMA opened
        try:
            with conn.begin():
                if not sqlite:
                    # SET LOCAL: both timeouts end with this transaction.
                    conn.execute(text(f"SET LOCAL lock_timeout = {millis}"))
                    conn.execute(text(f"SET LOCAL statement_timeout = {millis}"))
                done = conn.execute(
                    update(heartbeats).where(heartbeats.c.name == name).values(at=now)
                )
                if done.rowcount == 0:
                    conn.execute(heartbeats.insert().values(name=name, at=now))
        finally:
            if sqlite:  # the pooled connection goes back with the usual patience
                conn.rollback()
                conn.exec_driver_sql("PRAGMA busy_timeout=10000")
                conn.commit()
