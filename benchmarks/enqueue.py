"""Enqueue throughput and enqueue-to-start latency: Beatkeeper vs the naive Flask way.

One command, against the local RabbitMQ::

    .venv/bin/python -m benchmarks.enqueue

It works in its own namespace (a random ``BEATKEEPER_QUEUE_PREFIX`` and a SQLite file in
a temporary folder), starts Beatkeeper's ASGI app under uvicorn and the naive Flask app
under Werkzeug's threaded dev server, drives both with a small asyncio keep-alive client
at each concurrency, then starts a real Celery worker and measures how long an enqueued
run takes to start at idle. Everything it started or declared is stopped and deleted at
the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from kombu import Connection as AmqpConnection
from sqlalchemy import delete, func, select

from benchmarks._http import Connection, LoadResult, build_request, percentile, run_load
from benchmarks.harness import (
    HOST,
    QUIET_PCT,
    Process,
    Usage,
    cpu_model,
    free_port,
    git_state,
    quiet_check,
    rabbitmq_pid,
    rabbitmq_version,
    snapshot,
    usage,
    versions,
    workspace,
)
from broker import declare as broker_declare
from broker.topology import Topology, describe
from jobs.settings import JobsSettings
from jobs.store import RunStore, make_engine
from jobs.store.migrate import upgrade
from jobs.store.tables import run_attempts, runs

JOB = "runs_report"
BEATKEEPER_PATH = f"/api/jobs/{JOB}/runs"
BEATKEEPER_BODY = json.dumps({"kwargs": {"hours": 1}}).encode()
NAIVE_PATH = "/enqueue"
NAIVE_BODY = json.dumps({"hours": 1}).encode()

TARGET_RPS = 1500.0
TARGET_P99_MS = 25.0
TARGET_SPEEDUP = 2.0
TARGET_START_P99_MS = 20.0


async def wait_http(
    proc: Process, port: int, path: str, *, ok: set[int], timeout: float = 30.0
) -> None:
    """Poll ``GET path`` until it answers with a status in ``ok``."""
    payload = build_request("GET", HOST, port, path)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        proc.check_alive()
        try:
            async with Connection(HOST, port, timeout=5) as conn:
                status, body = await conn.request(payload)
            if status in ok:
                return
            last = f"HTTP {status}: {body[:200]!r}"
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after {timeout:.0f}s ({last}):\n{proc.tail()}")


# -- broker and store helpers ------------------------------------------------------------
def purge(broker_url: str, queue: str) -> int:
    """Drop every ready message of ``queue``; returns how many there were."""
    with AmqpConnection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        return int(channel.queue_purge(queue) or 0)


def consumers(broker_url: str, queue: str) -> int:
    with AmqpConnection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        return int(channel.queue_declare(queue=queue, passive=True).consumer_count)


def delete_naive(broker_url: str, queue: str) -> None:
    with AmqpConnection(broker_url, connect_timeout=5) as conn, conn.channel() as channel:
        channel.queue_delete(queue=queue)
        channel.exchange_delete(exchange=queue)


def delete_topology(broker_url: str, topology: Topology) -> None:
    with AmqpConnection(broker_url, connect_timeout=5) as conn:
        broker_declare.delete(conn, topology)


def count_runs(store: RunStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(runs)).scalar() or 0)


def clear_runs(store: RunStore) -> None:
    """Forget the runs of the throughput phases (their messages were purged)."""
    with store.engine.begin() as conn:
        conn.execute(delete(run_attempts))
        conn.execute(delete(runs))


# -- phases -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CpuUse:
    """CPU used during a phase, in % of one core (the host has ``os.cpu_count()`` cores).

    ``other`` is what the rest of the machine used: neither the server, this client nor
    RabbitMQ. Anything well above zero means the numbers are disturbed by a neighbour.
    """

    server: float
    client: float
    rabbitmq: float
    other: float

    @classmethod
    def of(cls, used: Usage) -> CpuUse:
        by = used.by_name
        return cls(by["server"], by["bench"], by["rabbitmq"], used.others)


@dataclass
class Row:
    implementation: str
    result: LoadResult
    cpu: CpuUse


@dataclass(frozen=True)
class Target:
    label: str
    port: int
    path: str
    body: bytes
    pid: int
    queue: str


def print_throughput(rows: list[Row]) -> None:
    header = (
        f"{'implementation':<34} {'conc':>4} {'requests':>8} {'req/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'errors':>6}  | CPU%: {'srv':>4} {'rmq':>4} "
        f"{'client':>6} {'other':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        r = row.result
        print(
            f"{row.implementation:<34} {r.concurrency:>4} {r.requests:>8} {r.throughput:>9.1f} "
            f"{percentile(r.latencies, 50) * 1000:>8.2f} "
            f"{percentile(r.latencies, 99) * 1000:>8.2f} {r.errors:>6}  |       "
            f"{row.cpu.server:>4.0f} {row.cpu.rabbitmq:>4.0f} {row.cpu.client:>6.0f} "
            f"{max(0.0, row.cpu.other):>5.0f}"
        )
    for row in rows:
        if row.result.first_error:
            print(
                f"  first error, {row.implementation} c={row.result.concurrency}: "
                f"{row.result.first_error}"
            )


def measure(
    runner: asyncio.Runner, target: Target, concurrency: int, warmup: float, seconds: float
) -> tuple[Row, int]:
    """Warm up, then measure one row; also returns how many warm-up requests were accepted."""
    payload = build_request("POST", HOST, target.port, target.path, target.body)
    warmed = 0
    if warmup > 0:
        warm = runner.run(
            run_load(HOST, target.port, payload, concurrency=concurrency, seconds=warmup)
        )
        warmed = len(warm.latencies)
    # The server runs in its own session: its process group is the server and its workers.
    named, groups = {"rabbitmq": rabbitmq_pid()}, {"server": target.pid}
    before = snapshot(named, groups)
    result = runner.run(
        run_load(HOST, target.port, payload, concurrency=concurrency, seconds=seconds)
    )
    return Row(target.label, result, CpuUse.of(usage(before, snapshot(named, groups)))), warmed


@dataclass
class Sent:
    run_id: str
    sent_at: float  # time.time() just before the request was written
    response_s: float


async def enqueue_one_by_one(port: int, count: int, pause: float) -> tuple[list[Sent], int]:
    """POST ``count`` enqueues on one connection, ``pause`` apart; returns them and errors."""
    payload = build_request("POST", HOST, port, BEATKEEPER_PATH, BEATKEEPER_BODY)
    sent: list[Sent] = []
    errors = 0
    async with Connection(HOST, port) as conn:
        for _ in range(count):
            sent_at = time.time()
            started = time.perf_counter()
            status, body = await conn.request(payload)
            elapsed = time.perf_counter() - started
            if status == 202:
                sent.append(Sent(json.loads(body)["id"], sent_at, elapsed))
            else:
                errors += 1
            await asyncio.sleep(pause)
    return sent, errors


def started_times(store: RunStore, ids: list[str], timeout: float) -> dict[str, datetime | None]:
    """Each run's ``started_at``, waiting up to ``timeout`` for the worker to start them all."""
    found: dict[str, datetime | None] = dict.fromkeys(ids)
    deadline = time.monotonic() + timeout
    while True:
        for run_id in [i for i, at in found.items() if at is None]:
            record = store.get(run_id, with_history=False)
            if record is not None and record.started_at is not None:
                found[run_id] = record.started_at
        if all(found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


# -- profile ----------------------------------------------------------------------------
def _frame_key(frame: str) -> str:
    """``func (path/file.py:123)`` -> ``func (file.py)``: one entry per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return f"{name} ({'/'.join(parts[-2:])})" if parts else name


def summarize_profile(raw: Path, top: int = 15) -> None:
    """Print the hottest functions of a py-spy ``--format raw --threads`` profile."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    threads: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames and frames[0].startswith(("thread ", "process ")):
            threads[frames[0]] = threads.get(frames[0], 0) + count
            frames = frames[1:]
        if not frames:
            continue
        total += count
        own[_frame_key(frames[-1])] = own.get(_frame_key(frames[-1]), 0) + count
        for key in {_frame_key(f) for f in frames}:
            inclusive[key] = inclusive.get(key, 0) + count
    if not total:
        print("  (no samples)")
        return
    print(f"  {total} samples on CPU; by thread:")
    for name, count in sorted(threads.items(), key=lambda kv: -kv[1]):
        print(f"    {count / total * 100:5.1f}%  {name}")
    for title, table in (("self", own), ("inclusive", inclusive)):
        print(f"  top {top} functions by {title} samples:")
        for key, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {count / total * 100:5.1f}%  {key}")


def profile_server(
    runner: asyncio.Runner,
    target: Target,
    concurrency: int,
    seconds: float,
    out: Path,
    env: dict[str, str],
) -> None:
    """Record the server with py-spy under load (an extra, unmeasured phase)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("py-spy not found: .venv/bin/pip install py-spy")
        return
    spy = Process(
        "py-spy",
        [
            exe,
            "record",
            "--pid",
            str(target.pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "--duration",
            str(round(seconds)),
            "--output",
            str(out),
        ],
        env,
        out.with_suffix(".log"),
    )
    try:
        time.sleep(0.5)  # let py-spy attach
        payload = build_request("POST", HOST, target.port, target.path, target.body)
        result = runner.run(
            run_load(HOST, target.port, payload, concurrency=concurrency, seconds=seconds)
        )
        spy.popen.wait(timeout=seconds + 30)
    finally:
        spy.stop()
    print(
        f"== py-spy profile of {target.label} at c={concurrency} "
        f"({result.throughput:.0f} req/s while sampled): {out}"
    )
    if out.exists():
        summarize_profile(out)
    else:
        print(spy.tail())


# -- main -------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase")
    parser.add_argument(
        "--concurrency", default="1,16", help="comma-separated concurrencies (default 1,16)"
    )
    parser.add_argument("--idle-requests", type=int, default=200)
    parser.add_argument("--idle-pause-ms", type=float, default=20.0)
    parser.add_argument(
        "--idle-warmup", type=int, default=10, help="uncounted enqueues before the idle phase"
    )
    parser.add_argument(
        "--plain-uvicorn",
        action="store_true",
        help="start uvicorn without --loop uvloop --http httptools",
    )
    parser.add_argument(
        "--factory",
        default="webapp.asgi:create_app",
        help="the ASGI app factory uvicorn serves (to A/B a patched app)",
    )
    parser.add_argument(
        "--uvicorn-args",
        default="",
        help='extra uvicorn arguments, e.g. "--workers 2" or "--app-dir /tmp/patch"',
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="wait up to this long for other processes to go quiet before starting",
    )
    parser.add_argument(
        "--skip-naive", action="store_true", help="measure Beatkeeper only (quick A/B runs)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp folder")
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        type=Path,
        help="after the throughput rows, profile Beatkeeper under load into FILE (raw stacks)",
    )
    return parser.parse_args(argv)


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM does what Ctrl-C does: inside ``Runner.run`` its handler cancels the load."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):  # default_int_handler raises; Runner's cancels, then run() raises
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt(f"signal {signum}")  # SIGINT ignored (a background job)


@dataclass(frozen=True)
class Bench:
    """Where this run lives: its namespace, environment, broker and store."""

    args: argparse.Namespace
    prefix: str
    tmp: Path
    env: dict[str, str]
    broker_url: str
    topology: Topology
    work_queue: str
    naive_queue: str
    database_url: str


def make_bench(args: argparse.Namespace, tmp: Path) -> Bench:
    prefix = f"bk-bench-{secrets.token_hex(4)}"
    database_url = f"sqlite:///{tmp}/bench.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "CELERY_"))}
    env.update(BEATKEEPER_QUEUE_PREFIX=prefix, DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    env.update(BEATKEEPER_RATE_LIMIT_ENQUEUE="off")  # one client measures throughput
    settings = JobsSettings.from_env(env)
    naive_queue = f"{prefix}.naive"
    env.update(BENCH_BROKER_URL=settings.broker.url, BENCH_NAIVE_QUEUE=naive_queue)
    topology = describe(settings.broker)
    return Bench(
        args=args,
        prefix=prefix,
        tmp=tmp,
        env=env,
        broker_url=settings.broker.url,
        topology=topology,
        work_queue=topology.work_queue(settings.default_queue).name,
        naive_queue=naive_queue,
        database_url=database_url,
    )


def print_machine(bench: Bench) -> None:
    print("== machine")
    print(f"cpu        : {os.cpu_count()} cores, {cpu_model()}")
    print(f"python     : {platform.python_version()} ({platform.python_implementation()})")
    print(f"rabbitmq   : {rabbitmq_version(bench.broker_url)}")
    print(f"packages   : {versions('uvicorn', 'uvloop', 'httptools', 'fastapi')}")
    print(f"             {versions('celery', 'kombu', 'amqp', 'flask', 'werkzeug')}")
    print(f"code       : git {git_state()}")
    print(f"load avg   : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    started = time.monotonic()
    background = quiet_check()
    while background > QUIET_PCT and time.monotonic() - started < bench.args.wait_quiet:
        background = quiet_check()
    waited = time.monotonic() - started
    note = f" (waited {waited:.0f}s for quiet)" if waited > 1.5 else ""
    print(f"background : {background:.0f}% of one core busy in the last second{note}")
    if background > QUIET_PCT:
        print("             WARNING: the machine is not idle; expect disturbed numbers")
    print(f"namespace  : {bench.prefix} (db {bench.database_url})")
    print()


def start_web(stack: contextlib.ExitStack, bench: Bench, port: int) -> Process:
    argv = [sys.executable, "-m", "uvicorn", "--factory", bench.args.factory]
    argv += ["--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning"]
    if not bench.args.plain_uvicorn:
        argv += ["--loop", "uvloop", "--http", "httptools"]
    argv += shlex.split(bench.args.uvicorn_args)
    web = Process("uvicorn", argv, bench.env, bench.tmp / "uvicorn.log")
    stack.callback(web.stop)
    return web


def start_naive(stack: contextlib.ExitStack, bench: Bench, port: int) -> Process:
    """``flask run``: Werkzeug's dev server, threaded, no reloader, request log on."""
    argv = [sys.executable, "-m", "flask", "--app", "benchmarks.naive_flask", "run"]
    argv += ["--host", HOST, "--port", str(port)]
    naive = Process("flask run", argv, bench.env, bench.tmp / "flask.log")
    stack.callback(naive.stop)
    return naive


def start_worker(stack: contextlib.ExitStack, bench: Bench) -> Process:
    """A real Celery worker on the bench namespace; returns once it consumes."""
    argv = [sys.executable, "-m", "celery", "-A", "jobs", "worker", "--loglevel", "WARNING"]
    argv += ["-c", "2", "-n", f"{bench.prefix}@%h"]
    worker = Process("celery worker", argv, bench.env, bench.tmp / "worker.log")
    stack.callback(worker.stop)
    deadline = time.monotonic() + 60
    while consumers(bench.broker_url, bench.work_queue) < 1:
        worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker not consuming after 60s:\n{worker.tail()}")
        time.sleep(0.2)
    return worker


def throughput_phase(
    runner: asyncio.Runner, bench: Bench, targets: list[Target], store: RunStore
) -> list[Row]:
    args = bench.args
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    print(
        f"== enqueue throughput: POST, closed loop, {args.warmup:g}s warm-up + "
        f"{args.seconds:g}s measured per row; asyncio keep-alive client"
    )
    rows: list[Row] = []
    accepted = dict.fromkeys((t.label for t in targets), 0)
    published = dict.fromkeys((t.label for t in targets), 0)
    for level in levels:
        for target in targets:
            row, warmed = measure(runner, target, level, args.warmup, args.seconds)
            rows.append(row)
            accepted[target.label] += warmed + len(row.result.latencies)
            published[target.label] += purge(bench.broker_url, target.queue)
    print_throughput(rows)
    print(
        f"CPU% = % of one core ({os.cpu_count()} cores) over the measured seconds: srv = the "
        "server's processes, rmq = RabbitMQ, client = this load generator, other = the rest "
        "of the machine (noise)"
    )
    counts = "; ".join(
        f"{label.split()[0]} accepted {accepted[label]}, published {published[label]}"
        for label in accepted
    )
    print(f"check (warm-ups included): {counts}; beatkeeper runs stored {count_runs(store)}")
    return rows


@dataclass
class IdleResult:
    response: list[float]  # seconds from send to the 202
    to_start: list[float]  # seconds from send to the run's started_at
    errors: int
    missing: int


def idle_phase(
    stack: contextlib.ExitStack, runner: asyncio.Runner, bench: Bench, port: int, store: RunStore
) -> IdleResult:
    args = bench.args
    print(
        f"== enqueue-to-start latency at idle: {args.idle_requests} enqueues one at a time, "
        f"{args.idle_pause_ms:g} ms apart; celery worker -c 2 (prefork)"
    )
    # The same paced enqueues without a consumer first: what the API costs on its own.
    alone, _ = runner.run(enqueue_one_by_one(port, args.idle_requests, args.idle_pause_ms / 1000))
    purge(bench.broker_url, bench.work_queue)
    clear_runs(store)
    start_worker(stack, bench)
    if args.idle_warmup:
        warm, _ = runner.run(enqueue_one_by_one(port, args.idle_warmup, 0.05))
        started_times(store, [s.run_id for s in warm], timeout=30)
    sent, errors = runner.run(
        enqueue_one_by_one(port, args.idle_requests, args.idle_pause_ms / 1000)
    )
    starts = started_times(store, [s.run_id for s in sent], timeout=30)
    result = IdleResult(
        response=[s.response_s for s in sent],
        to_start=[
            at.timestamp() - s.sent_at for s in sent if (at := starts.get(s.run_id)) is not None
        ],
        errors=errors,
        missing=sum(1 for at in starts.values() if at is None),
    )
    print(f"{'measure':<34} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print("-" * 66)
    for label, values in (
        ("API response (202), no worker", [s.response_s for s in alone]),
        ("API response (202), worker running", result.response),
        ("enqueue -> started_at", result.to_start),
    ):
        print(
            f"{label:<34} {len(values):>5} {percentile(values, 50) * 1000:>8.2f} "
            f"{percentile(values, 99) * 1000:>8.2f} "
            f"{max(values, default=float('nan')) * 1000:>8.2f}"
        )
    if result.errors or result.missing:
        print(f"  {result.errors} enqueue errors, {result.missing} runs not started within 30s")
    return result


def print_targets(rows: list[Row], idle: IdleResult | None) -> None:
    print("== targets")
    top = max(r.result.concurrency for r in rows)
    at_top = {r.implementation.split()[0]: r.result for r in rows if r.result.concurrency == top}
    bk, naive = at_top.get("beatkeeper"), at_top.get("naive")
    if bk is not None:
        p99 = percentile(bk.latencies, 99) * 1000
        print(
            f"[{verdict(bk.throughput >= TARGET_RPS)}] >= {TARGET_RPS:,.0f} enqueues/s at "
            f"c={top}: {bk.throughput:,.0f}"
        )
        print(f"[{verdict(p99 < TARGET_P99_MS)}] p99 < {TARGET_P99_MS:g} ms at c={top}: {p99:.2f}")
    if bk is not None and naive is not None and naive.throughput:
        speedup = bk.throughput / naive.throughput
        print(
            f"[{verdict(speedup >= TARGET_SPEEDUP)}] >= {TARGET_SPEEDUP:g}x the naive way at "
            f"c={top}: {speedup:.2f}x ({bk.throughput:.0f} vs {naive.throughput:.0f} req/s)"
        )
    if idle is not None:
        p99 = percentile(idle.to_start, 99) * 1000
        ok = p99 < TARGET_START_P99_MS and not idle.missing and not idle.errors
        print(f"[{verdict(ok)}] enqueue-to-start p99 < {TARGET_START_P99_MS:g} ms: {p99:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    began = time.monotonic()
    # Clean-ups run in reverse: processes stop first, then the broker objects and the
    # store go, then the temporary folder.
    with contextlib.ExitStack() as stack:
        bench = make_bench(args, stack.enter_context(workspace(args.keep_logs)))
        print_machine(bench)

        upgrade(bench.database_url)
        store = RunStore(make_engine(bench.database_url))
        stack.callback(store.engine.dispose)
        stack.callback(delete_topology, bench.broker_url, bench.topology)
        with AmqpConnection(bench.broker_url, connect_timeout=5) as conn:
            broker_declare.declare(conn, bench.topology)
        stack.callback(delete_naive, bench.broker_url, bench.naive_queue)

        web_port, naive_port = free_port(), free_port()
        web = start_web(stack, bench, web_port)
        naive = None if args.skip_naive else start_naive(stack, bench, naive_port)
        runner = stack.enter_context(asyncio.Runner(loop_factory=_loop_factory()))
        runner.run(wait_http(web, web_port, "/api/health", ok={200}))
        targets = [
            Target(
                "beatkeeper (uvicorn)",
                web_port,
                BEATKEEPER_PATH,
                BEATKEEPER_BODY,
                web.pid,
                bench.work_queue,
            )
        ]
        if naive is not None:
            runner.run(wait_http(naive, naive_port, NAIVE_PATH, ok={405}))
            targets.append(
                Target(
                    "naive flask (werkzeug dev)",
                    naive_port,
                    NAIVE_PATH,
                    NAIVE_BODY,
                    naive.pid,
                    bench.naive_queue,
                )
            )

        rows = throughput_phase(runner, bench, targets, store)
        if args.py_spy:
            print()
            top = max(r.result.concurrency for r in rows)
            profile_server(runner, targets[0], top, args.seconds, args.py_spy.resolve(), bench.env)
            purge(bench.broker_url, bench.work_queue)
        idle = None
        if args.idle_requests > 0:
            print()
            idle = idle_phase(stack, runner, bench, web_port, store)
        print()
        print_targets(rows, idle)
        print(f"\nfinished in {time.monotonic() - began:.0f}s; cleaning up")
    return 0


def _loop_factory() -> Any:
    """uvloop for the client when available: fewer CPU cycles per request."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
