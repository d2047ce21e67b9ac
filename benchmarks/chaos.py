"""Chaos benchmark: Beatkeeper through worker kills, broker restarts and kills, a database
outage, poison messages, beat leader kills and cluster node kills, with Jepsen-style counts.

    .venv/bin/python -m benchmarks.chaos            # the full schedule (about 15 minutes)
    .venv/bin/python -m benchmarks.chaos --quick    # one or a few of each fault (~6 minutes)

Loopback only and bounded: web (uvicorn), two workers and two beats run as real processes on
a private RabbitMQ node (never the shared one), with PostgreSQL (a fresh database) behind a
proxy that the database outage cuts; the last phase rebuilds the stack on a local 3-node
RabbitMQ cluster (quorum queues replicated on all three) behind a proxy. A steady load of
API enqueues runs through every phase; faults are injected on a fixed schedule; the
supervisor restarts what was killed, as systemd would. Counting: ``benchmarks/chaos_count.py``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.chaos_count import (
    JobLog,
    Row,
    describe_runs,
    drain_dead_letters,
    leftovers,
    observe,
    reaper_resent,
    run_states,
    tally,
)
from benchmarks.chaos_inputs import (
    create_schedules,
    expected_fires,
    publish_poison,
)
from benchmarks.chaos_load import LeaseWatch, Load, Supervisor
from benchmarks.chaos_report import machine, print_table
from benchmarks.chaos_stack import PREFIX, Stack
from jobs.store.db import make_engine
from jobs.store.tables import DONE_STATES

QUEUES = ("default", "slow")


class Run:
    """One stack, its supervisor and the rows measured on it."""

    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack, self.args = stack, args
        self.engine = make_engine(stack.database_url)
        self.supervisor = Supervisor([*stack.workers, *stack.beats]).start()
        self.dead_extra: dict[str, str] = {}

    def settle(self, ids: list[str]) -> str:
        """Wait until the work really ended: every id completed or in a final run state, or
        nothing left to do (work, hold and delayed-delivery queues empty and no run
        progressing for ``--quiet`` seconds), bounded by ``--drain``. Says how it ended."""
        began = time.monotonic()
        quiet_since, seen = began, None
        while True:
            log = JobLog.read(self.stack.log)
            open_ids = [i for i in ids if not log.dones.get(i)]
            states = run_states(self.engine, open_ids) if open_ids else {}
            waiting = Counter(s for i in open_ids if (s := states.get(i)) not in DONE_STATES)
            elapsed = time.monotonic() - began
            if not waiting:
                return f"settled after {elapsed:.0f} s"
            try:
                queued = sum(leftovers(self.stack.broker_url, PREFIX, QUEUES, 4).values())
            except Exception:  # noqa: BLE001 - a broker still coming back: not quiet yet
                queued = -1
            now = (sum(log.starts.values()), sum(log.dones.values()), sorted(waiting.items()))
            if queued or now != seen:
                quiet_since, seen = time.monotonic(), now
            if time.monotonic() - quiet_since >= self.args.quiet:
                return f"quiet for {self.args.quiet:.0f} s after {elapsed:.0f} s"
            if elapsed >= self.args.drain:
                return f"cap of {self.args.drain:.0f} s reached ({queued} messages queued)"
            time.sleep(2.0)

    def count(self, row: Row, acked: dict[str, float]) -> Row:
        ended = self.settle(list(acked))
        dead = drain_dead_letters(self.stack.broker_url, PREFIX, QUEUES)
        log, states = observe(
            lambda: run_states(self.engine, list(acked)), lambda: JobLog.read(self.stack.log)
        )
        tally(row, acked, log, dead, states)
        row.notes.append(f"drain: {ended}")
        stuck = [i for i in acked if not log.dones.get(i) and i not in dead]
        stuck = [i for i in stuck if states.get(i) not in (None, *DONE_STATES)]
        for run_id, why in describe_runs(self.engine, stuck[:20]).items():
            row.notes.append(f"stuck {run_id[:8]}: {why}")
        resent = reaper_resent(self.engine, list(acked))
        if resent:
            row.notes.append(f"re-sent by the reaper (retry or held fire overdue): {resent}")
        twice = [i for i in acked if log.dones.get(i, 0) > 1]
        failed_first = [i for i in twice if (self.stack.log.parent / "failed" / i).exists()]
        if twice:
            row.notes.insert(0, f"{len(failed_first)} of {len(twice)} run twice had a retry")
        left = leftovers(self.stack.broker_url, PREFIX, QUEUES, 4)
        if left:
            row.notes.append(f"messages left in queues: {left}")
        self.dead_extra = dead
        return row

    def load_phase(
        self, fault: str, count: int, inject: Callable[[int], float | None], every: float
    ) -> Row:
        """Steady load; ``inject(i)`` returns when service is back (for the takeover column)."""
        load = Load(self.stack.api, self.args.rate).start()
        time.sleep(2)
        back: list[float] = []
        for i in range(count):
            restored = inject(i)
            if restored is not None:
                back.append(restored)
            time.sleep(every)
        load.stop()
        row = Row(fault, injected=count, attempted=load.attempted)
        if load.refused:
            row.notes.append("refused: " + ", ".join(f"{k}x{v}" for k, v in load.refused.items()))
        if back:
            acks = sorted(load.acked.values())
            waits = [next((a - t for a in acks if a >= t), None) for t in back]
            row.takeover = max((w for w in waits if w is not None), default=None)
        return self.count(row, load.acked)

    def note_exits(self, row: Row) -> Row:
        if self.supervisor.exits:
            row.notes.append(f"unexpected exits: {dict(self.supervisor.exits)}")
            self.supervisor.exits.clear()
        return row

    # -- faults ------------------------------------------------------------------------
    def worker_kills(self, n: int) -> Row:
        def inject(i: int) -> None:
            proc = self.stack.workers[i % 2]
            with self.supervisor.lock:
                proc.kill()
                proc.start()

        return self.note_exits(self.load_phase("worker kill -9", n, inject, self.args.kill_every))

    def broker_restarts(self, n: int) -> Row:
        node = self.stack.nodes[0]

        def inject(_: int) -> float:
            node.restart()
            return time.time()

        return self.note_exits(self.load_phase("broker restart", n, inject, 4))

    def broker_kills(self, n: int) -> Row:
        node = self.stack.nodes[0]

        def inject(_: int) -> float:
            node.kill()
            time.sleep(2)
            node.start()
            return time.time()

        return self.note_exits(self.load_phase("broker kill -9", n, inject, 4))

    def db_outages(self, n: int) -> Row:
        proxy = self.stack.db_proxy
        assert proxy is not None

        def inject(_: int) -> float:
            proxy.cut()
            time.sleep(self.args.db_outage)
            proxy.restore()
            return time.time()

        return self.note_exits(self.load_phase("database outage", n, inject, 8))

    def cluster_node_kills(self, n: int) -> Row:
        def inject(i: int) -> float:
            node = self.stack.nodes[i % len(self.stack.nodes)]
            node.kill()
            time.sleep(5)
            node.start()
            return time.time()

        return self.note_exits(self.load_phase("cluster node kill -9", n, inject, 8))

    def poison(self, n: int) -> tuple[Row, Row]:
        load = Load(self.stack.api, self.args.rate).start()
        time.sleep(1)
        ids = publish_poison(self.stack.broker_url, n)
        time.sleep(max(5.0, n / self.args.rate))
        load.stop()
        innocent = self.count(Row("jobs beside poison", attempted=load.attempted), load.acked)
        dead = self.dead_extra
        row = Row("poison message", injected=n, attempted=n, acknowledged=n)
        log = JobLog.read(self.stack.log)
        for pid, kind in ids.items():
            if log.dones.get(pid):
                row.completed += 1
            elif pid in dead:
                row.dead_lettered += 1
            else:
                row.lost += 1
                row.notes.append(f"{kind} not in a DLQ")
        reasons = sorted({dead[p] for p in ids if p in dead})
        row.notes.append(f"reasons: {', '.join(reasons) or '-'}")
        return self.note_exits(row), innocent

    def beat_failovers(self, n: int) -> Row:
        names = create_schedules(self.stack.api, self.args.schedules)
        watch = LeaseWatch(self.engine).start()
        time.sleep(5)
        takeovers: list[float | None] = []
        kills: list[str] = []
        standby_kills = 0
        for i in range(n):
            lease = watch.read()
            owner = lease[0] if lease else None
            # The lease owner is "host:pid:nonce" (jobs/beat/scheduler.py).
            beat = next(
                (b for b in self.stack.beats if owner and f":{b.pid}:" in owner),
                self.stack.beats[i % 2],
            )
            standby_kills += owner is not None and f":{beat.pid}:" not in owner
            killed_at = time.time()
            kills.append(time.strftime("%H:%M:%S", time.gmtime(killed_at)))
            with self.supervisor.lock:
                beat.kill()
                beat.start()
            time.sleep(self.args.failover_every)
            takeovers.append(watch.takeover_after(killed_at, owner) if owner else None)
        end = time.time()
        for name in names:
            httpx.delete(f"{self.stack.api}/schedules/{name}", timeout=10)
        watch.stop()
        # Fires sent ahead of their time are cancelled with their schedule; let them pass
        # through the hold queues before the queues are counted.
        time.sleep(12)
        row = Row("beat leader kill -9", injected=n)
        recorded, missing = expected_fires(self.engine, names, end)
        row.attempted = len(recorded) + len(missing)
        self.count(row, recorded)
        row.lost += len(missing)
        if missing:
            row.notes.append(f"due fires with no run: {', '.join(missing[:10])}")
            row.notes.append(f"leader kills at {', '.join(kills)}")
        measured = [t for t in takeovers if t is not None]
        row.takeover = max(measured) if measured else None
        if not measured:
            row.notes.append("no lease owner seen (no standby beat on this version)")
        if standby_kills:
            row.notes.append(f"{standby_kills} kills hit a beat not matched as leader")
        return self.note_exits(row)


QUICK = {
    "worker_kills": 5, "broker_restarts": 1, "broker_kills": 1, "db_outages": 1,
    "db_outage": 10.0, "poison": 5, "beat_failovers": 2, "cluster_node_kills": 1,
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few of each fault (flags still win)")
    p.add_argument("--worker-kills", type=int, default=100)
    p.add_argument("--broker-restarts", type=int, default=10)
    p.add_argument("--broker-kills", type=int, default=10)
    p.add_argument("--db-outages", type=int, default=3)
    p.add_argument("--db-outage", type=float, default=20.0, help="seconds per database outage")
    p.add_argument("--poison", type=int, default=20, help="poison messages")
    p.add_argument("--beat-failovers", type=int, default=10)
    p.add_argument("--cluster-node-kills", type=int, default=3, help="0 skips the cluster")
    p.add_argument("--rate", type=float, default=10.0, help="API enqueues per second")
    p.add_argument("--kill-every", type=float, default=1.5, help="seconds between worker kills")
    p.add_argument("--failover-every", type=float, default=6.0)
    p.add_argument("--schedules", type=int, default=5, help="every-second schedules (beat phase)")
    p.add_argument(
        "--drain", type=float, default=600.0, help="at most this long for a phase to settle"
    )
    p.add_argument(
        "--quiet", type=float, default=60.0,
        help="a phase has settled when nothing is queued and no run moved for this long",
    )  # fmt: skip
    p.add_argument(
        "--rate-limit", default=None,
        help="the API's enqueue limit for the stack (default: twice --rate, per minute)",
    )  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the logs folder")
    if p.parse_known_args(argv)[0].quick:
        p.set_defaults(**QUICK)
    return p.parse_args(argv)


def stack_settings(args: argparse.Namespace) -> dict[str, str]:
    """Settings of the system under test that differ from its defaults, and why."""
    # The API's default enqueue limit (600 a minute) is the offered load itself at 10/s:
    # a burst after a broker outage was answered 429, counted attempted, not acknowledged.
    limit = args.rate_limit or f"{math.ceil(args.rate * 120)}/minute"
    return {"BEATKEEPER_RATE_LIMIT_ENQUEUE": limit}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="beatkeeper-chaos-"))
    rows: list[Row] = []
    began = time.monotonic()
    stack = Stack(tmp / "single", settings=stack_settings(args))
    try:
        (tmp / "single").mkdir()
        stack.start()
        print(f"machine: {machine(stack)}", flush=True)
        run = Run(stack, args)
        steps: list[Callable[[], object]] = [
            lambda: rows.append(run.worker_kills(args.worker_kills)),
            lambda: rows.append(run.broker_restarts(args.broker_restarts)),
            lambda: rows.append(run.broker_kills(args.broker_kills)),
            lambda: rows.append(run.db_outages(args.db_outages)),
            lambda: rows.extend(run.poison(args.poison)),
            lambda: rows.append(run.beat_failovers(args.beat_failovers)),
        ]
        for step in steps:
            step()
            print(f"[{time.monotonic() - began:.0f} s] {rows[-1].fault}: done", flush=True)
        run.supervisor.stop()
    finally:
        stack.close()
    if args.cluster_node_kills:
        cluster = Stack(tmp / "cluster", cluster=True, settings=stack_settings(args))
        try:
            (tmp / "cluster").mkdir()
            cluster.start()
            crun = Run(cluster, args)
            rows.append(crun.cluster_node_kills(args.cluster_node_kills))
            crun.supervisor.stop()
        finally:
            cluster.close()
    print(f"\nchaos: {time.monotonic() - began:.0f} s\n")
    print_table(rows)
    if args.keep:
        print(f"logs: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
