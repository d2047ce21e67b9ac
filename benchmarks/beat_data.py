"""Schedules for ``benchmarks/beat.py``: bulk-inserted rows and the matching crontab times.

``ScheduleStore.create`` is one transaction per schedule (100,000 of them would take
minutes), so the rows are written in one executemany with exactly the values ``create``
writes, each with its own version, and the change counter is set to the last version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update

from jobs.schedules.triggers import CronTrigger
from jobs.store.tables import scheduler_state, schedules

JOB = "runs_report"
KWARGS = {"hours": 1}
CHUNK = 5000


@dataclass(frozen=True)
class Planned:
    name: str
    cron: str
    next_fire_at: datetime


def name_of(index: int) -> str:
    """The same names as ``beat_celery_app.entry_name``."""
    return f"bench-{index:06d}"


def burst_plan(count: int, due: datetime) -> list[Planned]:
    """``count`` daily cron schedules (with a seconds field) all due at ``due``."""
    cron = f"{due.second} {due.minute} {due.hour} * * *"
    check_cron(cron, due)
    return [Planned(name_of(i), cron, due) for i in range(count)]


def idle_plan(count: int, hour: int, now: datetime) -> list[Planned]:
    """``count`` daily schedules at ``hour``:(i % 60) UTC, spread over that hour."""
    nexts: dict[int, datetime] = {}
    for minute in range(60):
        cron = f"{minute} {hour} * * *"
        following = CronTrigger.parse(cron, "UTC").next_after(now)
        assert following is not None
        nexts[minute] = following
    return [Planned(name_of(i), f"{i % 60} {hour} * * *", nexts[i % 60]) for i in range(count)]


def check_cron(cron: str, due: datetime) -> None:
    following = CronTrigger.parse(cron, "UTC").next_after(due - timedelta(seconds=1))
    if following != due:
        raise RuntimeError(f"cron {cron!r} next fires at {following}, not at {due}")


def _row(plan: Planned, version: int, now: datetime) -> dict[str, Any]:
    return {
        "name": plan.name,
        "job": JOB,
        "args": [],
        "kwargs": dict(KWARGS),
        "queue": None,
        "priority": None,
        "trigger": "cron",
        "cron": plan.cron,
        "interval_seconds": None,
        "run_at": None,
        "timezone": "UTC",
        "expires_seconds": None,
        "jitter_seconds": 0,
        "catch_up": "skip",
        "catch_up_window_seconds": 3600,
        "overlap": "allow",
        "enabled": True,
        "changed_by": "benchmark",
        "changed_at": now,
        "change_reason": None,
        "source": "runtime",
        "edited_at": now,
        "created_at": now,
        "version": version,
        "deleted": False,
        "anchor": now,
        "next_fire_at": plan.next_fire_at,
        "last_fire_at": None,
        "last_run_id": None,
        "fired_count": 0,
        "skipped_count": 0,
        "missed_count": 0,
    }


def _chunks(plans: list[Planned], now: datetime) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(plans), CHUNK):
        yield [
            _row(plan, start + offset + 1, now)
            for offset, plan in enumerate(plans[start : start + CHUNK])
        ]


def insert_schedules(engine: Engine, plans: list[Planned]) -> None:
    """Write ``plans`` in one transaction and move the change counter past them."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for rows in _chunks(plans, now):
            conn.execute(schedules.insert(), rows)
        conn.execute(
            update(scheduler_state)
            .where(scheduler_state.c.key == "version")
            .values(value=len(plans))
        )
