"""Beat at scale: Beatkeeper's DatabaseScheduler vs Celery's default PersistentScheduler.

One command, against the local RabbitMQ::

    .venv/bin/python -m benchmarks.beat [--schedules 10000] [--idle-schedules 100000]

1. Burst: N schedules all due at the same second T. Beatkeeper: daily cron rows (with a
   seconds field) in a fresh SQLite store, next fire T = now + ``--lead``. Celery: a
   ``beat_schedule`` of N daily ``crontab`` entries at the next minute boundary (crontab
   has no seconds). Each runs as the real ``celery beat`` process; a py-amqp consumer of
   the work queue records every arrival, and lateness = arrival - due time. Celery gets
   ``--window`` seconds; what has not arrived by then counts as later than the window.
   A third row, the floor, publishes N messages straight into Beatkeeper's hold queue
   (no beat) to show how much of the lateness is RabbitMQ releasing them.
2. Idle at scale: ``--idle-schedules`` daily schedules a few hours away: start-up time
   (process start until the first tick returned), idle CPU and RSS; for Beatkeeper also
   how soon a runtime edit (ScheduleManager update/create) fires.

``--py-spy FILE`` samples Beatkeeper's beat during its burst; ``--bk-scheduler`` and
``--python-path`` run a patched DatabaseScheduler subclass instead, for A/B runs.

Everything runs in its own namespace (``BEATKEEPER_QUEUE_PREFIX=bk-bbench-<random>``,
SQLite files in a temporary folder); processes, queues and files are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from urllib.parse import quote, unquote, urlsplit

import httpx
import psutil
from kombu import Connection as AmqpConnection
from sqlalchemy import Engine, func, select

from benchmarks._http import percentile
from benchmarks.beat_data import JOB, KWARGS, burst_plan, idle_plan, insert_schedules, name_of
from benchmarks.beat_floor import FLOOR_PREFIX, hold_messages, publish_held
from benchmarks.harness import (
    Process,
    cpu_model,
    memory_gib,
    quiet_check,
    rabbitmq_pid,
    rabbitmq_version,
    snapshot,
    sqlite_database,
    usage,
    versions,
    wait_quiet,
    workspace,
)
from broker import declare as broker_declare
from broker.topology import Topology, describe
from jobs.factory import create_celery_app
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.services.schedules import ScheduleManager
from jobs.settings import BeatSettings, JobsSettings
from jobs.store import make_engine
from jobs.store.tables import runs

BEATKEEPER = "beatkeeper DatabaseScheduler"
CELERY = "celery PersistentScheduler"
FLOOR = "floor: RabbitMQ hold release, no beat"
CPU_LEAD = 5.0  # the burst's CPU window opens this long before the due time

TARGET_BURST_P99 = 1.0
TARGET_STARTUP = 10.0
TARGET_IDLE_CPU = 1.0
TARGET_EDIT = 1.0


# -- the consumer ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Arrival:
    at: float  # epoch seconds the consumer received it
    schedule: str  # beatkeeper_schedule header ("" for Celery)
    scheduled_for: float | None  # beatkeeper_scheduled_for header, as epoch seconds
    celery: bool  # the celery_beat_task header was set


def parse_arrival(line: str) -> Arrival:
    at, schedule, scheduled_for, celery = line.split("\t")
    nominal = datetime.fromisoformat(scheduled_for).timestamp() if scheduled_for else None
    return Arrival(float(at), schedule, nominal, celery == "1")


class Consumer:
    """``beat_consumer.py`` in its own process; ``poll()`` reads what it recorded so far."""

    def __init__(self, env: dict[str, str], broker_url: str, queue: str, tmp: Path, tag: str):
        self.out = tmp / f"{tag}-arrivals.tsv"
        self.out.touch()
        argv = [sys.executable, "-m", "benchmarks.beat_consumer", broker_url, queue, str(self.out)]
        self.proc = Process(f"consumer ({tag})", argv, env, tmp / f"{tag}-consumer.log")
        self.records: list[Arrival] = []
        self._offset = 0

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while "READY" not in self.proc.tail(5):
            self.proc.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumer not ready after {timeout:.0f}s:\n{self.proc.tail()}")
            time.sleep(0.05)

    def poll(self) -> list[Arrival]:
        with self.out.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        self.records.extend(parse_arrival(line) for line in complete.decode().splitlines())
        return self.records

    def stop(self) -> list[Arrival]:
        self.proc.stop()
        return self.poll()


# -- the beat process -----------------------------------------------------------------------
class Beat:
    """One ``celery beat`` subprocess with the marks of ``beat_probe``."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.label = label
        self.spawned = time.time()
        self.proc = Process(label, argv, env, log)
        self.ps = psutil.Process(self.proc.pid)

    def mark(self, event: str) -> float | None:
        needle = f"BENCH {event} "
        with self.proc.log.open("rb") as handle:
            for raw in handle:
                line = raw.decode(errors="replace")
                if needle in line:
                    return float(line.split(needle, 1)[1].split()[0])
        return None

    def wait_mark(self, event: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while (at := self.mark(event)) is None:
            self.proc.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: no {event!r} after {timeout:.0f}s")
            time.sleep(0.05)
        return at

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss_mb(self) -> float:
        return float(self.ps.memory_info().rss) / 2**20

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def count_log(self, text: str) -> int:
        with self.proc.log.open("rb") as handle:
            needle = text.encode()
            return sum(1 for raw in handle if needle in raw)

    def stop(self) -> None:
        self.proc.stop(timeout=10.0)


LOGLEVEL = "INFO"  # --beat-loglevel
DEFAULT_BK_SCHEDULER = "benchmarks.beat_probe:ReadyDatabaseScheduler"
BK_SCHEDULER = DEFAULT_BK_SCHEDULER  # --bk-scheduler


def beat_argv(app: str, scheduler: str, schedule_file: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "beat",
        "--scheduler",
        scheduler,
        "--schedule",
        str(schedule_file),
        "--loglevel",
        LOGLEVEL,
    ]


def start_beatkeeper(env: dict[str, str], tmp: Path, tag: str) -> Beat:
    argv = beat_argv("jobs", BK_SCHEDULER, tmp / f"{tag}-unused")
    return Beat(f"{BEATKEEPER} ({tag})", argv, env, tmp / f"{tag}-beat.log")


def start_celery(env: dict[str, str], tmp: Path, tag: str) -> Beat:
    argv = beat_argv(
        "benchmarks.beat_celery_app",
        "benchmarks.beat_probe:ReadyPersistentScheduler",
        tmp / f"{tag}-schedule",
    )
    return Beat(f"{CELERY} ({tag})", argv, env, tmp / f"{tag}-beat.log")


# -- results --------------------------------------------------------------------------------
@dataclass
class BurstResult:
    scheduler: str
    expected: int
    lateness: list[float]  # one per arrived fire, seconds after its due time
    cpu_s: float
    peak_rss_mb: float
    startup_s: float
    window_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def fired(self) -> int:
        return len(self.lateness)

    def pct(self, p: float) -> float:
        """Percentile over every expected fire; missing ones count as infinitely late."""
        missing = max(0, self.expected - self.fired)
        return percentile(self.lateness + [math.inf] * missing, p)


@dataclass
class EditTrial:
    kind: str
    name: str
    due: float
    committed: float
    arrived: float | None

    @property
    def visible_s(self) -> float:
        """Arrival after the later of commit and due time (inf: never arrived)."""
        if self.arrived is None:
            return math.inf
        return self.arrived - max(self.due, self.committed)


@dataclass
class IdleResult:
    scheduler: str
    schedules: int
    startup_s: float
    idle_cpu_pct: float
    rss_mb: float
    edits: list[EditTrial] = field(default_factory=list)

    @property
    def edit_visible_s(self) -> float | None:
        return max((t.visible_s for t in self.edits), default=None)


# -- helpers --------------------------------------------------------------------------------
def sleep_until(epoch: float) -> None:
    delay = epoch - time.time()
    if delay > 0:
        time.sleep(delay)


def purge(broker_url: str, topology: Topology) -> None:
    with AmqpConnection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        for spec in (*topology.work_queues, *topology.hold_queues):
            channel.queue_purge(spec.name)


def delete_topology(broker_url: str, topology: Topology) -> None:
    with AmqpConnection(broker_url, connect_timeout=5) as conn:
        broker_declare.delete(conn, topology)


def delete_leftovers(management_api: str, prefix: str) -> list[str]:
    """Delete any other queue or exchange named ``<prefix>.*`` (e.g. an A/B prototype's)."""
    parts = urlsplit(management_api)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}/api"
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    deleted: list[str] = []
    with httpx.Client(auth=auth, timeout=10) as client:
        for kind in ("queues", "exchanges"):
            listed = client.get(f"{base}/{kind}", params={"columns": "name,vhost"})
            listed.raise_for_status()
            for item in listed.json():
                if item["name"].startswith(f"{prefix}."):
                    vhost, name = quote(item["vhost"], safe=""), quote(item["name"], safe="")
                    client.delete(f"{base}/{kind}/{vhost}/{name}").raise_for_status()
                    deleted.append(item["name"])
    return deleted


def clean_up_broker(broker_url: str, management_api: str, topology: Topology) -> None:
    delete_topology(broker_url, topology)
    try:
        extra = delete_leftovers(management_api, topology.exchange.name)
    except httpx.HTTPError as exc:
        print(f"could not check for leftover queues via the management API: {exc}")
        return
    if extra:
        print(f"also deleted leftovers: {', '.join(extra)}")


def wait_arrivals(
    consumer: Consumer, wanted: Callable[[Arrival], bool], count: int, until: float
) -> list[Arrival]:
    """Poll the consumer until ``count`` wanted arrivals or the epoch ``until``."""
    while True:
        got = [r for r in consumer.poll() if wanted(r)]
        if len(got) >= count or time.time() >= until:
            return got
        consumer.proc.check_alive()
        time.sleep(0.1)


def fmt_s(value: float | None, window: float | None = None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return f">{window:.0f}" if window is not None else "never"
    return f"{value:.3f}"


def phase(title: str, began: float, quiet: float = 0.0) -> None:
    """Announce a phase, first waiting up to ``quiet`` s for the machine to calm down."""
    background = wait_quiet(quiet) if quiet > 0 else float("nan")
    busy = f" (other processes: {background:.0f}% of a core)" if quiet > 0 else ""
    print(f"[{time.monotonic() - began:6.1f}s] {title}{busy}", flush=True)


# -- phase 1: burst -------------------------------------------------------------------------
def beatkeeper_burst(
    env: dict[str, str], tmp: Path, broker_url: str, queue: str, args: argparse.Namespace
) -> BurstResult:
    with contextlib.ExitStack() as stack:
        return _beatkeeper_burst(stack, env, tmp, broker_url, queue, args)


def _beatkeeper_burst(
    stack: contextlib.ExitStack[bool | None],
    env: dict[str, str],
    tmp: Path,
    broker_url: str,
    queue: str,
    args: argparse.Namespace,
) -> BurstResult:
    url = sqlite_database(tmp, "bk-burst")
    env = {**env, "DATABASE_URL": url}
    due = datetime.fromtimestamp(math.ceil(time.time() + args.lead), UTC)
    engine = make_engine(url)
    try:
        insert_schedules(engine, burst_plan(args.schedules, due))
        consumer = Consumer(env, broker_url, queue, tmp, "bk-burst")
        beat: Beat | None = None
        try:
            consumer.wait_ready()
            beat = start_beatkeeper(env, tmp, "bk-burst")
            ticking = beat.wait_mark("ticking", timeout=max(5.0, due.timestamp() - time.time()))
            spy = None
            if args.py_spy is not None:
                spy = start_py_spy(beat, due.timestamp() + 2.0, args.py_spy, env)
                stack.callback(spy.stop)
            cpu_lead = max(CPU_LEAD, BeatSettings.from_env(env).lookahead + 2.0)
            result = measure_burst(
                beat,
                consumer,
                BEATKEEPER,
                due.timestamp(),
                args.schedules,
                args.window,
                _is_bk,
                cpu_lead,
            )
            if spy is not None:  # let it write its file
                with contextlib.suppress(subprocess.TimeoutExpired):
                    spy.popen.wait(timeout=15)
            result.startup_s = ticking - beat.spawned
            result.notes.append(handoff_note(engine, due))
        finally:
            if beat is not None:
                beat.stop()
            consumer.stop()
    finally:
        engine.dispose()
    return result


def start_py_spy(beat: Beat, until: float, out: Path, env: dict[str, str]) -> Process:
    """Sample the beat (raw stacks) from now until the epoch ``until``."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    seconds = max(1, math.ceil(until - time.time()))
    argv = [exe, "record", "--pid", str(beat.proc.pid), "--rate", "250", "--format", "raw"]
    argv += ["--idle", "--nonblocking", "--duration", str(seconds), "--output", str(out)]
    return Process("py-spy", argv, env, out.with_suffix(".log"))


def _is_bk(arrival: Arrival) -> bool:
    return arrival.schedule.startswith("bench-") and arrival.scheduled_for is not None


def _is_celery(arrival: Arrival) -> bool:
    return arrival.celery


def handoff_note(engine: Engine, due: datetime) -> str:
    """When the beat's batches started (``runs.enqueued_at``) and how many were not held."""
    query = select(runs.c.enqueued_at, func.count()).group_by(runs.c.enqueued_at)
    query = query.where(runs.c.schedule.like("bench-%"))
    with engine.connect() as conn:
        batches = sorted((at, int(n)) for at, n in conn.execute(query))
    total = sum(n for _, n in batches)
    late = sum(n for at, n in batches if (due - at).total_seconds() < 0.2)
    offsets = ", ".join(f"{(at - due).total_seconds():+.2f}s x{n}" for at, n in batches)
    return (
        f"runs recorded {total}; batches started at due {offsets}; "
        f"{late} sent direct instead of held"
    )


def measure_burst(
    beat: Beat,
    consumer: Consumer,
    label: str,
    due: float,
    expected: int,
    window: float,
    wanted: Callable[[Arrival], bool],
    cpu_lead: float = CPU_LEAD,
) -> BurstResult:
    """From ``cpu_lead`` before ``due`` until all arrived or ``due + window``."""
    sleep_until(due - cpu_lead)
    beat.proc.check_alive()
    pids = {"beat": beat.proc.pid, "consumer": consumer.proc.pid, "rabbitmq": rabbitmq_pid()}
    start = snapshot(pids)
    cpu_before = beat.cpu_seconds()
    got = wait_arrivals(consumer, wanted, expected, due + window)
    cpu = beat.cpu_seconds() - cpu_before
    used = usage(start, snapshot(pids))
    peak = beat.peak_rss_mb()
    lateness = [r.at - (r.scheduled_for if r.scheduled_for is not None else due) for r in got]
    result = BurstResult(label, expected, lateness, cpu, peak, float("nan"), window)
    last = max((r.at for r in got), default=due)
    result.notes.append(
        f"due {datetime.fromtimestamp(due, UTC):%H:%M:%S}; last arrival at due+{last - due:.3f}s;"
        f" CPU window {cpu_lead:g}s before due until {time.time() - due:.1f}s after"
    )
    result.notes.append(used.describe())
    return result


def celery_burst(
    env: dict[str, str], tmp: Path, broker_url: str, queue: str, args: argparse.Namespace
) -> BurstResult:
    boundary = math.ceil((time.time() + args.celery_lead) / 60) * 60
    due = datetime.fromtimestamp(boundary, UTC)
    env = {
        **env,
        "DATABASE_URL": f"sqlite:///{tmp}/celery-burst.db",  # unused by Celery's scheduler
        "BENCH_BEAT_ENTRIES": str(args.schedules),
        "BENCH_BEAT_HOUR": str(due.hour),
        "BENCH_BEAT_MINUTE": str(due.minute),
    }
    consumer = Consumer(env, broker_url, queue, tmp, "celery-burst")
    beat: Beat | None = None
    try:
        consumer.wait_ready()
        beat = start_celery(env, tmp, "celery-burst")
        ticking = beat.wait_mark("ticking", timeout=max(5.0, boundary - time.time()))
        result = measure_burst(
            beat, consumer, CELERY, boundary, args.schedules, args.window, _is_celery
        )
        result.startup_s = ticking - beat.spawned
        sent = beat.count_log("Sending due task")
        result.notes.append(f"beat logged 'Sending due task' {sent} times by the window's end")
    finally:
        if beat is not None:
            beat.stop()
        consumer.stop()
    return result


def hold_floor(
    env: dict[str, str], tmp: Path, broker_url: str, queue: str, args: argparse.Namespace
) -> BurstResult:
    """Publish N hold messages due at one second; measure only the broker's release."""
    env = {**env, "DATABASE_URL": f"sqlite:///{tmp}/floor.db"}  # never opened
    app = create_celery_app(JobsSettings.from_env(env))
    due = float(math.ceil(time.time() + 3.0 + args.schedules / 1500))
    messages = hold_messages(app, args.schedules, due)
    consumer = Consumer(env, broker_url, queue, tmp, "floor")
    try:
        consumer.wait_ready()
        published = time.time()
        publish_held(broker_url, messages)
        published = time.time() - published
        sleep_until(due - 0.5)
        pids = {"consumer": consumer.proc.pid, "rabbitmq": rabbitmq_pid()}
        start = snapshot(pids)
        got = wait_arrivals(
            consumer,
            lambda r: r.schedule.startswith(FLOOR_PREFIX),
            args.schedules,
            due + args.window,
        )
        used = usage(start, snapshot(pids))
    finally:
        consumer.stop()
        app.store.engine.dispose()
    lateness = [r.at - due for r in got]
    result = BurstResult(FLOOR, args.schedules, lateness, 0.0, 0.0, 0.0, args.window)
    result.notes.append(f"{args.schedules} held messages published in {published:.2f}s before due")
    result.notes.append(used.describe())
    return result


# -- phase 2: idle at scale -----------------------------------------------------------------
def idle_hour(now: datetime) -> int:
    """An hour at least two hours away, so no idle schedule fires during the benchmark."""
    return (now + timedelta(hours=3)).hour


def measure_idle(beat: Beat, label: str, count: int, args: argparse.Namespace) -> IdleResult:
    ticking = beat.wait_mark("ticking", timeout=args.startup_timeout)
    time.sleep(args.settle)
    cpu_before, wall = beat.cpu_seconds(), time.monotonic()
    time.sleep(args.idle_seconds)
    cpu = beat.cpu_seconds() - cpu_before
    pct = cpu / (time.monotonic() - wall) * 100
    return IdleResult(label, count, ticking - beat.spawned, pct, beat.rss_mb())


def beatkeeper_idle(
    env: dict[str, str], tmp: Path, broker_url: str, queue: str, args: argparse.Namespace
) -> IdleResult:
    url = sqlite_database(tmp, "bk-idle")
    env = {**env, "DATABASE_URL": url}
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        insert_schedules(engine, idle_plan(args.idle_schedules, idle_hour(now), now))
    finally:
        engine.dispose()
    app = create_celery_app(JobsSettings.from_env(env))
    consumer = Consumer(env, broker_url, queue, tmp, "bk-idle")
    beat: Beat | None = None
    try:
        consumer.wait_ready()
        beat = start_beatkeeper(env, tmp, "bk-idle")
        result = measure_idle(beat, BEATKEEPER, args.idle_schedules, args)
        manager = ScheduleManager(app)
        for index in range(args.edits):
            result.edits.append(edit_trial(manager, consumer, index, args.idle_schedules))
        beat.proc.check_alive()
    finally:
        if beat is not None:
            beat.stop()
        consumer.stop()
        app.store.engine.dispose()
    return result


def edit_trial(manager: ScheduleManager, consumer: Consumer, index: int, count: int) -> EditTrial:
    """Even trials: move an existing schedule to now + 1.5 s; odd: create one due at once."""
    now = datetime.now(UTC)
    if index % 2 == 0:
        kind, name = "update -> due +1.5s", name_of(index * 7919 % count)
        due = now + timedelta(seconds=1.5)
        changes = {"trigger": "once", "run_at": due, "cron": None}
        manager.update(name, changes, by="benchmark", reason="edit-visibility probe")
    else:
        kind, name = "create -> due +0.1s", f"bench-edit-{index}"
        due = now + timedelta(seconds=0.1)
        definition = ScheduleDefinition(
            name=name, job=JOB, trigger=TriggerKind.ONCE, run_at=due, kwargs=dict(KWARGS)
        )
        manager.create(definition, by="benchmark", reason="edit-visibility probe")
    committed = time.time()
    got = wait_arrivals(consumer, lambda r: r.schedule == name, 1, committed + 5.0)
    return EditTrial(kind, name, due.timestamp(), committed, got[0].at if got else None)


def celery_idle(env: dict[str, str], tmp: Path, args: argparse.Namespace) -> IdleResult:
    env = {
        **env,
        "DATABASE_URL": f"sqlite:///{tmp}/celery-idle.db",
        "BENCH_BEAT_ENTRIES": str(args.idle_schedules),
        "BENCH_BEAT_HOUR": str(idle_hour(datetime.now(UTC))),
        "BENCH_BEAT_MINUTE": "spread",
    }
    beat = start_celery(env, tmp, "celery-idle")
    try:
        return measure_idle(beat, CELERY, args.idle_schedules, args)
    finally:
        beat.stop()


# -- report ---------------------------------------------------------------------------------
def print_machine(broker_url: str) -> None:
    memory = memory_gib()
    print("== machine")
    print(f"cpu       : {os.cpu_count()} cores, {cpu_model()}")
    print(f"ram       : {memory:.1f} GiB")
    print(f"python    : {platform.python_version()} ({platform.python_implementation()})")
    print(f"rabbitmq  : {rabbitmq_version(broker_url)}")
    print(f"packages  : {versions('celery', 'kombu', 'amqp', 'SQLAlchemy', 'psutil')}")
    print(f"load avg  : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"background: {quiet_check():.0f}% of one core busy (other processes) just before")


def print_burst(results: Sequence[BurstResult]) -> None:
    print(
        "| scheduler | schedules | fired/expected | lateness p50 | p99 | max | beat CPU s "
        "| RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        beat = r.scheduler != FLOOR
        cpu, rss = (f"{r.cpu_s:.2f}", f"{r.peak_rss_mb:.0f}") if beat else ("-", "-")
        print(
            f"| {r.scheduler} | {r.expected:,} | {r.fired:,}/{r.expected:,} "
            f"| {fmt_s(r.pct(50), r.window_s)} s | {fmt_s(r.pct(99), r.window_s)} s "
            f"| {fmt_s(r.pct(100), r.window_s)} s | {cpu} | {rss} |"
        )
    for r in results:
        startup = f"start-up {r.startup_s:.2f}s; " if r.scheduler != FLOOR else ""
        print(f"  {r.scheduler}: {startup}" + "; ".join(r.notes))


def print_idle(results: Sequence[IdleResult]) -> None:
    print("| scheduler | schedules | start-up s | idle CPU % | RSS MB | edit visible (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        edit = "n/a" if r.edit_visible_s is None else fmt_s(r.edit_visible_s)
        print(
            f"| {r.scheduler} | {r.schedules:,} | {r.startup_s:.2f} | {r.idle_cpu_pct:.2f} "
            f"| {r.rss_mb:.0f} | {edit} |"
        )
    for r in results:
        for t in r.edits:
            arrived = "never" if t.arrived is None else f"{t.arrived - t.committed:.3f}s"
            print(
                f"  edit {t.kind:<20} {t.name:<16} commit->arrival {arrived:>7}, "
                f"arrival - max(commit, due) {fmt_s(t.visible_s)}s"
            )


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (to/file.py)``."""
    name, _, where = frame.partition(" (")
    parts = Path(where.rstrip(")").rsplit(":", 1)[0]).parts
    return f"{name} ({'/'.join(parts[-2:])})" if parts else name


def summarize_spy(raw: Path, root: str = "BeatEngine._process", top: int = 18) -> None:
    """Wall-clock breakdown (py-spy ``--idle``) of the samples under ``root``."""
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [_frame_name(f) for f in stack.split(";")]
        names = [f.split(" (")[0] for f in frames]
        if root not in names or not count_text.isdigit():
            continue
        below = frames[names.index(root) :]
        total += int(count_text)
        leaf[below[-1]] = leaf.get(below[-1], 0) + int(count_text)
        for key in set(below):
            inclusive[key] = inclusive.get(key, 0) + int(count_text)
    print(f"  {total} samples (4 ms each, waits included) inside {root}")
    for title, table in (("inclusive", inclusive), ("leaf", leaf)):
        print(f"  top {top} by {title}:")
        for key, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {count / max(1, total) * 100:5.1f}%  {key}")


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def print_targets(burst: BurstResult | None, idle: IdleResult | None) -> None:
    print("== Beatkeeper targets")
    if burst is not None:
        p99 = burst.pct(99)
        ok = p99 < TARGET_BURST_P99 and burst.fired >= burst.expected
        print(
            f"[{verdict(ok)}] burst p99 < {TARGET_BURST_P99:g}s with all fired: "
            f"p99 {fmt_s(p99, burst.window_s)}s, {burst.fired}/{burst.expected}"
        )
    if idle is not None:
        edit = idle.edit_visible_s
        print(
            f"[{verdict(idle.startup_s < TARGET_STARTUP)}] {idle.schedules:,} schedules start-up"
            f" < {TARGET_STARTUP:g}s: {idle.startup_s:.2f}s"
        )
        print(
            f"[{verdict(idle.idle_cpu_pct < TARGET_IDLE_CPU)}] idle CPU < {TARGET_IDLE_CPU:g}%"
            f" of a core: {idle.idle_cpu_pct:.2f}%"
        )
        if edit is not None:
            print(
                f"[{verdict(edit < TARGET_EDIT)}] edit visible < {TARGET_EDIT:g}s: "
                f"{fmt_s(edit)}s (worst of {len(idle.edits)} trials)"
            )


# -- main -----------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000, help="burst size")
    parser.add_argument("--idle-schedules", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds after due to wait")
    parser.add_argument(
        "--lead", type=float, default=20.0, help="Beatkeeper's burst is due this far ahead"
    )
    parser.add_argument(
        "--celery-lead",
        type=float,
        default=20.0,
        help="Celery's burst is due at the first minute boundary at least this far ahead",
    )
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=2.0, help="pause after start-up")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--edits", type=int, default=6, help="edit-visibility trials")
    parser.add_argument(
        "--only", choices=("beatkeeper", "celery"), help="run one scheduler's phases only"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, DBs)")
    parser.add_argument("--beat-loglevel", default="INFO", help="celery beat --loglevel")
    parser.add_argument(
        "--bk-scheduler",
        default=DEFAULT_BK_SCHEDULER,
        help="Beatkeeper's scheduler class (to A/B a patched subclass; keep the BENCH marks)",
    )
    parser.add_argument(
        "--python-path", default="", help="extra PYTHONPATH entries for the beat processes"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="before each phase, wait up to this long for other processes to go quiet",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        type=lambda value: Path(value).resolve(),
        help="record Beatkeeper's beat with py-spy during its burst into FILE (raw stacks)",
    )
    return parser.parse_args(argv)


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def bench_env(prefix: str, extra_path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    paths = [p for p in extra_path.split(os.pathsep) if p]
    env.update(
        BEATKEEPER_QUEUE_PREFIX=prefix,
        PYTHONUNBUFFERED="1",
        # The children run from the repository root (harness.Process), so `benchmarks.*`
        # resolves; --python-path adds a patched scheduler's folder in front.
        **({"PYTHONPATH": os.pathsep.join(paths)} if paths else {}),
    )
    return env


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    global LOGLEVEL, BK_SCHEDULER
    LOGLEVEL, BK_SCHEDULER = args.beat_loglevel, args.bk_scheduler
    signal.signal(signal.SIGTERM, _raise_interrupt)
    began = time.monotonic()
    prefix = f"bk-bbench-{secrets.token_hex(4)}"
    env = bench_env(prefix, args.python_path)
    settings = JobsSettings.from_env({**env, "DATABASE_URL": "sqlite:///unused.db"})
    broker_url = settings.broker.url
    topology = describe(settings.broker)
    queue = topology.work_queue(settings.default_queue).name
    run_bk, run_celery = args.only in (None, "beatkeeper"), args.only in (None, "celery")
    print(f"command   : {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print_machine(broker_url)
    print(f"namespace : {prefix}; beat config {BeatSettings.from_env(env)!r}")
    if DEFAULT_BK_SCHEDULER != BK_SCHEDULER:
        print(f"scheduler : Beatkeeper runs {BK_SCHEDULER} (A/B)")
    print()

    bursts: list[BurstResult] = []
    idles: list[IdleResult] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(workspace(args.keep, prefix="bk-bbench-"))
        with AmqpConnection(broker_url, connect_timeout=5) as conn:
            broker_declare.declare(conn, topology)
        stack.callback(clean_up_broker, broker_url, settings.broker.management_api, topology)
        common = (env, tmp, broker_url, queue, args)
        steps: list[tuple[bool, str, Callable[[], None]]] = [
            (
                run_bk,
                f"burst: {BEATKEEPER}, {args.schedules:,} due at now+{args.lead:g}s",
                lambda: bursts.append(beatkeeper_burst(*common)),
            ),
            (
                run_bk,
                f"burst floor: {args.schedules:,} messages pre-held, no beat",
                lambda: bursts.append(hold_floor(*common)),
            ),
            (
                run_celery,
                f"burst: {CELERY}, {args.schedules:,} due at a minute boundary",
                lambda: bursts.append(celery_burst(*common)),
            ),
            (
                run_bk,
                f"idle: {BEATKEEPER}, {args.idle_schedules:,} schedules",
                lambda: idles.append(beatkeeper_idle(*common)),
            ),
            (
                run_celery,
                f"idle: {CELERY}, {args.idle_schedules:,} entries",
                lambda: idles.append(celery_idle(env, tmp, args)),
            ),
        ]
        for enabled, title, step in steps:
            if enabled:
                phase(title, began, args.wait_quiet)
                step()
                purge(broker_url, topology)
        phase("done; cleaning up", began)
        print()
        print(f"== burst: {args.schedules:,} fires due in the same second")
        print_burst(bursts)
        print()
        print(f"== idle at scale: {args.idle_schedules:,} schedules, {args.idle_seconds:g}s idle")
        print_idle(idles)
        print()
        bk_burst = next((b for b in bursts if b.scheduler == BEATKEEPER), None)
        bk_idle = next((i for i in idles if i.scheduler == BEATKEEPER), None)
        print_targets(bk_burst, bk_idle)
        if args.py_spy is not None and args.py_spy.exists():
            print(f"\n== py-spy: {BEATKEEPER} during its burst ({args.py_spy})")
            summarize_spy(args.py_spy)
    print(f"\nfinished in {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
