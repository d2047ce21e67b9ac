"""The beat's writes: record a batch of fires and send it, in one fenced transaction.

Order inside the transaction, and why:
1. the fence (``guard``): the lease row is updated first, so it stays locked until commit and
   a deposed leader stops here, before anything is recorded or sent;
2. the schedules are advanced where their version is the planned one (their row locks, or
   SQLite's write lock, keep an edit from slipping in before the commit);
3. fires of schedules edited meanwhile and fires that already have a run are dropped;
4. the runs are inserted, then sent; a refused fire is taken back (its run deleted, its
   schedule's next fire rewound to it) so it is sent again and nothing twice;
5. the counters grow by what was actually sent or skipped, never by what was planned.
If sending raises, nothing is recorded and the caller keeps the plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, select, update

from jobs.store.runs import HELD, NewRun, RunStore
from jobs.store.tables import schedules

Send = Callable[[Sequence[NewRun]], set[str]]  # returns the refused run ids
Guard = Callable[[Connection], bool]


class FencedOutError(RuntimeError):
    """The fence refused the transaction: another beat holds the lease."""


@dataclass(frozen=True)
class FireUpdate:
    """The beat's bookkeeping for one schedule after a batch of fires."""

    name: str
    version: int
    last_fire_at: datetime
    next_fire_at: datetime | None
    last_run_id: str | None
    missed: int = 0


@dataclass(frozen=True)
class Committed:
    sent: list[NewRun] = field(default_factory=list)
    skipped: list[NewRun] = field(default_factory=list)
    stale: set[str] = field(default_factory=set)  # schedules edited since they were planned
    rewound: dict[str, datetime] = field(default_factory=dict)  # name -> refused fire


class FireLedger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runs = RunStore(engine)

    def commit(
        self,
        updates: Sequence[FireUpdate],
        fires: Sequence[tuple[NewRun, bool]],
        skips: Sequence[tuple[NewRun, str]],
        now: datetime,
        send: Send,
        guard: Guard | None = None,
    ) -> Committed:
        """Record and send; ``fires`` are (run, held ahead of time). See the module rules."""
        with self.engine.begin() as conn:
            if guard is not None and not guard(conn):
                raise FencedOutError("another beat holds the lease; nothing was sent")
            if not updates:
                return Committed()
            self._advance(conn, updates)
            stale = self._stale(conn, updates)
            live = [(r, held) for r, held in fires if r.schedule not in stale]
            live_skips = [(r, why) for r, why in skips if r.schedule not in stale]
            exist = self.runs.existing_ids(conn, [r.id for r, _ in live + live_skips])
            live = list({r.id: (r, h) for r, h in live if r.id not in exist}.values())
            live_skips = [(r, why) for r, why in live_skips if r.id not in exist]
            self.runs.insert_pending(
                conn, [r for r, held in live if held], now, reason=HELD, held=True
            )
            self.runs.insert_pending(conn, [r for r, held in live if not held], now)
            for run, reason in live_skips:
                self.runs.insert_pending(conn, [run], now, state="SKIPPED", reason=reason)
            refused = send([r for r, _ in live]) if live else set()
            rewound = self._rewind(conn, [r for r, _ in live if r.id in refused])
            sent = [r for r, _ in live if r.id not in refused]
            skipped = [r for r, _ in live_skips]
            self._count(conn, sent, skipped)
        return Committed(sent, skipped, stale, rewound)

    def _advance(self, conn: Connection, updates: Sequence[FireUpdate]) -> None:
        """Advance schedules after their fires, only where nobody changed them meanwhile."""
        stmt = (
            update(schedules)
            .where(
                schedules.c.name == bindparam("b_name"), schedules.c.version == bindparam("b_ver")
            )
            .values(
                last_fire_at=bindparam("b_last"),
                next_fire_at=bindparam("b_next"),
                last_run_id=bindparam("b_run"),
                missed_count=schedules.c.missed_count + bindparam("b_missed"),
            )
        )
        rows = [
            {
                "b_name": u.name,
                "b_ver": u.version,
                "b_last": u.last_fire_at,
                "b_next": u.next_fire_at,
                "b_run": u.last_run_id,
                "b_missed": u.missed,
            }
            for u in updates
        ]
        conn.execute(stmt, rows)

    def _stale(self, conn: Connection, updates: Sequence[FireUpdate]) -> set[str]:
        expected = {u.name: u.version for u in updates}
        current: dict[str, int] = {}
        names = list(expected)
        for start in range(0, len(names), 500):
            query = select(schedules.c.name, schedules.c.version)
            chunk = query.where(schedules.c.name.in_(names[start : start + 500]))
            current.update((n, v) for n, v in conn.execute(chunk))
        return {n for n, v in expected.items() if current.get(n) != v}

    def _rewind(self, conn: Connection, refused: Sequence[NewRun]) -> dict[str, datetime]:
        """Take back fires the broker refused: their runs go, and each schedule's next fire
        is its earliest refused one again."""
        earliest: dict[str, datetime] = {}
        for run in refused:
            if run.schedule is not None and run.scheduled_for is not None:
                name, nominal = run.schedule, run.scheduled_for
                earliest[name] = min(earliest.get(name, nominal), nominal)
        if refused:
            self.runs.delete_ids(conn, [r.id for r in refused])
        for name, nominal in earliest.items():
            conn.execute(
                update(schedules).where(schedules.c.name == name).values(next_fire_at=nominal)
            )
        return earliest

    def _count(self, conn: Connection, sent: Sequence[NewRun], skipped: Sequence[NewRun]) -> None:
        fired = Counter(r.schedule for r in sent if r.schedule)
        passed = Counter(r.schedule for r in skipped if r.schedule)
        names = sorted(set(fired) | set(passed))
        if not names:
            return
        stmt = (
            update(schedules)
            .where(schedules.c.name == bindparam("b_name"))
            .values(
                fired_count=schedules.c.fired_count + bindparam("b_fired"),
                skipped_count=schedules.c.skipped_count + bindparam("b_skipped"),
            )
        )
        conn.execute(
            stmt, [{"b_name": n, "b_fired": fired[n], "b_skipped": passed[n]} for n in names]
        )
