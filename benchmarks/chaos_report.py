"""The chaos benchmark's output: the machine it ran on and the table per fault."""

from __future__ import annotations

import os
import platform

from sqlalchemy import text

from benchmarks.chaos_count import Row
from benchmarks.chaos_stack import Stack
from benchmarks.harness import cpu_model, git_state, memory_gib, versions
from jobs.store.db import make_engine


def machine(stack: Stack) -> str:
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        pg = str(conn.execute(text("SHOW server_version")).scalar())
    engine.dispose()
    rabbit = stack.nodes[0].ctl("version").strip()
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"{versions('celery', 'kombu')}, RabbitMQ {rabbit}, PostgreSQL {pg}; "
        f"Beatkeeper at {git_state()}"
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
        for note in r.notes[:12]:
            print(f"- {r.fault}: {note}")
        if len(r.notes) > 12:
            print(f"- {r.fault}: ... {len(r.notes) - 12} more notes")
