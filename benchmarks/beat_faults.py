"""The beat through its faults, timed: what the process-level tests only assert as behaviour.

One command, against the local RabbitMQ::

    .venv/bin/python -m benchmarks.beat_faults [--schedules 10000] [--window 10]

Each row runs real ``celery beat`` processes, Beatkeeper's DatabaseScheduler beside Celery's
default PersistentScheduler in the same run (the machine is shared, so ratios are what to
read):

1. SIGTERM mid-burst: ``--schedules`` schedules due at the same second; SIGTERM once the
   first fires are out; seconds until the process exited, its exit status, and (Beatkeeper)
   whether its lease was released. Celery's entries are crontabs at a minute boundary.
2. SIGTERM while another process holds SQLite's write lock (Beatkeeper only: Celery's
   scheduler has no SQL store), once in the beat's backoff and once inside its lock wait.
3. Broker unreachable (a closed port), 60 schedules every second: CPU in % of one core
   and log lines over ``--window`` seconds once the beat has met the outage.
4. Takeover: a standby beat's lease after the leader's kill -9 (Celery has no standby).

Everything runs in its own namespace (``BEATKEEPER_QUEUE_PREFIX=bk-bfault-<random>``,
SQLite files in a temporary folder); processes, queues and files are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import secrets
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kombu import Connection as AmqpConnection
from sqlalchemy import func, select

from benchmarks.beat import (
    BEATKEEPER,
    CELERY,
    Beat,
    bench_env,
    clean_up_broker,
    print_machine,
    start_beatkeeper,
    start_celery,
)
from benchmarks.beat_data import burst_plan, insert_schedules
from benchmarks.harness import free_port, sqlite_database, workspace
from broker import declare as broker_declare
from broker.topology import describe
from jobs.beat.runner import Backoff
from jobs.factory import create_celery_app
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from jobs.store import make_engine
from jobs.store.lease import LeaseStore
from jobs.store.tables import runs

NA = "n/a"


@dataclass
class Row:
    scenario: str
    beatkeeper: str
    celery: str = NA


def exit_after_sigterm(beat: Beat, timeout: float = 60.0) -> tuple[float, int | None]:
    """Seconds from SIGTERM to the process's exit, and its exit status (None: killed)."""
    sent = time.monotonic()
    beat.proc.popen.send_signal(signal.SIGTERM)
    try:
        code: int | None = beat.proc.popen.wait(timeout)
    except Exception:  # noqa: BLE001 - TimeoutExpired: report it as never
        return math.inf, None
    return time.monotonic() - sent, code


def wait(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.05)


def fmt_exit(took: float, code: int | None) -> str:
    if code is None:
        return f"did not exit in {took:.0f} s"
    return f"{took:.2f} s (exit {code})"


# -- 1. SIGTERM mid-burst ----------------------------------------------------------------------
def bk_sigterm_burst(env: dict[str, str], tmp: Path, count: int) -> str:
    url = sqlite_database(tmp, "bk-burst")
    env = {**env, "DATABASE_URL": url}
    engine = make_engine(url)
    try:
        insert_schedules(
            engine,
            burst_plan(count, datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=15)),
        )
        beat = start_beatkeeper(env, tmp, "bk-burst")
        try:
            with engine.connect() as conn:

                def sent() -> int:
                    return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())

                wait(lambda: sent() > 0, 60, "first fire")
            took, code = exit_after_sigterm(beat)
        finally:
            beat.stop()
        released = LeaseStore(engine).read().owner is None
    finally:
        engine.dispose()
    return fmt_exit(took, code) + (", lease released" if released else ", lease NOT released")


def celery_sigterm_burst(env: dict[str, str], tmp: Path, count: int) -> str:
    due = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (due - datetime.now(UTC)).total_seconds() < 20:  # time to load the entries first
        due += timedelta(minutes=1)
    env = {
        **env,
        "DATABASE_URL": "sqlite:///unused.db",
        "BENCH_BEAT_ENTRIES": str(count),
        "BENCH_BEAT_HOUR": str(due.hour),
        "BENCH_BEAT_MINUTE": str(due.minute),
    }
    beat = start_celery(env, tmp, "celery-burst")
    try:
        wait_s = (due - datetime.now(UTC)).total_seconds() + 60
        wait(lambda: beat.count_log("Sending due task") > 0, wait_s, "first send")
        took, code = exit_after_sigterm(beat)
    finally:
        beat.stop()
    return fmt_exit(took, code)


# -- 2. SIGTERM under a held SQLite lock -------------------------------------------------------
def every_second(env: dict[str, str], count: int) -> None:
    """``count`` interval schedules, every second, through the schedule service."""
    app = create_celery_app(JobsSettings.from_env(env))
    try:
        manager = ScheduleManager(app)
        for i in range(count):
            definition = ScheduleDefinition(
                name=f"busy-{i:03d}",
                job="runs_report",
                trigger=TriggerKind.INTERVAL,
                interval_seconds=1,
                kwargs={"hours": 1},
            )
            manager.create(definition, by="benchmark")
    finally:
        app.store.engine.dispose()


def bk_sigterm_locked(env: dict[str, str], tmp: Path, tag: str, delay: float) -> str:
    """SIGTERM ``delay`` seconds after the beat logged "store lost"; the lock stays held."""
    url = sqlite_database(tmp, tag)
    env = {**env, "DATABASE_URL": url}
    every_second(env, 1)
    beat = start_beatkeeper(env, tmp, tag)
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        beat.wait_mark("ticking", 60)
        holder.execute("BEGIN IMMEDIATE")
        wait(lambda: beat.count_log("store lost") > 0, 30, "'store lost'")
        time.sleep(delay)
        took, code = exit_after_sigterm(beat)
        released = beat.count_log("could not release the lease") == 0
    finally:
        holder.close()
        beat.stop()
    return fmt_exit(took, code) + (", lease released" if released else ", lease left to expire")


def bk_sigterm_locked_both(env: dict[str, str], tmp: Path) -> str:
    """Two moments: in the backoff after "store lost", and 0.1 s into the next lock wait
    (SQLite's wait cannot be interrupted: the worst case)."""
    idle = bk_sigterm_locked(env, tmp, "bk-locked", 0.0)
    waiting = bk_sigterm_locked(env, tmp, "bk-locked-wait", Backoff().first + 0.1)
    return f"{idle} in its backoff; {waiting} in its lock wait"


# -- 3. broker unreachable ---------------------------------------------------------------------
@dataclass(frozen=True)
class Outage:
    cpu_pct: float
    lines: int
    tracebacks: int

    def __str__(self) -> str:
        return f"{self.cpu_pct:.1f} % CPU, {self.lines:,} log lines, {self.tracebacks} tracebacks"


def measure_outage(beat: Beat, first_error: str, window: float) -> Outage:
    wait(lambda: beat.count_log(first_error) > 0, 60, repr(first_error))
    lines_before = beat.count_log("")
    cpu_before, started = beat.cpu_seconds(), time.monotonic()
    time.sleep(window)
    cpu = (beat.cpu_seconds() - cpu_before) / (time.monotonic() - started) * 100
    beat.proc.check_alive()
    return Outage(cpu, beat.count_log("") - lines_before, beat.count_log("Traceback"))


def closed_broker(env: dict[str, str]) -> dict[str, str]:
    return {**env, "BEATKEEPER_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"}


def bk_broker_down(env: dict[str, str], tmp: Path, window: float) -> Outage:
    url = sqlite_database(tmp, "bk-nobroker")
    env = {**env, "DATABASE_URL": url}
    every_second(env, 60)
    beat = start_beatkeeper(closed_broker(env), tmp, "bk-nobroker")
    try:
        return measure_outage(beat, "broker lost", window)
    finally:
        beat.stop()


def celery_broker_down(env: dict[str, str], tmp: Path, window: float) -> Outage:
    env = {**closed_broker(env), "DATABASE_URL": "sqlite:///unused.db"}
    env.update(BENCH_BEAT_ENTRIES="60", BENCH_BEAT_EVERY="1")
    beat = start_celery(env, tmp, "celery-nobroker")
    try:
        return measure_outage(beat, "Connection error", window)
    finally:
        beat.stop()


# -- 4. takeover -------------------------------------------------------------------------------
def taken_from(lease: LeaseStore, owner: str | None) -> bool:
    now = lease.read()
    return now.owner not in (None, owner) and now.held(datetime.now(UTC))


def bk_takeover(env: dict[str, str], tmp: Path, trials: int) -> str:
    url = sqlite_database(tmp, "bk-takeover")
    env = {**env, "DATABASE_URL": url}
    every_second(env, 1)
    engine = make_engine(url)
    lease = LeaseStore(engine)
    times: list[float] = []
    beats: list[Beat] = []
    try:
        beats.append(start_beatkeeper(env, tmp, "bk-takeover-0"))
        for trial in range(trials):
            beats.append(start_beatkeeper(env, tmp, f"bk-takeover-{trial + 1}"))
            wait(lambda: lease.read().held(datetime.now(UTC)), 60, "leader")
            leader = lease.read()
            victim = next(b for b in beats if b.proc.popen.poll() is None and b.count_log("leads"))
            time.sleep(1.0)  # the standby is polling by now
            victim.proc.popen.send_signal(signal.SIGKILL)
            killed = datetime.now(UTC)
            victim.proc.popen.wait(10)

            wait(functools.partial(taken_from, lease, leader.owner), 30, "takeover")
            acquired = lease.read().acquired_at
            assert acquired is not None
            times.append((acquired - killed).total_seconds())
            beats.remove(victim)
    finally:
        for beat in beats:
            beat.stop()
        engine.dispose()
    ordered = sorted(times)
    return f"median {ordered[len(ordered) // 2]:.2f} s, max {ordered[-1]:.2f} s ({trials} kills)"


# -- the table ---------------------------------------------------------------------------------
def print_table(rows: Sequence[Row]) -> None:
    head = ("scenario", BEATKEEPER, CELERY)
    widths = [max(len(head[i]), *(len(astuple(r)[i]) for r in rows)) for i in range(3)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        cells = astuple(row)
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")


def astuple(row: Row) -> tuple[str, str, str]:
    return row.scenario, row.beatkeeper, row.celery


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000, help="for the SIGTERM burst")
    parser.add_argument("--window", type=float, default=10.0, help="outage CPU window, s")
    parser.add_argument("--takeovers", type=int, default=3, help="leader kill -9s")
    parser.add_argument("--skip-celery", action="store_true", help="Beatkeeper's rows only")
    parser.add_argument("--keep", action="store_true", help="keep logs and databases")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    prefix = f"bk-bfault-{secrets.token_hex(4)}"
    env = {**bench_env(prefix, ""), "BEATKEEPER_JOB_MODULES": "jobs.examples"}
    settings = JobsSettings.from_env({**env, "DATABASE_URL": "sqlite:///unused.db"})
    broker_url = settings.broker.url
    topology = describe(settings.broker)
    print_machine(broker_url)
    print(f"namespace : {prefix}\n")
    rows: list[Row] = []
    celery = not args.skip_celery
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(workspace(args.keep, prefix="bk-bfault-"))
        with AmqpConnection(broker_url, connect_timeout=5) as conn:
            broker_declare.declare(conn, topology)
        stack.callback(clean_up_broker, broker_url, settings.broker.management_api, topology)

        def step(title: str) -> None:
            print(f"[{time.monotonic() - began:6.1f}s] {title}", flush=True)

        step(f"SIGTERM mid-burst, {args.schedules:,} schedules")
        burst = Row(f"SIGTERM to exit, mid-burst of {args.schedules:,} schedules", "")
        burst.beatkeeper = bk_sigterm_burst(env, tmp, args.schedules)
        if celery:
            burst.celery = celery_sigterm_burst(env, tmp, args.schedules)
        rows.append(burst)
        step("SIGTERM with the SQLite store write-locked")
        rows.append(
            Row("SIGTERM to exit, SQLite write lock held", bk_sigterm_locked_both(env, tmp))
        )
        step(f"broker unreachable, {args.window:g} s window")
        outage = Row(f"broker unreachable, 60 schedules every 1 s, over {args.window:g} s", "")
        outage.beatkeeper = str(bk_broker_down(env, tmp, args.window))
        if celery:
            outage.celery = str(celery_broker_down(env, tmp, args.window))
        rows.append(outage)
        step(f"standby takeover, {args.takeovers} leader kill -9s")
        rows.append(
            Row(
                "standby takes the lease after the leader's kill -9",
                bk_takeover(env, tmp, args.takeovers),
            )
        )
    print()
    print_table(rows)
    print(f"\nfinished in {time.monotonic() - began:.0f}s on this machine (shared; noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
