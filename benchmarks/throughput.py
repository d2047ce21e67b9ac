"""How fast work gets done: a worker draining queued jobs, Beatkeeper's task class against a
plain Celery task, on SQLite and on PostgreSQL, side by side in one run.

    python -m benchmarks.throughput            # 3,000 jobs per cell (2-core friendly)
    python -m benchmarks.throughput --full     # 20,000 jobs per cell
    python -m benchmarks.throughput --stores sqlite --no-latency

Each cell queues N jobs first (no worker running), then starts one worker (prefork, the
same concurrency, quorum queue, acks_late, prefetch 1, task events: the settings of
``jobs.factory``) and measures tasks/s from the first ``task-received`` to the last
``task-succeeded`` event (the timestamps the worker stamps, so a slow event reader on a
busy machine changes nothing). Beatkeeper's cell also waits until every run is SUCCESS in
the store, and reports how long after the last job that took. Then, with the worker still
up, it offers a steady load at half the measured maximum and reports enqueue-to-done
p50/p99. Both kinds share the worker app (``benchmarks.throughput_app``): they differ only
in the task class.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kombu import Connection as AmqpConnection
from sqlalchemy import select

from benchmarks._http import percentile
from benchmarks.beat import delete_topology
from benchmarks.harness import (
    Process,
    cpu_model,
    git_state,
    memory_gib,
    migrated_database,
    rabbitmq_version,
    versions,
    wait_quiet,
    workspace,
)
from benchmarks.throughput_cpu import CpuWindow
from benchmarks.throughput_jobs import PLAIN_TASK, add_plain_task
from broker import declare as broker_declare
from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.factory import create_celery_app
from jobs.settings import JobsSettings
from jobs.store import make_engine
from jobs.store.tables import runs

POSTGRES = os.environ.get("BEATKEEPER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
JOB = "bench_work"
KINDS = ("plain", "beatkeeper")


# -- events: when each job was received and done, by the worker's own clock ------------------
class Tracker:
    """Reads the worker's task events in a thread; only ids this run sent are counted (other
    apps on the vhost share Celery's event exchange)."""

    def __init__(self, app: BeatkeeperCelery) -> None:
        self.app = app
        self.sent: dict[str, float] = {}
        self.received: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._receiver: object | None = None
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the event receiver did not start")

    def _run(self) -> None:
        def on(event: dict[str, object]) -> None:
            uid = str(event.get("uuid"))
            with self._lock:
                if uid not in self.sent:
                    return
                kind, stamp = event["type"], float(event["timestamp"])  # type: ignore[arg-type]
                if kind == "task-received":
                    self.received[uid] = stamp
                elif kind == "task-succeeded":
                    self.done[uid] = stamp
                elif kind in ("task-failed", "task-rejected"):
                    self.failed[uid] = str(event.get("exception", kind))

        with self.app.connection_for_read() as conn:
            receiver = self.app.events.Receiver(conn, handlers={"*": on})
            self._receiver = receiver
            with receiver.Consumer() as (connection, _channel, _consumers):
                self._ready.set()
                while not receiver.should_stop:
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=0.5)

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True  # type: ignore[attr-defined]
        self._thread.join(5)

    def expect(self, ids: list[str], at: list[float]) -> None:
        with self._lock:
            self.sent.update(zip(ids, at, strict=True))

    def progress(self, ids: list[str]) -> tuple[int, int]:
        """How many of ``ids`` were received and how many are done."""
        with self._lock:
            return sum(i in self.received for i in ids), sum(i in self.done for i in ids)

    def wait_done(self, ids: list[str], timeout: float, check: Callable[[], None]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                missing = sum(1 for i in ids if i not in self.done and i not in self.failed)
                failed = [self.failed[i] for i in ids if i in self.failed]
            if failed:
                raise RuntimeError(f"{len(failed)} jobs failed, e.g. {failed[0]}")
            if not missing:
                return
            check()
            time.sleep(0.2)
        raise RuntimeError(f"{missing} of {len(ids)} jobs not done within {timeout:.0f} s")


# -- sending ---------------------------------------------------------------------------------
def send(app: BeatkeeperCelery, enqueuer: Enqueuer, kind: str, seconds: float) -> str:
    if kind == "beatkeeper":
        return enqueuer.enqueue(JOB, {"seconds": seconds}).id
    return str(app.send_task(PLAIN_TASK, kwargs={"seconds": seconds}).id)


def send_many(
    app: BeatkeeperCelery, enqueuer: Enqueuer, tracker: Tracker, kind: str, n: int, secs: float
) -> list[str]:
    """Queue ``n`` jobs as fast as the path allows (Beatkeeper: batched run rows + confirms)."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    tracker.expect(ids, [time.time()] * n)
    if kind == "beatkeeper":
        futures = [enqueuer.submit(JOB, {"seconds": secs}, run_id=i) for i in ids]
        for future in futures:
            future.result(60)
    else:
        with app.producer_or_acquire() as producer:
            for i in ids:
                app.send_task(PLAIN_TASK, kwargs={"seconds": secs}, task_id=i, producer=producer)
    return ids


def send_paced(
    app: BeatkeeperCelery, enqueuer: Enqueuer, tracker: Tracker, kind: str, rate: float,
    count: int, secs: float,
) -> list[str]:  # fmt: skip
    """Offer ``count`` jobs at a steady ``rate`` per second; the send time is the enqueue."""
    ids: list[str] = []
    start = time.monotonic()
    with app.producer_or_acquire() as producer:
        for n in range(count):
            pause = start + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            uid = str(uuid.uuid4())
            tracker.expect([uid], [time.time()])
            if kind == "beatkeeper":
                enqueuer.enqueue(JOB, {"seconds": secs}, run_id=uid)
            else:
                app.send_task(PLAIN_TASK, kwargs={"seconds": secs}, task_id=uid, producer=producer)
            ids.append(uid)
    return ids


# -- one cell ----------------------------------------------------------------------------------
@dataclass
class Cell:
    store: str
    work: str
    kind: str
    n: int
    rate: float = 0.0
    recorded_after: float | None = None
    offered: float = 0.0
    p50: float = float("nan")
    p99: float = float("nan")
    worker_cpu_ms: float = float("nan")  # per job: worker main process + pool children
    store_cpu_ms: float = float("nan")  # per job: PostgreSQL backends (SQLite is in the worker)


def count_succeeded(database_url: str, ids: set[str]) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(runs.c.id).where(runs.c.state == "SUCCESS")).scalars()
            return sum(1 for r in rows if r in ids)
    finally:
        engine.dispose()


def run_cell(ctx: Context, work: str, kind: str) -> Cell:
    secs = 0.0 if work == "no-op" else 0.010
    cell = Cell(ctx.store, work, kind, ctx.args.n)
    ids = send_many(ctx.app, ctx.enqueuer, ctx.tracker, kind, ctx.args.n, secs)
    worker = ctx.start_worker(f"{ctx.store}-{work}-{kind}")
    try:
        cpu, measured = measure_cpu(ctx, worker, ids)
        ctx.tracker.wait_done(ids, ctx.args.timeout, worker.check_alive)
        cpu.stop()
        cell.worker_cpu_ms = cpu.worker_seconds * 1000 / measured
        cell.store_cpu_ms = cpu.store_seconds * 1000 / measured
        first = min(ctx.tracker.received[i] for i in ids if i in ctx.tracker.received)
        last = max(ctx.tracker.done[i] for i in ids)
        cell.rate = len(ids) / max(1e-6, last - first)
        if kind == "beatkeeper":
            cell.recorded_after = wait_recorded(ctx.database_url, set(ids), last, ctx.args.timeout)
        if ctx.args.latency:
            cell.offered = cell.rate / 2
            count = max(50, int(cell.offered * ctx.args.latency_seconds))
            paced = send_paced(ctx.app, ctx.enqueuer, ctx.tracker, kind, cell.offered, count, secs)
            ctx.tracker.wait_done(paced, ctx.args.timeout, worker.check_alive)
            delays = [ctx.tracker.done[i] - ctx.tracker.sent[i] for i in paced]
            cell.p50, cell.p99 = percentile(delays, 50), percentile(delays, 99)
    finally:
        worker.stop(30)
    return cell


def measure_cpu(ctx: Context, worker: Process, ids: list[str]) -> tuple[CpuWindow, int]:
    """Start counting CPU once the worker has taken its first job (its start-up excluded);
    returns the window and how many jobs it covers."""
    deadline = time.monotonic() + ctx.args.timeout
    while ctx.tracker.progress(ids)[0] == 0 and time.monotonic() < deadline:
        worker.check_alive()
        time.sleep(0.01)
    cpu = CpuWindow(worker.pid, ctx.database_url)
    cpu.start()
    return cpu, max(1, len(ids) - ctx.tracker.progress(ids)[1])


def wait_recorded(database_url: str, ids: set[str], last: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_succeeded(database_url, ids) == len(ids):
            return max(0.0, time.time() - last)
        time.sleep(0.2)
    raise RuntimeError("not every run was recorded as SUCCESS in the store")


# -- stores, broker, worker --------------------------------------------------------------------
class Context:
    def __init__(
        self,
        args: argparse.Namespace,
        tmp: Path,
        store: str,
        database_url: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.args, self.tmp, self.store, self.database_url = args, tmp, store, database_url
        # extra_env: another deployment's variables (benchmarks.throughput_cluster).
        self.prefix = (extra_env or {}).get(
            "BEATKEEPER_QUEUE_PREFIX", f"bk-tp-{uuid.uuid4().hex[:6]}"
        )
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "BEATKEEPER_ENV": "development",
            "BEATKEEPER_QUEUE_PREFIX": self.prefix,
            "BEATKEEPER_JOB_MODULES": "benchmarks.throughput_jobs",
            "BEATKEEPER_WORKER_CONCURRENCY": str(args.concurrency),
            "BEATKEEPER_OUTBOX_DIR": str(tmp / f"outbox-{store}"),
            "DATABASE_URL": database_url,
            **(extra_env or {}),
        }
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            settings = JobsSettings.from_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.app = create_celery_app(settings)
        queue = self.app.topology.work_queue(settings.default_queue).name
        add_plain_task(self.app, queue)
        with AmqpConnection(settings.broker.url, connect_timeout=5) as conn:
            broker_declare.declare(conn, self.app.topology)
        self.enqueuer = Enqueuer(self.app)
        self.tracker = Tracker(self.app)
        self.tracker.start()

    def start_worker(self, tag: str) -> Process:
        argv = [sys.executable, "-m", "celery", "-A", "benchmarks.throughput_app", "worker",
                "-n", f"{self.prefix}-{tag}@%h", "--loglevel", "WARNING", "--pool", "prefork",
                "--concurrency", str(self.args.concurrency), "--without-heartbeat",
                "--without-mingle", "--without-gossip"]  # fmt: skip
        return Process(f"worker {tag}", argv, self.env, self.tmp / f"worker-{tag}.log")

    def close(self) -> None:
        self.tracker.stop()
        self.enqueuer.stop()
        with contextlib.suppress(Exception):
            delete_topology(self.app.settings.broker.url, self.app.topology)
        self.app.close()


# -- report ------------------------------------------------------------------------------------
def machine() -> str:
    broker = os.environ.get("BEATKEEPER_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB RAM; "
        f"RabbitMQ {rabbitmq_version(broker)}; "
        f"{versions('celery', 'kombu', 'SQLAlchemy', 'psycopg')}; Python {sys.version.split()[0]}; "
        f"git {git_state()}"
    )  # fmt: skip


def table(cells: list[Cell]) -> str:
    lines = [
        "| store | work | task class | jobs | tasks/s | vs plain | all recorded after "
        "| offered/s | p50 ms | p99 ms | worker CPU ms/job | store CPU ms/job |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    plain = {(c.store, c.work): c.rate for c in cells if c.kind == "plain"}
    for c in cells:
        ratio = c.rate / plain[(c.store, c.work)] if (c.store, c.work) in plain else float("nan")
        rec = f"{c.recorded_after:.1f} s" if c.recorded_after is not None else "-"
        lines.append(
            f"| {c.store} | {c.work} | {c.kind} | {c.n:,} | {c.rate:,.0f} | {ratio:.2f}x | {rec} "
            f"| {c.offered:,.0f} | {c.p50 * 1000:.0f} | {c.p99 * 1000:.0f} "
            f"| {c.worker_cpu_ms:.2f} | {c.store_cpu_ms:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=3000, help="jobs per cell (default 3,000)")
    parser.add_argument("--full", action="store_true", help="20,000 jobs per cell")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--work", default="no-op,10ms")
    parser.add_argument("--no-latency", dest="latency", action="store_false")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep logs and databases")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="against the local twin of deploy/compose.cluster.yaml (PostgreSQL, 2 workers)",
    )
    args = parser.parse_args(argv)
    if args.full:
        args.n = 20_000
    if args.cluster:
        from benchmarks.throughput_cluster import run_cluster

        return run_cluster(args)
    print(f"machine: {machine()}")
    print(f"background CPU before start: {wait_quiet(10):.0f}% of a core")
    cells: list[Cell] = []
    with workspace(args.keep, prefix="bk-throughput-") as tmp:
        for store in args.stores.split(","):
            with migrated_database(store, tmp, "throughput") as url:
                ctx = Context(args, tmp, store, url)
                try:
                    for work in args.work.split(","):
                        for kind in KINDS:
                            cell = run_cell(ctx, work, kind)
                            cells.append(cell)
                            print(f"  {store} {work} {kind}: {cell.rate:,.0f} tasks/s", flush=True)
                finally:
                    ctx.close()
    print()
    print(table(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
