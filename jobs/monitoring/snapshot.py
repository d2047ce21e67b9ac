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


class _Background:
    """The last answer to a slow question, asked again in a daemon thread at most once per
    ``ttl`` seconds. Readers never wait for a refresh: only the first reader waits, at most
    ``first_wait`` seconds, for the first answer. A question that hangs costs one stuck
    thread and keeps the last answer (no second thread while the first still waits)."""

    def __init__(self, ask: Callable[[], Any], ttl: float, first_wait: float) -> None:
        self.ask = ask
        self.ttl = ttl
        self.first_wait = first_wait
        self.lock = threading.Lock()
        self.at: float | None = None  # when the last answer came
        self.value: Any = None
        self.thread: threading.Thread | None = None

    def get(self) -> Any:
        with self.lock:
            stale = self.at is None or time.monotonic() - self.at > self.ttl
            if stale and (self.thread is None or not self.thread.is_alive()):
                self.thread = threading.Thread(target=self._refresh, name="snapshot", daemon=True)
                self.thread.start()
            first = self.thread if self.at is None else None
        if first is not None:
            first.join(self.first_wait)
        return self.value

    def _refresh(self) -> None:
        value = self.ask()
        with self.lock:
            self.value, self.at = value, time.monotonic()


def still_known(
    seen: dict[str, float], answered: set[str], now: float, forget_after: float
) -> dict[str, bool]:
    """Every worker that answered now or within ``forget_after`` seconds, with whether it
    answered now; ``seen`` (hostname -> last answer) is updated in place."""
    for host in answered:
        seen[host] = now
    for host in [h for h, at in seen.items() if now - at > forget_after]:
        del seen[host]
    return {host: host in answered for host in sorted(seen)}


class Snapshot:
    def __init__(
        self,
        app: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = 1.0,
        cache_seconds: float = 3.0,
        forget_after: float = 600.0,
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
        # The management API and the workers' inspect wait up to ``timeout`` for an answer:
        # asked in the background, so a page or a scrape never waits for them.
        self._queues = _Background(self._read_queues, cache_seconds, timeout * 2 + 1)
        self._workers = _Background(self._inspect, cache_seconds, timeout * 3 + 1)
        self._broker = _Cached(cache_seconds)
        self.forget_after = forget_after
        self._seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()

    # -- broker ---------------------------------------------------------------------------
    def queues(self) -> list[QueueRow] | None:
        rows: list[QueueRow] | None = self._queues.get()
        return rows

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
        rows: list[WorkerRow] | None = self._workers.get()
        return rows

    def _inspect(self) -> list[WorkerRow] | None:
        """Ask the workers (in the background thread of ``_workers``); None: no answer."""
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=self.timeout)
                inspect = self.app.control.inspect(timeout=self.timeout, connection=conn)
                stats, active = inspect.stats() or {}, inspect.active() or {}
        except Exception:  # no answer means "unknown" on the page
            log.debug("workers did not answer", exc_info=True)
            return None
        return [
            WorkerRow(
                host,
                len(active.get(host) or []),
                sum((info.get("total") or {}).values()),
                str((info.get("pool") or {}).get("implementation", "")).rsplit(":", 1)[-1],
            )
            for host, info in sorted(stats.items())
        ]

    def workers(self) -> dict[str, int | None] | None:
        """hostname -> tasks it runs (inspect ``active``) for each worker that answered, and
        None for one that answered within ``forget_after`` seconds but not now (it is down);
        None altogether when nobody can be asked (the broker is down: unknown, not down)."""
        rows = self.worker_rows()
        if rows is None:
            return None
        active = {w.hostname: w.active for w in rows}
        with self._seen_lock:
            known = still_known(self._seen, set(active), time.monotonic(), self.forget_after)
        return {host: active[host] if up else None for host, up in known.items()}

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
                found[r.name].next_fire_at,
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
