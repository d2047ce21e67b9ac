"""Reads for monitoring: per-schedule run summaries and run counts, in a few grouped queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, and_, case, func, select

from jobs.schedules.health import OUTCOMES, RunSummary
from jobs.store.db import UTCDateTime
from jobs.store.tables import runs

CHUNK = 500


def run_summaries(engine: Engine, names: Sequence[str], now: datetime) -> dict[str, RunSummary]:
    """A RunSummary per schedule name (schedules without runs get an empty one)."""
    out = {name: RunSummary() for name in names}
    with engine.connect() as conn:
        for start in range(0, len(names), CHUNK):
            chunk = list(names[start : start + CHUNK])
            due = runs.c.scheduled_for <= now
            waiting = and_(runs.c.state == "PENDING", due)
            happened = and_(runs.c.state.notin_(("CANCELLED", "SKIPPED")), due)
            held = and_(runs.c.state == "PENDING", runs.c.scheduled_for > now)
            aggregates = select(
                runs.c.schedule,
                func.max(
                    case((runs.c.state == "SUCCESS", runs.c.scheduled_for)), type_=UTCDateTime
                ),
                func.min(case((waiting, runs.c.scheduled_for)), type_=UTCDateTime),
                func.max(case((happened, runs.c.scheduled_for)), type_=UTCDateTime),
                func.sum(case((held, 1), else_=0)),
                func.min(case((held, runs.c.scheduled_for)), type_=UTCDateTime),
            ).where(runs.c.schedule.in_(chunk))
            for name, success, oldest, last_fire, ahead, next_held in conn.execute(
                aggregates.group_by(runs.c.schedule)
            ):
                out[name] = RunSummary(
                    last_success_for=success,
                    oldest_waiting_for=oldest,
                    last_fire_at=last_fire,
                    held_ahead=int(ahead or 0),
                    next_held_for=next_held,
                )
            # The newest finished run of each schedule: a window function, one pass.
            newest = (
                select(
                    runs.c.schedule,
                    runs.c.state,
                    runs.c.finished_at,
                    runs.c.dead_lettered,
                    runs.c.error,
                    func.row_number()
                    .over(partition_by=runs.c.schedule, order_by=runs.c.finished_at.desc())
                    .label("n"),
                )
                .where(
                    runs.c.schedule.in_(chunk),
                    runs.c.state.in_(OUTCOMES),
                    runs.c.finished_at.is_not(None),
                )
                .subquery()
            )
            for name, state, finished, dead, error, _ in conn.execute(
                select(newest).where(newest.c.n == 1)
            ):
                base = out[name]
                out[name] = RunSummary(
                    last_outcome=state,
                    last_outcome_at=finished,
                    last_dead_lettered=bool(dead),
                    last_error=error,
                    last_success_for=base.last_success_for,
                    oldest_waiting_for=base.oldest_waiting_for,
                    last_fire_at=base.last_fire_at,
                    held_ahead=base.held_ahead,
                    next_held_for=base.next_held_for,
                )
    return out
