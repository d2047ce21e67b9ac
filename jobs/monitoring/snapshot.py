"""What the dashboard and the scrape-time metrics read: queues, workers, schedules, the beat.

Every part answers on its own and degrades to "unknown" (None) instead of failing the page:
no management API means no queue depths; no worker answering in time means no worker list.
Slow answers are cached for ``cache_seconds``, so a dashboard refreshed by many viewers and
a Prometheus scrape share one management call and one worker inspection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from broker import health as broker_health
from broker.health import BrokerHealth
from broker.management import ManagementClient, ManagementError
from jobs.monitoring.schedules import statuses
from jobs.schedules.health import HealthState
from jobs.store.lease import LeaseStatus, LeaseStore
from jobs.store.schedules import ScheduleStore

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueRow:
    name: str
    ready: int
    unacked: int
    consumers: int
    dead_letter: bool


@dataclass(frozen=True)
class WorkerRow:
    hostname: str
    active: int
    processed: int
    pool: str


@dataclass(frozen=True)
class JobThroughput:
    job: str
    runs: int
    succeeded: int
    failed: int  # failed or expired
    avg_ms: float | None

    @property
    def failure_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return self.failed / done if done else None


@dataclass(frozen=True)
class Throughput:
    window: timedelta
    jobs: list[JobThroughput]

    @property
    def runs(self) -> int:
        return sum(j.runs for j in self.jobs)

    @property
    def failed(self) -> int:
        return sum(j.failed for j in self.jobs)

    @property
    def failure_rate(self) -> float | None:
        done = sum(j.succeeded + j.failed for j in self.jobs)
        return self.failed / done if done else None

    @property
    def per_minute(self) -> float:
        return self.runs / (self.window.total_seconds() / 60)


class _Cached:
    """One value computed at most once per ``ttl`` seconds; callers never wait twice."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.lock = threading.Lock()
        self.at = -1e9
        self.value: Any = None

    def get(self, compute: Callable[[], T]) -> T:
        with self.lock:
            if time.monotonic() - self.at > self.ttl:
                self.value = compute()
                self.at = time.monotonic()
            value: T = self.value
            return value


class Snapshot:
    def __init__(
        self,
        app: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = 1.0,
        cache_seconds: float = 3.0,
    ) -> None:
        self.app = app
        self.clock = clock
        self.timeout = timeout
        self.schedules = ScheduleStore(app.store.engine)
        self.lease = LeaseStore(app.store.engine)
        topology = app.topology
        self.prefix = app.settings.broker.prefix
        self.dead_letter_queues = {q.name for q in topology.dead_letter_queues}
        self.work_queues = {q.name for q in topology.work_queues}
        self.management = ManagementClient.for_broker(app.settings.broker, timeout=timeout)
        self._queues = _Cached(cache_seconds)
        self._workers = _Cached(cache_seconds)
        self._broker = _Cached(cache_seconds)
        self._asking: threading.Thread | None = None

    # -- broker ---------------------------------------------------------------------------
    def queues(self) -> list[QueueRow] | None:
        return self._queues.get(self._read_queues)

    def _read_queues(self) -> list[QueueRow] | None:
        try:
            rows = self.management.queues(self.prefix)
        except ManagementError:
            return None
        known = self.work_queues | self.dead_letter_queues
        return [
            QueueRow(q.name, q.ready, q.unacked, q.consumers, q.name in self.dead_letter_queues)
            for q in rows
            if q.name in known
        ]

    def queue_depths(self) -> list[tuple[str, int, int, int, bool]] | None:
        rows = self.queues()
        if rows is None:
            return None
        return [(q.name, q.ready, q.unacked, q.consumers, q.dead_letter) for q in rows]

    # -- workers ----------------------------------------------------------------------------
    def worker_rows(self) -> list[WorkerRow] | None:
        return self._workers.get(self._inspect)

    def _inspect(self) -> list[WorkerRow] | None:
        """Ask the workers in a daemon thread; a broker that hangs costs one stuck thread,
        never a stuck page (and never a second thread while the first still waits)."""
        if self._asking is not None and self._asking.is_alive():
            return None
        answer: list[tuple[Any, Any]] = []

        def ask() -> None:
            try:
                with self.app.connection_for_write() as conn:
                    conn.ensure_connection(max_retries=1, timeout=self.timeout)
                    inspect = self.app.control.inspect(timeout=self.timeout, connection=conn)
                    answer.append((inspect.stats() or {}, inspect.active() or {}))
            except Exception:  # no answer means "unknown" on the page
                log.debug("workers did not answer", exc_info=True)

        self._asking = threading.Thread(target=ask, name="inspect-workers", daemon=True)
        self._asking.start()
        self._asking.join(self.timeout * 3 + 1)
        if not answer:
            return None
        stats, active = answer[0]
        return [
            WorkerRow(
                host,
                len(active.get(host) or []),
                sum((info.get("total") or {}).values()),
                str((info.get("pool") or {}).get("implementation", "")).rsplit(":", 1)[-1],
            )
            for host, info in sorted(stats.items())
        ]

    def workers(self) -> dict[str, int] | None:
        """hostname -> tasks it runs (inspect ``active``), for each worker that answered."""
        rows = self.worker_rows()
        return None if rows is None else {w.hostname: w.active for w in rows}

    # -- schedules and the beat -----------------------------------------------------------
    def schedule_rows(
        self,
    ) -> list[tuple[str, HealthState, datetime | None, datetime | None, int, int, int]]:
        records = self.schedules.page(limit=100_000)
        found = statuses(self.schedules.engine, records, self.clock())
        return [
            (
                r.name,
                found[r.name].health.state,
                r.next_fire_at,
                found[r.name].runs.last_success_for,
                found[r.name].fired,
                r.skipped_count,
                r.missed_count,
            )
            for r in records
        ]

    def schedules_by_state(self) -> dict[HealthState, int]:
        counts = dict.fromkeys(HealthState, 0)
        for row in self.schedule_rows():
            counts[row[1]] += 1
        return counts

    def lease_status(self) -> LeaseStatus | None:
        try:
            return self.lease.read()
        except Exception:  # noqa: BLE001 - no lease table yet (an old database) or the store is down
            return None

    def beat(self) -> tuple[str | None, datetime | None, datetime | None]:
        status = self.lease_status()
        if status is None:
            return None, None, None
        return status.owner, status.evaluated_at, status.expires_at

    # -- health and throughput --------------------------------------------------------------
    def broker(self) -> BrokerHealth:
        return self._broker.get(lambda: broker_health.check(self.app.settings.broker.url, 1.0))

    def store_error(self) -> str | None:
        try:
            self.app.store.ping()
        except Exception as exc:  # noqa: BLE001 - reported on the page, not raised
            return f"{type(exc).__name__}: {exc}"
        return None

    def throughput(self, window: timedelta = timedelta(hours=1)) -> Throughput:
        """Runs enqueued in the last ``window`` by final state, per job and in total."""
        stats = self.app.store.stats(self.clock() - window)
        jobs = {
            job: JobThroughput(
                job,
                sum(entry["states"].values()),
                entry["states"].get("SUCCESS", 0),
                entry["states"].get("FAILURE", 0) + entry["states"].get("EXPIRED", 0),
                entry["avg_ms"],
            )
            for job, entry in sorted(stats.items())
        }
        return Throughput(window, list(jobs.values()))

    def close(self) -> None:
        self.management.close()
