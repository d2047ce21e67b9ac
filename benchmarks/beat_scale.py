"""The beat at 10k, 100k and 1M schedules, on SQLite and PostgreSQL: a line per size.

    .venv/bin/python -m benchmarks.beat_scale [--sizes 10000,100000,1000000]
        [--stores sqlite,postgresql] [--burst 100000] [--celery-sizes 10000,100000]

Per store and size, in one run against the local RabbitMQ:

1. ``size`` daily schedules spread over an hour a few hours away are bulk-inserted into a
   fresh database (the time is reported: schedules created per second);
2. the real ``celery -A jobs beat`` starts: start-up (process start until the first tick
   with every schedule loaded), idle CPU over ``--idle-seconds``, RSS, and the edit
   visibility trials of ``benchmarks.beat`` (worst of ``--edits``);
3. a burst: ``min(size, --burst)`` more schedules due in the same second ``--burst-lead``
   seconds ahead (default: as early as the planner may start them) are imported into the
   running beat in one transaction (the bulk import's ``create_many``); lateness = arrival
   at the work queue minus the due time;
4. RabbitMQ's floors for the same number of messages, measured right after with the same
   consumer: **publish** (the messages published at the due time straight to the work queue
   as fast as one connection with pipelined publisher confirms takes them, batches of 1,000:
   what RabbitMQ itself needs to accept and deliver them; lateness = arrival minus the start
   of publishing) and **hold release** (the messages pre-published into the hold queues, as
   the beat does, released by their TTL: the floor of this mechanism).

Celery's ``PersistentScheduler`` (what a user would pick) runs its idle phase at
``--celery-sizes`` and its burst at ``--celery-burst`` (``benchmarks.beat`` phases). The
beat's peak RSS (VmHWM) covers the burst.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import secrets
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from kombu import Connection as AmqpConnection

from benchmarks import beat as bench
from benchmarks.beat_data import JOB, KWARGS, Planned, idle_plan, insert_schedules
from benchmarks.beat_floor import hold_messages, publish_held
from benchmarks.harness import migrated_database, workspace
from broker import declare as broker_declare
from broker.topology import describe
from jobs.factory import create_celery_app
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.services.schedules import ScheduleManager
from jobs.settings import BeatSettings, JobsSettings
from jobs.store import make_engine
from jobs.store.schedule_bulk import create_many
from jobs.store.schedules import ScheduleStore

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
BURST_PREFIX = "burst-"
PUBLISH_PREFIX = "publish-"

TARGET_STARTUP = 60.0
TARGET_RSS_MB = 1536.0
TARGET_IDLE_CPU = 1.0
TARGET_EDIT = 1.0
TARGET_FLOOR_RATIO = 1.2


@dataclass
class SizeResult:
    store: str
    size: int
    created_per_s: float
    idle: bench.IdleResult
    burst: bench.BurstResult
    import_s: float
    publish_floor: bench.BurstResult
    hold_floor: bench.BurstResult
    peak_rss_mb: float


def create_idle(url: str, size: int) -> float:
    """Bulk-insert ``size`` idle schedules; returns schedules written per second."""
    now = datetime.now(UTC)
    plans: list[Planned] = idle_plan(size, bench.idle_hour(now), now)
    engine = make_engine(url)
    try:
        began = time.monotonic()
        insert_schedules(engine, plans)
        return size / (time.monotonic() - began)
    finally:
        engine.dispose()


def import_burst(store: ScheduleStore, count: int, due: datetime) -> float:
    """Import ``count`` daily cron schedules due at ``due`` in one transaction; seconds taken."""
    cron = f"{due.second} {due.minute} {due.hour} * * *"
    items = [
        (
            ScheduleDefinition(
                name=f"{BURST_PREFIX}{i:07d}",
                job=JOB,
                trigger=TriggerKind.CRON,
                cron=cron,
                kwargs=dict(KWARGS),
            ),
            due,
        )
        for i in range(count)
    ]
    began = time.monotonic()
    create_many(store, items, now=datetime.now(UTC), by="benchmark", reason="burst")
    return time.monotonic() - began


def measure_size(
    store_kind: str, size: int, env: dict[str, str], tmp: Path, queue: str, args: argparse.Namespace
) -> SizeResult:
    tag = f"{store_kind}-{size}"
    with migrated_database(store_kind, tmp, tag) as url:
        created = create_idle(url, size)
        print(f"  {size:,} schedules created at {created:,.0f}/s", flush=True)
        env = {**env, "DATABASE_URL": url}
        app = create_celery_app(JobsSettings.from_env(env))
        consumer = bench.Consumer(env, args.broker_url, queue, tmp, tag)
        beat: bench.Beat | None = None
        try:
            consumer.wait_ready()
            beat = bench.start_beatkeeper(env, tmp, tag)
            idle = bench.measure_idle(beat, bench.BEATKEEPER, size, args)
            print(
                f"  start-up {idle.startup_s:.2f}s, idle CPU {idle.idle_cpu_pct:.2f}%", flush=True
            )
            manager = ScheduleManager(app)
            for index in range(args.edits):
                idle.edits.append(bench.edit_trial(manager, consumer, index, size))
            count = min(size, args.burst)
            # Time enough for the beat to start the burst when its planner wants (its
            # assumed rate before measuring is 1,000 fires/s, planned at 80 %), plus the import.
            lead = args.burst_lead or count / 800 + 30 + count / 10_000
            due = datetime.fromtimestamp(math.ceil(time.time() + lead), UTC)
            import_s = import_burst(ScheduleStore(app.store.engine), count, due)
            print(
                f"  burst of {count:,} imported in {import_s:.1f}s, due {due:%H:%M:%S}", flush=True
            )
            burst = bench.measure_burst(
                beat,
                consumer,
                bench.BEATKEEPER,
                due.timestamp(),
                count,
                args.window,
                lambda r: r.schedule.startswith(BURST_PREFIX),
                cpu_lead=lead,
            )
            beat.proc.check_alive()
            peak = beat.peak_rss_mb()
        finally:
            if beat is not None:
                beat.stop()
            consumer.stop()
            app.store.engine.dispose()
        bench.purge(args.broker_url, app.topology)
        publish = publish_floor(env, tmp, queue, count, args)
        bench.purge(args.broker_url, app.topology)
        held = bench.hold_floor(env, tmp, args.broker_url, queue, replace_schedules(args, count))
        bench.purge(args.broker_url, app.topology)
    return SizeResult(store_kind, size, created, idle, burst, import_s, publish, held, peak)


def replace_schedules(args: argparse.Namespace, count: int) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "schedules": count})


def publish_floor(
    env: dict[str, str], tmp: Path, queue: str, count: int, args: argparse.Namespace
) -> bench.BurstResult:
    """``count`` task messages published at ``due`` straight to the work queue, confirmed."""
    app = create_celery_app(JobsSettings.from_env(env))
    # The beat's messages without the hold: same body, headers and size.
    messages = [
        replace(
            m,
            exchange=app.topology.exchange.name,
            deliver_at=None,
            headers={**m.headers, "beatkeeper_schedule": f"{PUBLISH_PREFIX}{index:07d}"},
        )
        for index, m in enumerate(hold_messages(app, count, time.time()))
    ]
    due = float(math.ceil(time.time() + 2.0))
    consumer = bench.Consumer(env, args.broker_url, queue, tmp, f"publish-{count}")
    try:
        consumer.wait_ready()
        bench.sleep_until(due)
        publish_held(args.broker_url, messages)  # one connection, pipelined confirms
        published = time.time() - due
        got = bench.wait_arrivals(
            consumer, lambda r: r.schedule.startswith(PUBLISH_PREFIX), count, due + args.window
        )
    finally:
        consumer.stop()
        app.store.engine.dispose()
    label = "floor: RabbitMQ publish+deliver at due, no beat"
    result = bench.BurstResult(label, count, [r.at - due for r in got], 0, 0, 0, args.window)
    result.notes.append(f"published and confirmed in {published:.2f}s")
    return result


# -- report -------------------------------------------------------------------------------------
def pct(result: bench.BurstResult, p: float) -> str:
    return bench.fmt_s(result.pct(p), result.window_s)


def print_sizes(results: Sequence[SizeResult]) -> None:
    print(
        "| store | schedules | created/s | start-up s | RSS MB idle / peak | idle CPU % "
        "| edit visible s | burst | burst p50 / p99 s | publish floor p50 / p99 s "
        "| p99 vs floor | hold-release floor p99 s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = r.burst.pct(99) / r.publish_floor.pct(99)
        edit = r.idle.edit_visible_s
        print(
            f"| {r.store} | {r.size:,} | {r.created_per_s:,.0f} | {r.idle.startup_s:.1f} "
            f"| {r.idle.rss_mb:.0f} / {r.peak_rss_mb:.0f} | {r.idle.idle_cpu_pct:.2f} "
            f"| {bench.fmt_s(edit)} | {r.burst.fired:,}/{r.burst.expected:,} "
            f"| {pct(r.burst, 50)} / {pct(r.burst, 99)} "
            f"| {pct(r.publish_floor, 50)} / {pct(r.publish_floor, 99)} | {ratio:.2f}x "
            f"| {pct(r.hold_floor, 99)} |"
        )
    for r in results:
        notes = "; ".join(r.burst.notes + r.publish_floor.notes + r.hold_floor.notes[:1])
        print(f"  {r.store} {r.size:,}: import {r.import_s:.1f}s; {notes}")


def print_targets(results: Sequence[SizeResult]) -> None:
    print("== targets")
    for r in results:
        edit = r.idle.edit_visible_s or math.inf
        ratio = r.burst.pct(99) / r.publish_floor.pct(99)
        checks = [
            (r.idle.startup_s < TARGET_STARTUP, f"start-up {r.idle.startup_s:.1f}s < 60"),
            (r.peak_rss_mb < TARGET_RSS_MB, f"peak RSS {r.peak_rss_mb:.0f} MB < 1536"),
            (r.idle.idle_cpu_pct < TARGET_IDLE_CPU, f"idle {r.idle.idle_cpu_pct:.2f}% < 1"),
            (edit < TARGET_EDIT, f"edit {edit:.2f}s < 1"),
            (ratio <= TARGET_FLOOR_RATIO, f"burst p99 {ratio:.2f}x floor <= 1.2x"),
        ]
        line = ", ".join(f"[{bench.verdict(ok)}] {text}" for ok, text in checks)
        print(f"{r.store} {r.size:,}: {line}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731 - a tiny parser
    parser.add_argument("--sizes", type=ints, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--burst", type=int, default=100_000, help="fires due in one second")
    parser.add_argument("--burst-lead", type=float, default=0.0, help="seconds ahead (0: auto)")
    parser.add_argument("--window", type=float, default=120.0, help="seconds after due to wait")
    parser.add_argument("--celery-sizes", type=ints, default=[10_000, 100_000])
    parser.add_argument("--celery-burst", type=int, default=10_000, help="0: skip")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--edits", type=int, default=4)
    parser.add_argument("--celery-lead", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bench._raise_interrupt)
    began = time.monotonic()
    prefix = f"bk-bscale-{secrets.token_hex(4)}"
    env = bench.bench_env(prefix, "")
    # The default quota (50,000 live schedules) would refuse the edit trials at 100k and 1M.
    env["BEATKEEPER_MAX_SCHEDULES"] = str(max(args.sizes, default=0) + args.burst + 1000)
    settings = JobsSettings.from_env({**env, "DATABASE_URL": "sqlite:///unused.db"})
    args.broker_url = settings.broker.url
    topology = describe(settings.broker)
    queue = topology.work_queue(settings.default_queue).name
    print(f"command   : {shlex.join([Path(sys.executable).name, *sys.argv])}")
    bench.print_machine(args.broker_url)
    print(f"namespace : {prefix}; beat config {BeatSettings.from_env(env)!r}\n")
    results: list[SizeResult] = []
    celery_idle: list[bench.IdleResult] = []
    celery_burst: list[bench.BurstResult] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(workspace(args.keep, prefix="bk-bscale-"))
        with AmqpConnection(args.broker_url, connect_timeout=5) as conn:
            broker_declare.declare(conn, topology)
        stack.callback(
            bench.clean_up_broker, args.broker_url, settings.broker.management_api, topology
        )
        for store in [s for s in args.stores.split(",") if s]:
            for size in args.sizes:
                bench.phase(f"{bench.BEATKEEPER} on {store}, {size:,} schedules", began)
                results.append(measure_size(store, size, env, tmp, queue, args))
        for size in args.celery_sizes:
            bench.phase(f"idle: {bench.CELERY}, {size:,} entries", began)
            celery_idle.append(bench.celery_idle(env, tmp, replace_idle(args, size)))
        if args.celery_burst:
            bench.phase(f"burst: {bench.CELERY}, {args.celery_burst:,} due at a minute", began)
            burst_args = replace_schedules(args, args.celery_burst)
            celery_burst.append(bench.celery_burst(env, tmp, args.broker_url, queue, burst_args))
            bench.purge(args.broker_url, topology)
    print(f"\n== {bench.BEATKEEPER} by size (burst: min(size, {args.burst:,}) due in one second)")
    print_sizes(results)
    print(f"\n== {bench.CELERY}, same run")
    bench.print_idle(celery_idle)
    if celery_burst:
        bench.print_burst(celery_burst)
    print()
    print_targets(results)
    print(f"\nfinished in {time.monotonic() - began:.0f}s")
    return 0


def replace_idle(args: argparse.Namespace, size: int) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "idle_schedules": size})


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
