"""Migration 0005: the "held by the broker" flag moves from a reason sentence to a column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from jobs.store.migrate import downgrade, upgrade

HELD_REASON = "sent ahead; held by the broker until due"


def insert_run(conn: sa.Connection, run_id: str, state: str, reason: str | None) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO runs (id, job, queue, args, kwargs, state, attempts, enqueued_at,"
            " dead_lettered, reason) VALUES (:id, 'j', 'q', '[]', '{}', :state, 0, :at, 0,"
            " :reason)"
        ),
        {"id": run_id, "state": state, "at": datetime.now(UTC), "reason": reason},
    )


def test_runs_flagged_by_the_old_reason_sentence_are_marked_held_and_no_others(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    upgrade(url, "0004")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        insert_run(conn, "ahead", "PENDING", HELD_REASON)
        insert_run(conn, "plain", "PENDING", None)
        insert_run(conn, "skipped", "SKIPPED", "previous run still going")
    upgrade(url)
    with engine.connect() as conn:
        held: dict[str, int] = dict(conn.execute(sa.text("SELECT id, held FROM runs")).all())
    assert held == {"ahead": 1, "plain": 0, "skipped": 0}
    downgrade(url, "0004")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    assert "held" not in columns
    engine.dispose()
