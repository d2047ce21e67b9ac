"""A plain Celery app whose beat uses Celery's default PersistentScheduler.

``python -m benchmarks.beat`` runs ``celery -A benchmarks.beat_celery_app beat``.
It has the same broker, JSON, publisher confirms, quorum queues and routing as Beatkeeper's
app (``jobs.factory.celery_config``), so the same consumer sees both schedulers' messages.
The ``beat_schedule`` is built the way a Celery user writes one: a dict of crontab entries.

Environment:
    BENCH_BEAT_ENTRIES  number of entries (``bench-000000`` ...)
    BENCH_BEAT_HOUR     the hour (UTC) every entry fires at, daily
    BENCH_BEAT_MINUTE   the minute; ``spread`` gives entry i minute ``i % 60``
    BENCH_BEAT_EVERY    instead of crontabs: every entry runs every this many seconds
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab

from broker.topology import describe
from jobs.factory import celery_config
from jobs.settings import JobsSettings

TASK = "runs_report"
KWARGS = {"hours": 1}


def entry_name(index: int) -> str:
    return f"bench-{index:06d}"


def build_schedule(
    count: int, hour: int, minute: str, every: float | None = None
) -> dict[str, dict[str, Any]]:
    """``count`` daily crontab entries at ``hour``:``minute`` (or spread over the hour), or
    ``count`` entries every ``every`` seconds."""
    schedule: dict[str, dict[str, Any]] = {}
    for index in range(count):
        at = index % 60 if minute == "spread" else int(minute)
        when: Any = timedelta(seconds=every) if every else crontab(minute=at, hour=hour)
        schedule[entry_name(index)] = {"task": TASK, "schedule": when, "kwargs": dict(KWARGS)}
    return schedule


def create_app() -> Celery:
    settings = JobsSettings.from_env()
    config = celery_config(settings, describe(settings.broker))
    config["beat_scheduler"] = "benchmarks.beat_probe:ReadyPersistentScheduler"
    config["beat_schedule"] = build_schedule(
        int(os.environ.get("BENCH_BEAT_ENTRIES", "0")),
        int(os.environ.get("BENCH_BEAT_HOUR", "0")),
        os.environ.get("BENCH_BEAT_MINUTE", "0"),
        float(os.environ.get("BENCH_BEAT_EVERY", "0")) or None,
    )
    app = Celery("beat_celery_app", set_as_current=False)
    app.conf.update(config)
    return app


app = create_app()
