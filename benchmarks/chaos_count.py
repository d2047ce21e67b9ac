"""Jepsen-style counting for ``benchmarks/chaos.py``, from three independent sources:

- the jobs' own log (``benchmarks/chaos_jobs.py``): which run ids started and completed, how often;
- RabbitMQ: what sits in each dead-letter queue (drained and read by message id) and how many
  messages are left in work and hold queues after the drain window;
- the run store: the state of every acknowledged run.

Per fault: attempted (requests or expected fires), acknowledged (202 or a recorded fire),
completed (a ``done`` line), retried (started more than once: a retry or a redelivery),
dead-lettered (found in a DLQ), stuck (neither, but still in a queue or in a non-final run
state), lost (acknowledged and none of these), run twice (more than one ``done`` line).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import amqp
from kombu.utils.url import parse_url
from sqlalchemy import Engine, select

from broker.names import dead_letter_queue_name, hold_queue_name, queue_name
from jobs.store.tables import DONE_STATES, RunOrigin, run_attempts, runs


@dataclass
class JobLog:
    starts: Counter[str] = field(default_factory=Counter)
    dones: Counter[str] = field(default_factory=Counter)
    first_start: dict[str, float] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> JobLog:
        log = cls()
        if not path.exists():
            return log
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 5:
                continue
            event, run_id, _key, _pid, at = parts
            if event == "start":
                log.starts[run_id] += 1
                log.first_start.setdefault(run_id, float(at))
            elif event == "done":
                log.dones[run_id] += 1
        return log


@dataclass
class Row:
    fault: str
    injected: int = 0
    attempted: int = 0
    acknowledged: int = 0
    completed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    lost: int = 0
    run_twice: int = 0
    stuck: int = 0
    max_lateness: float | None = None
    takeover: float | None = None
    notes: list[str] = field(default_factory=list)


def _connect(broker_url: str) -> amqp.Connection:
    parts = parse_url(broker_url)
    conn = amqp.Connection(
        host=f"{parts['hostname']}:{parts['port'] or 5672}",
        userid=parts["userid"] or "guest",
        password=parts["password"] or "guest",
        virtual_host=parts["virtual_host"] or "/",
        connect_timeout=5,
    )
    conn.connect()
    return conn


def message_id(message: amqp.Message) -> str:
    headers = message.properties.get("application_headers") or {}
    found = headers.get("id") or message.properties.get("message_id")
    if found:
        return str(found)
    with contextlib.suppress(ValueError, TypeError):
        return str(json.loads(message.body).get("id", "?"))
    return "?"


def drain_dead_letters(broker_url: str, prefix: str, queues: Iterable[str]) -> dict[str, str]:
    """Take every message out of the DLQs; return message id -> reason (header or x-death)."""
    found: dict[str, str] = {}
    conn = _connect(broker_url)
    try:
        channel = conn.channel()
        for short in queues:
            while (msg := channel.basic_get(dead_letter_queue_name(prefix, short))) is not None:
                headers = msg.properties.get("application_headers") or {}
                deaths = headers.get("x-death") or [{}]
                reason = headers.get("x-beatkeeper-reason") or deaths[0].get("reason", "?")
                found[message_id(msg)] = str(reason)
                channel.basic_ack(msg.delivery_tag)
    finally:
        conn.close()
    return found


# Celery's native delayed delivery: a retry waits in these queues, one per bit of its delay.
DELAYED_QUEUES = tuple(f"celery_delayed_{level}" for level in range(28))


def leftovers(broker_url: str, prefix: str, queues: Iterable[str], shards: int) -> dict[str, int]:
    """Messages still in work, hold and delayed-delivery queues (quorum counts lag a few s)."""
    names = [queue_name(prefix, q) for q in queues]
    names += [hold_queue_name(prefix, s) for s in range(shards)]
    names += DELAYED_QUEUES
    found: dict[str, int] = {}
    conn = _connect(broker_url)
    try:
        for name in names:
            channel = conn.channel()
            with contextlib.suppress(amqp.exceptions.NotFound):
                count = int(channel.queue_declare(name, passive=True).message_count)
                if count:
                    found[name] = count
        return found
    finally:
        conn.close()


def observe(
    read_states: Callable[[], dict[str, str]], read_log: Callable[[], JobLog]
) -> tuple[JobLog, dict[str, str]]:
    """The run states, then the jobs' log, in that order: a job writes its ``done`` line
    before its finish reaches the store, so a run the states show finished has its line in
    the log read after. Read the other way round, a run finishing between the two reads was
    counted lost (no ``done`` line, store SUCCESS)."""
    states = read_states()
    return read_log(), states


def describe_runs(engine: Engine, ids: list[str]) -> dict[str, str]:
    """Why each run is not final: its state, attempts, last attempt and next retry."""
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                select(
                    runs.c.id, runs.c.state, runs.c.attempts, runs.c.next_retry_at,
                    runs.c.origin, runs.c.reason,
                ).where(runs.c.id.in_(chunk))
            )  # fmt: skip
            for row in rows:
                last = conn.execute(
                    select(run_attempts.c.outcome, run_attempts.c.owner)
                    .where(run_attempts.c.run_id == row.id)
                    .order_by(run_attempts.c.number.desc())
                    .limit(1)
                ).first()
                attempt = f"{last.outcome or 'open'} by {last.owner}" if last else "none"
                retry = f", retry due {row.next_retry_at:%H:%M:%S}" if row.next_retry_at else ""
                reason = f", {row.reason}" if row.reason else ""
                found[row.id] = (
                    f"{row.state}, {row.attempts} attempts, last {attempt}{retry}, "
                    f"sent by {row.origin}{reason}"
                )
    return found


def reaper_resent(engine: Engine, ids: list[str]) -> int:
    """How many of ``ids`` the reaper sent again (their retry or held fire was overdue)."""
    found = 0
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            where = runs.c.id.in_(chunk), runs.c.origin == RunOrigin.REAPER.value
            found += len(conn.execute(select(runs.c.id).where(*where)).all())
    return found


def run_states(engine: Engine, ids: list[str]) -> dict[str, str]:
    states: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(select(runs.c.id, runs.c.state).where(runs.c.id.in_(chunk)))
            states.update({row.id: row.state for row in rows})
    return states


def tally(
    row: Row,
    acked: dict[str, float],
    log: JobLog,
    dead: dict[str, str],
    states: dict[str, str],
) -> Row:
    """Fill ``row`` for the acknowledged run ids (id -> due time, epoch seconds)."""
    row.acknowledged = len(acked)
    lateness = []
    for run_id, due in acked.items():
        done = log.dones.get(run_id, 0)
        if log.starts.get(run_id, 0) > 1:
            row.retried += 1
        if done:
            row.completed += 1
            if done > 1:
                row.run_twice += 1
                row.notes.append(f"ran {done} times: {run_id}")
            lateness.append(max(0.0, log.first_start[run_id] - due))
        elif run_id in dead:
            row.dead_lettered += 1
        elif states.get(run_id) not in (None, *DONE_STATES):
            row.stuck += 1
        else:
            row.lost += 1
            row.notes.append(f"lost {run_id[:8]} (run state {states.get(run_id)})")
    row.max_lateness = max(lateness) if lateness else None
    return row
