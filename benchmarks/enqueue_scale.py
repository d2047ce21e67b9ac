"""Enqueue throughput with 1 and 2 web processes, on SQLite and on PostgreSQL, in one run.

    .venv/bin/python -m benchmarks.enqueue_scale                  # c=16 and c=64
    .venv/bin/python -m benchmarks.enqueue_scale --processes 1,2,3 --stores postgresql

For each store it migrates a fresh database (a SQLite file in a temporary folder, or a new
PostgreSQL database that is dropped at the end), then for each number of web processes
starts ``uvicorn --workers N`` (the way ``beatkeeper up`` and compose run
``BEATKEEPER_WEB_WORKERS``) and drives ``POST /api/jobs/runs_report/runs`` with the same
asyncio keep-alive client as ``benchmarks.enqueue`` at each concurrency. The client is one
Python process on the same machine: it shares the cores with the web processes, RabbitMQ
and PostgreSQL, and the table says how much of a core each of them used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Sequence

import psutil
from kombu import Connection as AmqpConnection

from benchmarks._http import percentile
from benchmarks.enqueue import (
    BEATKEEPER_BODY,
    BEATKEEPER_PATH,
    Bench,
    Row,
    Target,
    _loop_factory,
    delete_topology,
    make_bench,
    measure,
    print_machine,
    purge,
    start_web,
    wait_http,
)
from benchmarks.harness import free_port, migrated_database, workspace
from broker import declare as broker_declare

POSTGRES = os.environ.get("BEATKEEPER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
TARGET_SPEEDUP = 1.5  # PostgreSQL, 2 web processes against 1


def postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL server process on the machine."""
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


@dataclasses.dataclass
class ScaleRow:
    store: str
    processes: int
    row: Row
    postgres: float  # % of one core


def run_store(
    runner: asyncio.Runner, bench: Bench, store: str, url: str, args: argparse.Namespace
) -> list[ScaleRow]:
    """Start one server per process count, then measure them in turns, ``--repeat`` times:
    the machine is shared, and alternating short rows spreads its noise over every server."""
    env = {**bench.env, "DATABASE_URL": url}
    bench = dataclasses.replace(bench, env=env, database_url=url)
    targets: list[tuple[int, Target]] = []
    rows: list[ScaleRow] = []
    with contextlib.ExitStack() as stack:
        for processes in args.processes:
            port = free_port()
            options = {**vars(args), "uvicorn_args": f"--workers {processes}"}
            run = dataclasses.replace(bench, args=argparse.Namespace(**options))
            web = start_web(stack, run, port)
            runner.run(wait_http(web, port, "/api/health", ok={200}, timeout=60))
            label = f"{store}, {processes} web"
            target = Target(
                label, port, BEATKEEPER_PATH, BEATKEEPER_BODY, web.pid, bench.work_queue
            )
            targets.append((processes, target))
        for _ in range(args.repeat):
            for level in args.concurrency:
                for processes, target in targets:
                    pg_before, started = postgres_cpu(), time.monotonic()
                    row, _ = measure(runner, target, level, args.warmup, args.seconds)
                    pg = (postgres_cpu() - pg_before) / (time.monotonic() - started) * 100
                    rows.append(ScaleRow(store, processes, row, pg if store != "sqlite" else 0.0))
                    purge(bench.broker_url, bench.work_queue)
                    print(
                        f"  {target.label}, c={level}: {row.result.throughput:,.0f} req/s",
                        flush=True,
                    )
    return rows


def best(rows: list[ScaleRow]) -> list[ScaleRow]:
    """Per store, process count and concurrency, the repetition with the median rate."""
    groups: dict[tuple[str, int, int], list[ScaleRow]] = {}
    for r in rows:
        groups.setdefault((r.store, r.processes, r.row.result.concurrency), []).append(r)
    chosen = []
    for group in groups.values():
        ordered = sorted(group, key=lambda r: r.row.result.throughput)
        chosen.append(ordered[len(ordered) // 2])
    return chosen


def table(rows: list[ScaleRow]) -> str:
    one = {
        (r.store, r.row.result.concurrency): r.row.result.throughput
        for r in rows
        if r.processes == 1
    }
    lines = [
        "| store | web processes | concurrency | enqueues/s | vs 1 process | p50 ms | p99 ms "
        "| errors | CPU % web | RabbitMQ | PostgreSQL | client | other | web CPU ms/enqueue |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        res, cpu = r.row.result, r.row.cpu
        base = one.get((r.store, res.concurrency))
        ratio = f"{res.throughput / base:.2f}x" if base else "-"
        other = max(0.0, cpu.other - r.postgres)
        p50, p99 = (percentile(res.latencies, q) * 1000 for q in (50, 99))
        per_enqueue = cpu.server * 10 / max(res.throughput, 1e-9)  # % of a core -> ms per s
        lines.append(
            f"| {r.store} | {r.processes} | {res.concurrency} | {res.throughput:,.0f} | {ratio} "
            f"| {p50:.1f} | {p99:.1f} "
            f"| {res.errors} | {cpu.server:.0f} | {cpu.rabbitmq:.0f} | {r.postgres:.0f} "
            f"| {cpu.client:.0f} | {other:.0f} | {per_enqueue:.2f} |"
        )  # fmt: skip
    return "\n".join(lines)


def verdicts(rows: list[ScaleRow]) -> list[str]:
    out = []
    by = {(r.store, r.processes, r.row.result.concurrency): r.row.result.throughput for r in rows}
    for (store, processes, level), rate in sorted(by.items()):
        if store == "postgresql" and processes == 2 and (store, 1, level) in by:
            speedup = rate / max(1e-9, by[(store, 1, level)])
            verdict = "MET" if speedup >= TARGET_SPEEDUP else "MISSED"
            out.append(
                f"[{verdict}] PostgreSQL, 2 web processes >= {TARGET_SPEEDUP}x one at c={level}: "
                f"{speedup:.2f}x"
            )
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--processes", default="1,2", help="web processes per row group")
    parser.add_argument("--concurrency", default="16,64")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per row")
    parser.add_argument("--repeat", type=int, default=3, help="turns over every server")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--wait-quiet", type=float, default=20.0)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    args.processes = [int(p) for p in args.processes.split(",")]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    # What benchmarks.enqueue's start_web reads.
    args.factory, args.plain_uvicorn, args.uvicorn_args = "webapp.asgi:create_app", False, ""
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[ScaleRow] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(workspace(args.keep_logs, prefix="bk-scale-"))
        bench = make_bench(args, tmp)
        print_machine(bench)
        stack.callback(delete_topology, bench.broker_url, bench.topology)
        with AmqpConnection(bench.broker_url, connect_timeout=5) as conn:
            broker_declare.declare(conn, bench.topology)
        runner = stack.enter_context(asyncio.Runner(loop_factory=_loop_factory()))
        print(
            f"== POST {BEATKEEPER_PATH}, closed loop, {args.warmup:g} s warm-up + "
            f"{args.seconds:g} s per row; one asyncio client process on the same "
            f"{os.cpu_count()} cores"
        )
        for store in args.stores.split(","):
            with migrated_database(store, tmp, "scale") as url:
                rows += run_store(runner, bench, store, url, args)
    rows = best(rows)
    print()
    print(table(rows))
    print(
        f"median of {args.repeat} turns; CPU % = % of one core over the measured seconds (web = "
        "every uvicorn process, client = this load generator, other = the rest of the machine)"
    )
    for line in verdicts(rows):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
