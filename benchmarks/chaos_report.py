"""The chaos benchmark's output: the machine it ran on and the table per fault."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from sqlalchemy import text

from benchmarks.chaos_count import Row
from benchmarks.chaos_stack import Stack
from jobs.store.db import make_engine


def machine(stack: Stack) -> str:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")), platform.processor(),
    )  # fmt: skip
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines())
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        pg = str(conn.execute(text("SHOW server_version")).scalar())
    engine.dispose()
    rabbit = stack.nodes[0].ctl("version").strip()
    return (
        f"{cpu}, {os.cpu_count()} cores, {int(mem) // 1024} MiB RAM, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, RabbitMQ {rabbit}, "
        f"PostgreSQL {pg}"
    )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def print_table(rows: list[Row]) -> None:
    print(
        "| fault | injected | attempted | acknowledged | completed | retried | dead-lettered "
        "| lost | run twice | stuck | max lateness | takeover |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.fault} | {r.injected} | {r.attempted} | {r.acknowledged} | {r.completed} "
            f"| {r.retried} | {r.dead_lettered} | {r.lost} | {r.run_twice} | {r.stuck} "
            f"| {fmt(r.max_lateness)} | {fmt(r.takeover)} |"
        )
    for r in rows:
        for note in r.notes[:8]:
            print(f"- {r.fault}: {note}")
