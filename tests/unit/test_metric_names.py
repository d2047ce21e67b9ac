"""The names and labels Grafana dashboards 17508/17509 (celery-exporter's mixin) query, and
how each kind of change in the store maps onto them."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from jobs.monitoring.families import companions, deltas_of, exception_name
from jobs.monitoring.metrics import StateCollector, TaskMetrics, Totals
from jobs.schedules.health import HealthState
from jobs.store.changes import RunChange
from jobs.store.metric_totals import label_key

T = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TASK = ("hostname", "name", "queue_name")
CONTRACT = {
    "celery_task_sent_total": "counter" + str(TASK),
    "celery_task_received_total": "counter" + str(TASK),
    "celery_task_started_total": "counter" + str(TASK),
    "celery_task_succeeded_total": "counter" + str(TASK),
    "celery_task_retried_total": "counter" + str(TASK),
    "celery_task_failed_total": "counter" + str(("exception", *TASK)),
    "celery_task_rejected_total": "counter" + str(TASK),
    "celery_task_revoked_total": "counter" + str(TASK),
    "beatkeeper_task_worker_lost_total": "counter" + str(TASK),
    "beatkeeper_runs_finished_total": "counter" + str(("name", "queue_name", "state")),
    "beatkeeper_schedule_expired_total": "counter" + str(("schedule",)),
    "celery_task_runtime": "histogram" + str(TASK),
    "celery_task_queue_wait_seconds": "histogram" + str(TASK),
    "beatkeeper_schedule_lateness_seconds": "histogram" + str(("schedule",)),
    "celery_queue_length": "gauge" + str(("queue_name",)),
    "celery_active_consumer_count": "gauge" + str(("queue_name",)),
    "beatkeeper_queue_unacked": "gauge" + str(("queue_name",)),
    "beatkeeper_dead_letters": "gauge" + str(("queue_name",)),
    "celery_worker_up": "gauge" + str(("hostname",)),
    "celery_worker_tasks_active": "gauge" + str(("hostname",)),
}


class Summed:
    """A TotalsSource that adds the deltas of the changes given, as the store does."""

    def __init__(self, *changes: RunChange) -> None:
        self.rows: dict[tuple[str, str], float] = defaultdict(float)
        for c in changes:
            for metric, labels, value in deltas_of(c):
                self.rows[(metric, label_key(labels))] += value
                for other, zero_labels, zero in companions(metric, labels):
                    self.rows[(other, label_key(zero_labels))] += zero

    def totals(self) -> Totals:
        return [(m, json.loads(lb), v) for (m, lb), v in self.rows.items()]


class OneOfEach:
    def queue_depths(self) -> list[tuple[str, int, int, int, bool]]:
        return [("q", 3, 1, 2, False), ("q.dlq", 4, 0, 0, True)]

    def schedule_rows(
        self,
    ) -> list[tuple[str, HealthState, datetime | None, datetime | None, int, int, int]]:
        return [("s", HealthState.UP, T, T, 1, 0, 0)]

    def beat(self) -> tuple[str, datetime, datetime]:
        return "beat@host", T, T

    def store_error(self) -> None:
        return None

    def workers(self) -> dict[str, int | None]:
        return {"celery@w1": 2, "celery@w2": None}  # w2 answered earlier, not now


def scrape(*changes: RunChange) -> str:
    registry = CollectorRegistry()
    TaskMetrics(registry, Summed(*changes), cache_seconds=0)
    registry.register(StateCollector(OneOfEach(), print))
    return generate_latest(registry).decode()


def change(kind: str, state: str = "STARTED", **extra: object) -> RunChange:
    return RunChange(kind, "r1", "add", "q", state, T, worker="celery@w1", **extra)  # type: ignore[arg-type]


def test_every_name_of_the_contract_is_exposed_with_its_type_and_labels() -> None:
    samples = (
        change("enqueued", "PENDING"),
        change("started", queue_wait=1.0, lateness=1.0, schedule="s"),
        change("finished", "FAILURE", outcome="FAILURE", runtime=1.0, error="Boom: x"),
        change("closed", "EXPIRED", outcome="EXPIRED", schedule="s"),
    )
    registry = CollectorRegistry()
    TaskMetrics(registry, Summed(*samples), cache_seconds=0)
    registry.register(StateCollector(OneOfEach(), print))
    found = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        found[name] = family.type + str(tuple(sorted(labels)))
    assert {k: found.get(k) for k in CONTRACT} == CONTRACT


def test_an_attempt_start_is_received_and_started_at_once_and_sent_is_from_generic() -> None:
    text = scrape(change("enqueued", "PENDING"), change("started"))
    task = 'hostname="celery@w1",name="add",queue_name="q"'
    assert 'celery_task_sent_total{hostname="generic",name="add",queue_name="q"} 1.0' in text
    assert f"celery_task_received_total{{{task}}} 1.0" in text
    assert f"celery_task_started_total{{{task}}} 1.0" in text
    assert f"celery_task_succeeded_total{{{task}}} 0.0" in text, "zero series made up front"
    assert 'celery_task_received_total{hostname="generic"' in text, "as the exporter does"
    assert 'celery_task_sent_total{hostname="celery@w1"' not in text, "sent is never pre-made"


def test_a_cancelled_run_is_revoked_a_dead_lettered_one_rejected_an_expired_one_counted() -> None:
    text = scrape(
        change("closed", "CANCELLED", outcome="CANCELLED"),
        change("closed", "FAILURE", outcome="FAILURE", dead_lettered=True),
        change("closed", "EXPIRED", outcome="EXPIRED", schedule="nightly"),
    )
    task = 'hostname="celery@w1",name="add",queue_name="q"'
    assert f"celery_task_revoked_total{{{task}}} 1.0" in text
    assert f"celery_task_rejected_total{{{task}}} 1.0" in text
    assert 'beatkeeper_schedule_expired_total{schedule="nightly"} 1.0' in text
    assert 'beatkeeper_runs_finished_total{name="add",queue_name="q",state="EXPIRED"} 1.0' in text


def test_a_failed_attempt_is_labelled_with_its_exception_class() -> None:
    assert exception_name("ZeroDivisionError: division by zero") == "ZeroDivisionError"
    assert exception_name("requests.exceptions.Timeout: read timed out") == "Timeout"
    assert exception_name("JobTimeout") == "JobTimeout"
    assert exception_name("worker lost: the process running this attempt died") == ""
    assert exception_name(None) == ""
    text = scrape(change("finished", "FAILURE", outcome="FAILURE", error="KeyError: 'x'"))
    assert 'celery_task_failed_total{exception="KeyError",hostname="celery@w1"' in text


def test_histogram_buckets_are_cumulative_and_end_in_inf_with_sum_and_count() -> None:
    text = scrape(
        *(
            change("finished", "SUCCESS", outcome="SUCCESS", runtime=r)
            for r in (0.02, 0.3, 7200.0, -1.0)  # -1: clocks that disagree count as 0
        )
    )
    labels = 'hostname="celery@w1",le="{}",name="add",queue_name="q"'
    for le, n in (("0.01", 1), ("0.05", 2), ("0.5", 3), ("3600.0", 3), ("+Inf", 4)):
        assert f"celery_task_runtime_bucket{{{labels.format(le)}}} {n}.0" in text
    assert 'celery_task_runtime_count{hostname="celery@w1",name="add",queue_name="q"} 4.0' in text
    assert 'celery_task_runtime_sum{hostname="celery@w1",name="add",queue_name="q"} 7200.32' in text


def test_queue_and_worker_gauges_use_the_exporters_names() -> None:
    text = scrape()
    assert 'celery_queue_length{queue_name="q"} 3.0' in text
    assert 'celery_active_consumer_count{queue_name="q"} 2.0' in text
    assert 'beatkeeper_queue_unacked{queue_name="q"} 1.0' in text
    assert 'beatkeeper_dead_letters{queue_name="q.dlq"} 4.0' in text
    assert 'celery_worker_up{hostname="celery@w1"} 1.0' in text
    assert 'celery_worker_tasks_active{hostname="celery@w1"} 2.0' in text


def test_a_worker_that_stopped_answering_is_down_not_gone() -> None:
    text = scrape()
    assert 'celery_worker_up{hostname="celery@w1"} 1.0' in text
    assert 'celery_worker_tasks_active{hostname="celery@w1"} 2.0' in text
    assert 'celery_worker_up{hostname="celery@w2"} 0.0' in text
    assert 'celery_worker_tasks_active{hostname="celery@w2"} 0.0' in text
