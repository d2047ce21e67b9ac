"""Schedule status as the front ends show it: health plus the counters that really happened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from jobs.schedules.health import Health, RunSummary, ScheduleFacts, schedule_health
from jobs.store.monitoring import run_summaries
from jobs.store.schedules import ScheduleRecord


@dataclass(frozen=True)
class ScheduleStatus:
    health: Health
    runs: RunSummary
    fired: int  # fires sent and due: held fires not yet due and cancelled ones excluded
    last_fire_at: datetime | None  # the newest fire that was sent and is due
    # The next fire still to come: one the beat handed to the broker ahead of its time (held
    # until due) comes before the beat's cursor, which has already moved past it.
    next_fire_at: datetime | None

    @property
    def last_outcome(self) -> str | None:
        return self.runs.last_outcome


def facts_of(record: ScheduleRecord) -> ScheduleFacts:
    return ScheduleFacts(
        name=record.name,
        enabled=record.enabled,
        trigger=record.build_trigger(),
        jitter_seconds=record.jitter_seconds,
        grace_seconds=record.grace_seconds,
        next_fire_at=record.next_fire_at,
        active_since=record.changed_at or record.created_at,
    )


def status_of(record: ScheduleRecord, summary: RunSummary, now: datetime) -> ScheduleStatus:
    health = schedule_health(facts_of(record), summary, now)
    last_fire = summary.last_fire_at
    if last_fire is None and record.last_fire_at is not None and record.last_fire_at <= now:
        last_fire = record.last_fire_at  # its run may have been cleaned up since
    return ScheduleStatus(
        health=health,
        runs=summary,
        fired=max(0, record.fired_count - summary.held_ahead),
        last_fire_at=last_fire,
        next_fire_at=min(
            (t for t in (summary.next_held_for, record.next_fire_at) if t is not None),
            default=None,
        ),
    )


def statuses(
    engine: Engine, records: Sequence[ScheduleRecord], now: datetime
) -> dict[str, ScheduleStatus]:
    """The status of each schedule, in a few queries whatever the count."""
    summaries = run_summaries(engine, [r.name for r in records], now)
    return {r.name: status_of(r, summaries[r.name], now) for r in records}
