"""The work ``benchmarks/throughput.py`` measures, in both task classes.

``bench_work`` is a Beatkeeper job (its attempts recorded through the worker's outbox);
``bench.plain_work`` is the same body as a plain Celery task on the same app and queue, so
the two run under identical worker settings and differ only in the task class.
"""

from __future__ import annotations

import time

from celery import Celery

from jobs.registry import JobRegistry

registry = JobRegistry()
PLAIN_TASK = "bench.plain_work"


@registry.job(max_retries=0, time_limit=60)
def bench_work(seconds: float = 0.0) -> None:
    """Sleeps ``seconds`` (0: a no-op)."""
    if seconds:
        time.sleep(seconds)


def add_plain_task(app: Celery, queue: str) -> None:
    """Register the plain twin of ``bench_work`` on ``app``, routed to ``queue``."""

    def plain_work(seconds: float = 0.0) -> None:
        if seconds:
            time.sleep(seconds)

    app.task(name=PLAIN_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)(plain_work)
    app.conf.task_routes = {**(app.conf.task_routes or {}), PLAIN_TASK: {"queue": queue}}
