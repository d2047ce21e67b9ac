"""The metrics counted from the change feed: names, labels, help and buckets in one place, and
the pure rule that turns one change into the deltas it adds.

Names and labels are danihodovic/celery-exporter's, so Grafana dashboards 17508 and 17509
(the exporter's mixin) read them unchanged: ``celery_task_{sent,received,started,succeeded,
failed,retried,rejected,revoked}_total`` and the histogram ``celery_task_runtime``, labelled
``name``, ``hostname``, ``queue_name`` (``failed`` also ``exception``). Beatkeeper's own
additions are ``beatkeeper_*`` (and ``celery_task_queue_wait_seconds``).

How Beatkeeper's store maps to the exporter's events:
- sent: a run enqueued; ``hostname`` is ``generic``, the exporter's convention for a producer
  that is not a worker.
- received and started: the same moment, an attempt's start. The store learns that a worker
  took a message only when the attempt starts (it does not see prefetch).
- succeeded, failed, retried, worker lost: an attempt finished with that outcome; ``exception``
  is the class name at the head of the attempt's error ("" when there is none).
- rejected: a run closed dead-lettered. revoked: a run closed CANCELLED (acknowledged without
  running; the worker sends task-revoked for it).
- ``hostname`` is the worker's node name as the worker records it, as in ``celery_worker_up``;
  "" when no worker is known.
Like the exporter, counting one task counter also creates the task's zero-valued series of the
other task counters (never of ``sent``: producers are many), so ``increase()`` sees their
first event and the dashboards' queue dropdown lists a queue once anything was sent to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from jobs.store.changes import RunChange

TASK = ("name", "hostname", "queue_name")
# Seconds: from sub-second jobs to the hour-long ones a beat schedules.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
GENERIC_HOST = "generic"


class Kind(StrEnum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class Family:
    name: str  # counters end in _total
    help: str
    labels: tuple[str, ...]
    kind: Kind = Kind.COUNTER
    buckets: tuple[float, ...] = ()


def _counter(name: str, doc: str, labels: tuple[str, ...] = TASK) -> Family:
    return Family(name, doc, labels)


def _histogram(name: str, doc: str, labels: tuple[str, ...] = TASK) -> Family:
    return Family(name, doc, labels, Kind.HISTOGRAM, BUCKETS)


SENT = _counter("celery_task_sent_total", "Runs enqueued (published)")
RECEIVED = _counter("celery_task_received_total", "Attempts a worker took (= started)")
STARTED = _counter("celery_task_started_total", "Attempts started")
SUCCEEDED = _counter("celery_task_succeeded_total", "Attempts that succeeded")
FAILED = _counter("celery_task_failed_total", "Attempts that failed for good", (*TASK, "exception"))
RETRIED = _counter("celery_task_retried_total", "Attempts that will be retried")
REJECTED = _counter("celery_task_rejected_total", "Runs dead-lettered")
REVOKED = _counter("celery_task_revoked_total", "Runs cancelled: acknowledged without running")
LOST = _counter("beatkeeper_task_worker_lost_total", "Attempts whose worker died")
FINISHED = _counter(
    "beatkeeper_runs_finished_total", "Runs by final state", ("name", "queue_name", "state")
)
SCHEDULE_EXPIRED = _counter(
    "beatkeeper_schedule_expired_total", "A schedule's runs that expired unstarted", ("schedule",)
)
RUNTIME = _histogram("celery_task_runtime", "Attempt runtime in seconds")
QUEUE_WAIT = _histogram(
    "celery_task_queue_wait_seconds", "From enqueue (publication) to the first attempt's start"
)
LATENESS = _histogram(
    "beatkeeper_schedule_lateness_seconds",
    "From a fire's scheduled time to its run's start",
    ("schedule",),
)

FAMILIES = (
    SENT, RECEIVED, STARTED, SUCCEEDED, FAILED, RETRIED, REJECTED, REVOKED, LOST, FINISHED,
    SCHEDULE_EXPIRED, RUNTIME, QUEUE_WAIT, LATENESS,
)  # fmt: skip
# Counted together: one of them counted creates the others' zero series for the same task.
TASK_COUNTERS = (RECEIVED, STARTED, SUCCEEDED, FAILED, RETRIED, REJECTED, REVOKED, LOST)
_TASK_COUNTER_NAMES = frozenset(f.name for f in (SENT, *TASK_COUNTERS))
OUTCOMES = {"SUCCESS": SUCCEEDED, "FAILURE": FAILED, "RETRY": RETRIED, "WORKER_LOST": LOST}

_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def exception_name(error: str | None) -> str:
    """The exception class at the head of an attempt's error ("Boom: message" -> "Boom")."""
    found = _EXCEPTION.match(error or "")
    return found.group(1).rsplit(".", 1)[-1] if found else ""


# (metric, labels, value): one row of metric_totals to add ``value`` to. A histogram
# observation adds 1 to the bucket it falls in (not cumulative: the reader sums) and the
# value to ``_sum``.
Delta = tuple[str, dict[str, str], float]


def bucket_label(bound: float) -> str:
    """A bucket's ``le`` as prometheus-client writes it ("0.5", "1.0", "+Inf")."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def observe(family: Family, labels: dict[str, str], value: float) -> Iterator[Delta]:
    value = max(0.0, value)  # clocks of different hosts can disagree a little
    bound = next((b for b in family.buckets if value <= b), float("inf"))
    yield f"{family.name}_bucket", {**labels, "le": bucket_label(bound)}, 1.0
    yield f"{family.name}_sum", labels, value


def count(family: Family, labels: dict[str, str]) -> Iterator[Delta]:
    yield family.name, labels, 1.0


def companions(metric: str, labels: dict[str, str]) -> Iterator[Delta]:
    """For a task counter's series, the zero-valued series of the task's other counters (as
    the exporter does; a run sent makes them with hostname "generic", which the queue
    dropdown then lists). Nothing for other metrics."""
    if metric not in _TASK_COUNTER_NAMES:
        return
    task = {k: labels[k] for k in TASK}
    for other in TASK_COUNTERS:
        if other.name != metric:
            extra = {"exception": ""} if other is FAILED else {}
            yield other.name, {**task, **extra}, 0.0


def _started(c: RunChange, task: dict[str, str]) -> Iterator[Delta]:
    yield from count(RECEIVED, task)
    yield from count(STARTED, task)
    if c.queue_wait is not None:
        yield from observe(QUEUE_WAIT, task, c.queue_wait)
    if c.lateness is not None and c.schedule:
        yield from observe(LATENESS, {"schedule": c.schedule}, c.lateness)


def _finished(c: RunChange, task: dict[str, str]) -> Iterator[Delta]:
    family = OUTCOMES.get(c.outcome or "")
    if family is None:
        return
    extra = {"exception": exception_name(c.error)} if family is FAILED else {}
    yield from count(family, {**task, **extra})
    if c.runtime is not None:
        yield from observe(RUNTIME, task, c.runtime)


def _closed(c: RunChange, task: dict[str, str]) -> Iterator[Delta]:
    yield from count(FINISHED, {"name": c.job, "queue_name": c.queue, "state": c.state})
    if c.dead_lettered:
        yield from count(REJECTED, task)
    if c.state == "CANCELLED":
        yield from count(REVOKED, task)
    if c.state == "EXPIRED" and c.schedule:
        yield from count(SCHEDULE_EXPIRED, {"schedule": c.schedule})


def deltas_of(c: RunChange) -> Iterator[Delta]:
    """What one change adds to the totals (the zero series of ``companions`` aside)."""
    task = {"name": c.job, "hostname": c.worker or "", "queue_name": c.queue}
    if c.kind == "enqueued":
        yield from count(SENT, {**task, "hostname": GENERIC_HOST})
    elif c.kind == "started":
        yield from _started(c, task)
    elif c.kind == "finished":
        yield from _finished(c, task)
    elif c.kind == "closed":
        yield from _closed(c, task)
