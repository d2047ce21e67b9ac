"""Who used the CPU during a measured window: the beat, RabbitMQ, the consumer, and others.

The machine is shared (2 cores here), so every burst also reports how busy the rest of
the machine was; numbers taken while "others" is high are disturbed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from enqueue import host_cpu, pid_cpu, quiet_check

QUIET_PCT = 25.0  # background CPU (% of one core) above which the machine counts as busy


@dataclass(frozen=True)
class Snapshot:
    wall: float
    busy: float
    total: float
    pids: dict[str, float]


@dataclass(frozen=True)
class Usage:
    """% of one core per named process over the window, and what the rest used."""

    seconds: float
    by_name: dict[str, float]
    others: float

    def describe(self) -> str:
        named = ", ".join(f"{name} {pct:.0f}%" for name, pct in self.by_name.items())
        return (
            f"CPU % of a core over {self.seconds:.1f}s: {named}, other processes {self.others:.0f}%"
        )


def snapshot(pids: dict[str, int | None]) -> Snapshot:
    busy, total = host_cpu()
    cpu = {name: pid_cpu(pid) for name, pid in pids.items()}
    cpu["bench"] = time.process_time()
    return Snapshot(time.monotonic(), busy, total, cpu)


def usage(before: Snapshot, after: Snapshot) -> Usage:
    seconds = max(1e-6, after.wall - before.wall)
    cores = os.cpu_count() or 1
    host = (after.busy - before.busy) / max(1.0, after.total - before.total) * 100 * cores
    by_name = {name: (after.pids[name] - before.pids[name]) / seconds * 100 for name in before.pids}
    known = sum(v for v in by_name.values() if v == v)  # skip nan (process gone)
    return Usage(seconds, by_name, max(0.0, host - known))


def wait_quiet(max_wait: float) -> float:
    """Wait up to ``max_wait`` s for other processes to calm down; returns their last % use."""
    deadline = time.monotonic() + max_wait
    background = quiet_check()
    while background > QUIET_PCT and time.monotonic() < deadline:
        background = quiet_check()
    return background
