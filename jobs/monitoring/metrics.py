"""Prometheus metrics: counters and histograms counted from the change feed, read from the
store's totals (the same in every web process), and gauges read at scrape time (queues,
workers, schedules, the beat).

The feed-derived families and their names are in jobs/monitoring/families.py; one web process
counts them (jobs/monitoring/counting.py). Gauge names follow danihodovic/celery-exporter where
they overlap (``celery_queue_length``, ``celery_active_consumer_count``, ``celery_worker_up``,
``celery_worker_tasks_active``; labels ``queue_name``, ``hostname``); the rest is
``beatkeeper_*``.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from jobs.monitoring.families import FAMILIES, Family, Kind, bucket_label
from jobs.schedules.health import HealthState

Totals = list[tuple[str, dict[str, str], float]]


class TotalsSource(Protocol):
    """What the feed-derived families read; jobs/store/metric_totals.py implements it."""

    def totals(self) -> Totals:
        """(metric, labels, value) of every series; histogram buckets not cumulative."""


def _histogram(family: Family, rows: dict[str, dict[tuple[str, ...], float]]) -> Metric:
    out = HistogramMetricFamily(family.name, family.help, labels=list(family.labels))
    buckets = rows.get(f"{family.name}_bucket", {})
    sums = rows.get(f"{family.name}_sum", {})
    per_series: dict[tuple[str, ...], list[tuple[float, float]]] = defaultdict(list)
    for key, value in buckets.items():
        per_series[key[:-1]].append((float(key[-1]), value))
    for key, counts in sorted(per_series.items()):
        cumulative = [
            (bucket_label(b), sum(v for le, v in counts if le <= b)) for b in family.buckets
        ]
        cumulative.append(("+Inf", sum(v for _, v in counts)))
        out.add_metric(list(key), cumulative, sums.get(key, 0.0))
    return out


class TaskMetrics(Collector):
    """The feed-derived counters and histograms as the store holds them, read at most once
    per ``cache_seconds`` (a failed read serves the last good one: counters never go back)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        source: TotalsSource | None = None,
        on_error: Callable[[str], None] = print,
        cache_seconds: float = 0.75,
    ) -> None:
        self.source = source
        self.on_error = on_error
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._read_at = -1e9
        self._rows: Totals = []
        if registry is not None:
            registry.register(self)

    def _totals(self) -> Totals:
        with self._lock:
            if self.source is not None and time.monotonic() - self._read_at > self.cache_seconds:
                try:
                    self._rows = self.source.totals()
                    self._read_at = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - the last good read is served
                    self.on_error(f"metric totals: {exc}")
            return self._rows

    def collect(self) -> Iterator[Metric]:
        known = {name: f for f in FAMILIES for name in self._row_names(f)}
        rows: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)
        for metric, labels, value in self._totals():
            family = known.get(metric)
            if family is None:
                continue
            names = family.labels + (("le",) if metric.endswith("_bucket") else ())
            if set(labels) == set(names):  # rows of another version's labels are left out
                rows[metric][tuple(labels[n] for n in names)] = value
        for family in FAMILIES:
            if family.kind is Kind.HISTOGRAM:
                yield _histogram(family, rows)
                continue
            counter = CounterMetricFamily(family.name, family.help, labels=list(family.labels))
            for key, value in sorted(rows[family.name].items()):
                counter.add_metric(list(key), value)
            yield counter

    @staticmethod
    def _row_names(family: Family) -> tuple[str, ...]:
        if family.kind is Kind.HISTOGRAM:
            return (f"{family.name}_bucket", f"{family.name}_sum")
        return (family.name,)


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

    def store_error(self) -> str | None:
        """Why the run store did not answer a query; None when it did."""

    def workers(self) -> dict[str, int | None] | None:
        """hostname -> tasks it is running, for each worker that answered, or None for one
        that answered recently but not now (down); None altogether if unknown."""


def _ts(t: datetime | None) -> float:
    return t.timestamp() if t is not None else float("nan")


class StateCollector(Collector):
    """Gauges computed at each scrape from ``source`` (each part fails on its own)."""

    def __init__(self, source: StateSource, on_error: Callable[[str], None]) -> None:
        self.source = source
        self.on_error = on_error

    def collect(self) -> Iterator[Metric]:
        for part in (self._store, self._queues, self._schedules, self._beat, self._workers):
            try:
                yield from part()
            except Exception as exc:  # noqa: BLE001 - a scrape shows what it can; the rest is logged
                self.on_error(f"{part.__name__}: {exc}")

    def _store(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("beatkeeper_store_up", "The run store answered a query")
        up.add_metric([], 0 if self.source.store_error() else 1)
        yield up

    def _queues(self) -> Iterator[Metric]:
        depths = self.source.queue_depths()
        up = GaugeMetricFamily("beatkeeper_management_up", "Management API answered")
        up.add_metric([], 0 if depths is None else 1)
        yield up
        if depths is None:
            return
        length = GaugeMetricFamily("celery_queue_length", "Ready messages", labels=["queue_name"])
        unacked = GaugeMetricFamily(
            "beatkeeper_queue_unacked",
            "Messages delivered, not acknowledged",
            labels=["queue_name"],
        )
        consumers = GaugeMetricFamily(
            "celery_active_consumer_count", "Consumers of the queue", labels=["queue_name"]
        )
        dead = GaugeMetricFamily(
            "beatkeeper_dead_letters", "Messages in a dead-letter queue", labels=["queue_name"]
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
        up = GaugeMetricFamily(
            "celery_worker_up",
            "1: the worker answered the last inspect; 0: it answered within 10 min, not now",
            labels=["hostname"],
        )
        active = GaugeMetricFamily(
            "celery_worker_tasks_active", "Tasks the worker is running", labels=["hostname"]
        )
        for host, running in sorted(workers.items()):
            up.add_metric([host], 0 if running is None else 1)
            active.add_metric([host], running or 0)
        yield from (up, active)
