"""Migration 0010: every stored run gets an origin, guessed from what the row already says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from jobs.store.migrate import downgrade, upgrade


def insert_run(conn: sa.Connection, run_id: str, schedule: str | None, reason: str | None) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO runs (id, job, queue, args, kwargs, state, attempts, enqueued_at,"
            " dead_lettered, schedule, reason) VALUES (:id, 'j', 'q', '[]', '{}', 'PENDING', 0,"
            " :at, 0, :schedule, :reason)"
        ),
        {"id": run_id, "at": datetime.now(UTC), "schedule": schedule, "reason": reason},
    )


def test_stored_runs_are_scheduled_re_driven_or_manual_and_the_column_goes_on_downgrade(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    upgrade(url, "0009")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        insert_run(conn, "fired", "nightly", None)
        insert_run(conn, "typed", None, None)
        insert_run(conn, "again", None, "re-driven from the dead-letter queue")
    upgrade(url)
    with engine.connect() as conn:
        origins: dict[str, str] = dict(conn.execute(sa.text("SELECT id, origin FROM runs")).all())
    assert origins == {"fired": "schedule", "typed": "manual", "again": "redrive"}
    downgrade(url, "0009")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    assert "origin" not in columns
    engine.dispose()
