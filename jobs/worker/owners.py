"""Owner liveness: a delivery never runs a run that a live process is still running.

When a broker connection drops, Celery keeps a running late-ack task going (its ack is lost
with the channel) while RabbitMQ redelivers the message, possibly to another worker. The
redelivery finds the run STARTED; before this rule it took the attempt for a lost one and
ran the job a second time. Now:

- the run is CANCELLED, SUCCESS or SKIPPED, or a newer attempt exists: **skip** (ack, don't
  run). A redelivery whose attempt already ended in RETRY runs: its retry message should
  carry the run on, but the full chaos run left hundreds of runs in RETRY when such
  redeliveries were skipped, so the retry is not trusted to arrive (at least once);
- an attempt is still open and its owner is alive: **wait** until it ends or its owner dies;
- otherwise **run** (an open attempt of a dead owner is closed ``WORKER_LOST`` by the start).

An owner is named ``host/pid/start-ticks``. On the same host its liveness is read from
``/proc`` (exact, immediate: a killed pool process is taken over at once); on another host
from its heartbeat row, alive while beaten within :data:`LAPSE` seconds. Hosts are told
apart by their host name, so two machines must not share one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from jobs.store.attempts import NOT_RUNNABLE, AttemptKey
from jobs.store.owners import SeenAttempt, StartView

# A process beats every HEARTBEAT seconds; one not beaten for LAPSE seconds is dead.
HEARTBEAT = 2.0
LAPSE = 15.0


class Verdict(StrEnum):
    RUN = "run"
    SKIP = "skip"
    WAIT = "wait"


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks (``/proc/PID/stat`` field 22); None if it
    is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def this_process() -> str:
    """This process's owner name (a fork gets its own)."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid) or 0}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (and is not a zombie)."""
    return _start_ticks(pid) is not None


def alive(attempt: SeenAttempt, now: datetime, host: str | None = None) -> bool:
    """Whether the process that owns ``attempt`` is still alive."""
    if attempt.owner is None:
        return False  # written before owners were recorded: treated as before (lost)
    parts = attempt.owner.rsplit("/", 2)
    if len(parts) == 3 and parts[0] == (host or socket.gethostname()):
        pid, ticks = parts[1], parts[2]
        return pid.isdigit() and _start_ticks(int(pid)) == ticks
    return attempt.beat_at is not None and now - attempt.beat_at < timedelta(seconds=LAPSE)


def decide(
    view: StartView, key: AttemptKey, me: str, is_alive: Callable[[SeenAttempt], bool]
) -> Verdict:
    """Run, skip or wait: the rules in this module's docstring, as a pure function."""
    if view.state in NOT_RUNNABLE:
        return Verdict.SKIP
    for attempt in view.attempts:
        if attempt.key > key:
            return Verdict.SKIP  # a newer attempt owns the run
    for attempt in view.attempts:
        if not attempt.finished and attempt.owner != me and is_alive(attempt):
            return Verdict.WAIT
    return Verdict.RUN
