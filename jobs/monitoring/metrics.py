"""Prometheus metrics: counters and histograms fed by the change feed, and gauges read at
scrape time (queues, schedules, the beat).

Names follow danihodovic/celery-exporter where they overlap (``celery_task_*_total``,
``celery_task_runtime_seconds``, ``celery_queue_length``; labels ``name``, ``queue``,
``hostname``) so Grafana dashboards 17508 and 17509 work; the rest is ``beatkeeper_*``.
Counters count what this process saw since it started, as Prometheus expects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobs.schedules.health import HealthState
from jobs.store.changes import RunChange, ScheduleChange

TASK = ("name", "queue", "hostname")
# Seconds: from sub-second jobs to the hour-long ones a beat schedules.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class TaskMetrics:
    """A change-feed listener that counts what runs did."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: Sequence[str] = TASK) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.sent = counter("celery_task_sent_total", "Runs enqueued", ("name", "queue"))
        self.started = counter("celery_task_started_total", "Attempts started")
        self.succeeded = counter("celery_task_succeeded_total", "Attempts that succeeded")
        self.failed = counter("celery_task_failed_total", "Attempts that failed for good")
        self.retried = counter("celery_task_retried_total", "Attempts that will be retried")
        self.lost = counter("beatkeeper_task_worker_lost_total", "Attempts whose worker died")
        self.rejected = counter(
            "celery_task_rejected_total", "Runs dead-lettered", ("name", "queue")
        )
        self.closed = counter(
            "beatkeeper_runs_finished_total", "Runs by final state", ("name", "queue", "state")
        )
        self.runtime = Histogram(
            "celery_task_runtime_seconds", "Attempt runtime", TASK, buckets=BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "celery_task_queue_wait_seconds",
            "From enqueue (publish) to the first attempt's start",
            ("name", "queue"),
            buckets=BUCKETS,
            registry=registry,
        )
        self.lateness = Histogram(
            "beatkeeper_schedule_lateness_seconds",
            "From a fire's scheduled time to its run's start",
            ("schedule",),
            buckets=BUCKETS,
            registry=registry,
        )
        self.outcomes = {
            "SUCCESS": self.succeeded,
            "FAILURE": self.failed,
            "RETRY": self.retried,
            "WORKER_LOST": self.lost,
        }

    def __call__(self, runs: Sequence[RunChange], _: Sequence[ScheduleChange]) -> None:
        for c in runs:
            host = c.worker or ""
            if c.kind == "enqueued":
                self.sent.labels(c.job, c.queue).inc()
            elif c.kind == "started":
                self.started.labels(c.job, c.queue, host).inc()
                if c.queue_wait is not None:
                    self.queue_wait.labels(c.job, c.queue).observe(max(0.0, c.queue_wait))
                if c.lateness is not None and c.schedule:
                    self.lateness.labels(c.schedule).observe(max(0.0, c.lateness))
            elif c.kind == "finished" and c.outcome in self.outcomes:
                self.outcomes[c.outcome].labels(c.job, c.queue, host).inc()
                if c.runtime is not None:
                    self.runtime.labels(c.job, c.queue, host).observe(max(0.0, c.runtime))
            elif c.kind == "closed":
                self.closed.labels(c.job, c.queue, c.state).inc()
                if c.dead_lettered:
                    self.rejected.labels(c.job, c.queue).inc()


class StateSource(Protocol):
    """What the scrape-time gauges read; jobs/monitoring/snapshot.py implements it."""

    def queue_depths(self) -> list[tuple[str, int, int, int, bool]] | None:
        """(queue, ready, unacked, consumers, is_dead_letter_queue); None if unknown."""

    def schedule_rows(
        self,
    ) -> list[tuple[str, HealthState, datetime | None, datetime | None, int, int, int]]:
        """(name, state, next fire, last success, fired, skipped, missed) per schedule."""

    def beat(self) -> tuple[str | None, datetime | None, datetime | None]:
        """(leader, last evaluating tick, lease expiry)."""

    def workers(self) -> dict[str, bool] | None:
        """hostname -> answered the last ping; None if unknown."""


def _ts(t: datetime | None) -> float:
    return t.timestamp() if t is not None else float("nan")


class StateCollector(Collector):
    """Gauges computed at each scrape from ``source`` (each part fails on its own)."""

    def __init__(self, source: StateSource, on_error: Callable[[str], None]) -> None:
        self.source = source
        self.on_error = on_error

    def collect(self) -> Iterator[Metric]:
        for part in (self._queues, self._schedules, self._beat, self._workers):
            try:
                yield from part()
            except Exception as exc:  # noqa: BLE001 - a scrape shows what it can; the rest is logged
                self.on_error(f"{part.__name__}: {exc}")

    def _queues(self) -> Iterator[Metric]:
        depths = self.source.queue_depths()
        up = GaugeMetricFamily("beatkeeper_management_up", "Management API answered")
        up.add_metric([], 0 if depths is None else 1)
        yield up
        if depths is None:
            return
        length = GaugeMetricFamily("celery_queue_length", "Ready messages", labels=["queue_name"])
        unacked = GaugeMetricFamily(
            "beatkeeper_queue_unacked", "Messages delivered, not acknowledged", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "beatkeeper_queue_consumers", "Consumers of the queue", labels=["queue"]
        )
        dead = GaugeMetricFamily(
            "beatkeeper_dead_letters", "Messages in a dead-letter queue", labels=["queue"]
        )
        for name, ready, unack, cons, is_dlq in depths:
            length.add_metric([name], ready)
            unacked.add_metric([name], unack)
            consumers.add_metric([name], cons)
            if is_dlq:
                dead.add_metric([name], ready + unack)
        yield from (length, unacked, consumers, dead)

    def _schedules(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "beatkeeper_schedule_state",
            "1 for the schedule's health state",
            labels=["schedule", "state"],
        )
        next_fire = GaugeMetricFamily(
            "beatkeeper_schedule_next_fire_timestamp_seconds", "Next fire", labels=["schedule"]
        )
        success = GaugeMetricFamily(
            "beatkeeper_schedule_last_success_timestamp_seconds",
            "Scheduled time of the last successful run",
            labels=["schedule"],
        )
        counts = {
            kind: GaugeMetricFamily(
                f"beatkeeper_schedule_{kind}",
                f"Fires {kind} (schedule bookkeeping)",
                labels=["schedule"],
            )
            for kind in ("fired", "skipped", "missed")
        }
        for name, health, nxt, last_ok, fired, skipped, missed in self.source.schedule_rows():
            for s in HealthState:
                state.add_metric([name, s.value], 1 if s is health else 0)
            next_fire.add_metric([name], _ts(nxt))
            success.add_metric([name], _ts(last_ok))
            for kind, value in zip(counts, (fired, skipped, missed), strict=True):
                counts[kind].add_metric([name], value)
        yield from (state, next_fire, success, *counts.values())

    def _beat(self) -> Iterator[Metric]:
        leader, tick, expires = self.source.beat()
        tick_gauge = GaugeMetricFamily(
            "beatkeeper_beat_last_tick_timestamp_seconds", "The beat's last evaluating tick"
        )
        tick_gauge.add_metric([], _ts(tick))
        lease = GaugeMetricFamily(
            "beatkeeper_beat_leader", "1 for the beat holding the lease", labels=["owner"]
        )
        if leader is not None:
            lease.add_metric([leader], 1)
        expiry = GaugeMetricFamily(
            "beatkeeper_beat_lease_expires_timestamp_seconds", "When the leader's lease runs out"
        )
        expiry.add_metric([], _ts(expires))
        yield from (tick_gauge, lease, expiry)

    def _workers(self) -> Iterator[Metric]:
        workers = self.source.workers()
        if workers is None:
            return
        up = GaugeMetricFamily("celery_worker_up", "Worker answered a ping", labels=["hostname"])
        for host, alive in sorted(workers.items()):
            up.add_metric([host], 1 if alive else 0)
        yield up
