"""The beat's core: which fires are due, what to send, and the bookkeeping.

It has no loop and no clock of its own: ``tick()`` does what is due at ``clock()`` and
returns how long to sleep, so tests drive it with a fake clock and a recording sink.

Cost per tick is proportional to what is due, not to the number of schedules: a heap
holds one (fire time, name) entry per active schedule; changes are found through the
schedules' version numbers; full rows are loaded only for the fires at hand.

Fires of ``overlap=allow`` schedules are handed to RabbitMQ up to ``lookahead`` seconds
early into a hold queue whose per-message TTL releases them at their time, so a burst of
thousands of fires due in the same second is on time however long building them takes.
If such a schedule changes meanwhile, the early fire is cancelled in the run store and
the worker acks it without running it. Other schedules are decided at their time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from broker.names import HOLD_SHARD_HEADER
from broker.publisher import OutgoingMessage, PublishError
from jobs.messages import task_message
from jobs.schedules.catchup import missed_fires
from jobs.schedules.definition import expires_at, fire_time, run_id
from jobs.schedules.jitter import jitter_offset
from jobs.schedules.triggers import Trigger, TriggerError
from jobs.store.runs import HELD, NewRun
from jobs.store.schedules import FireUpdate, ScheduleRecord, ScheduleStore
from jobs.store.tables import schedules as schedules_table
from jobs.tasks import HARD_LIMIT_GRACE

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sink = Callable[[Sequence[OutgoingMessage]], None]
UNFINISHED = ("PENDING", "STARTED", "RETRY")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BeatConfig:
    # Seconds ahead that allow-overlap fires go to the hold queues: the beat hands over
    # about 5,000 fires a second, so 10 s leaves room for a burst of tens of thousands.
    lookahead: float = 10.0
    poll_interval: float = 0.5  # how often the change counter is read
    max_batch: int = 1000  # fires per transaction and publish
    min_hold: float = 0.2  # a fire closer than this is sent directly at its time
    late_grace: float = 2.0  # at start, a next fire older than this was missed


@dataclass(order=True)
class Entry:
    fire_at: datetime
    name: str
    nominal: datetime = field(compare=False)
    version: int = field(compare=False)

    @classmethod
    def of(cls, name: str, nominal: datetime, jitter_seconds: int, version: int) -> Entry:
        """The heap entry of a nominal fire: ordered by when it is actually sent."""
        return cls(fire_time(name, nominal, jitter_seconds), name, nominal, version)


@dataclass
class _Plan:
    fires: list[tuple[NewRun, OutgoingMessage]] = field(default_factory=list)
    skips: list[tuple[NewRun, str]] = field(default_factory=list)
    updates: list[FireUpdate] = field(default_factory=list)
    follow: list[Entry] = field(default_factory=list)


class BeatEngine:
    def __init__(
        self,
        app: Any,
        schedules: ScheduleStore,
        sink: Sink,
        *,
        clock: Clock = utcnow,
        config: BeatConfig | None = None,
    ) -> None:
        self.app = app
        self.schedules = schedules
        self.sink = sink
        self.clock = clock
        self.config = config or BeatConfig()
        self.stats: Counter[str] = Counter()
        self._heap: list[Entry] = []
        self._direct: list[Entry] = []  # fires that must be decided and sent at their time
        self._live: dict[str, int] = {}  # name -> version the heap follows
        self._seen = 0
        self._next_poll = 0.0
        self._hold_watermark = datetime.min.replace(tzinfo=UTC)
        self._queues = {q.name: q for q in app.topology.work_queues}
        self._shards = itertools.cycle(range(len(app.topology.hold_queues)))
        self._catch_up_retry: list[str] = []

    # -- start-up ------------------------------------------------------------------------
    def start(self) -> None:
        """Load every active schedule (name and next fire only) and catch up what was missed."""
        self._seen = self.schedules.current_version()  # first: later changes reach _poll
        now = self.clock()
        grace = timedelta(seconds=self.config.late_grace)
        overdue = []
        for name, version, next_fire, jitter in self.schedules.active_entries():
            self._live[name] = version
            if fire_time(name, next_fire, jitter) < now - grace:
                overdue.append(name)
            else:
                self._heap.append(Entry.of(name, next_fire, jitter, version))
        heapq.heapify(self._heap)
        # A previous beat may have left fires in the hold queue due up to this far ahead;
        # earlier fires placed behind them would wait for them, so they go direct instead.
        self._hold_watermark = now + timedelta(seconds=self.config.lookahead)
        for start in range(0, len(overdue), self.config.max_batch):
            self._catch_up(overdue[start : start + self.config.max_batch], now)
        self.stats["loaded"] = len(self._live)

    def _catch_up(self, names: Sequence[str], now: datetime) -> None:
        plan = _Plan()
        for row in self.schedules.load_many(names).values():
            trigger = self._trigger(row)
            if trigger is not None and row.next_fire_at is not None:
                self._guarded(plan, row, self._plan_catch_up, trigger, now)
        if not self._commit(plan, now, retry=False):
            self._catch_up_retry.extend(names)  # the whole catch-up again at the next tick

    def _plan_catch_up(
        self, plan: _Plan, row: ScheduleRecord, trigger: Trigger, now: datetime
    ) -> None:
        assert row.next_fire_at is not None
        # Nominal times whose (jittered) send time has passed count as missed.
        until = now - timedelta(seconds=jitter_offset(row.name, row.jitter_seconds))
        previous = row.next_fire_at - timedelta(microseconds=1)
        window = row.catch_up_window_seconds
        chosen = missed_fires(trigger, previous, until, row.catch_up, window)  # type: ignore[arg-type]
        if row.overlap != "allow":
            chosen = chosen[-1:]  # runs that must not overlap are not sent all at once
        missed_total = len(missed_fires(trigger, previous, until, "all", 10**9, limit=10_000))
        last_run = row.last_run_id
        for nominal in chosen:
            last_run = self._plan_fire(plan, row, trigger, nominal, now, hold=False)
        following = trigger.next_after(until)
        last = chosen[-1] if chosen else row.last_fire_at or row.next_fire_at
        plan.updates.append(
            FireUpdate(
                row.name,
                row.version,
                last,
                following,
                last_run,
                fired=len(chosen),
                skipped=0,
                missed=max(0, missed_total - len(chosen)),
            )
        )
        if following is not None:
            plan.follow.append(Entry.of(row.name, following, row.jitter_seconds, row.version))

    # -- the loop body ---------------------------------------------------------------------
    def tick(self) -> float:
        """Send what is due (or due within the look-ahead); return seconds until next needed."""
        now = self.clock()
        mono = time.monotonic()
        if mono >= self._next_poll:
            self._poll()
            self._next_poll = mono + self.config.poll_interval
        horizon = now + timedelta(seconds=self.config.lookahead)
        early: list[Entry] = []
        while (
            self._heap and self._heap[0].fire_at <= horizon and len(early) < self.config.max_batch
        ):
            entry = heapq.heappop(self._heap)
            if self._live.get(entry.name) == entry.version:
                early.append(entry)
        due: list[Entry] = []
        while self._direct and self._direct[0].fire_at <= now and len(due) < self.config.max_batch:
            entry = heapq.heappop(self._direct)
            if self._live.get(entry.name) == entry.version:
                due.append(entry)
        if self._catch_up_retry:
            names, self._catch_up_retry = self._catch_up_retry, []
            self._catch_up(names, now)
        if early or due:
            self._process(early, due, now)
            now = self.clock()  # processing took time: sleep from when it ended
        return self._sleep_for(now)

    def _sleep_for(self, now: datetime) -> float:
        waits = [max(0.0, self._next_poll - time.monotonic())]
        if self._heap:
            lead = timedelta(seconds=self.config.lookahead)
            waits.append((self._heap[0].fire_at - lead - now).total_seconds())
        if self._direct:
            waits.append((self._direct[0].fire_at - now).total_seconds())
        return max(0.0, min(waits))

    def _poll(self) -> None:
        version = self.schedules.current_version()
        if version <= self._seen:
            return
        for name, ver, active, next_fire, jitter in self.schedules.changes_since(self._seen):
            self._seen = max(self._seen, ver)
            if self._live.get(name) == ver:
                continue  # loaded at start-up already (the edit raced the load)
            if active and next_fire is not None:
                self._live[name] = ver
                heapq.heappush(self._heap, Entry.of(name, next_fire, jitter, ver))
            else:
                self._live.pop(name, None)  # stale heap entries are dropped when popped
            self.stats["changes"] += 1

    def _process(self, early: list[Entry], due: list[Entry], now: datetime) -> None:
        rows = self.schedules.load_many(sorted({e.name for e in early + due}))
        decide_now: list[Entry] = list(due)
        plan = _Plan()
        soon = now + timedelta(seconds=self.config.min_hold)
        for entry in early:
            row = rows.get(entry.name)
            if row is None or row.version != entry.version:
                continue
            if row.overlap == "allow" and entry.fire_at >= max(soon, self._hold_watermark):
                trigger = self._trigger(row)
                if trigger is not None:
                    self._guarded(plan, row, self._plan_early, trigger, entry, now)
            elif entry.fire_at <= now:
                decide_now.append(entry)
            else:
                heapq.heappush(self._direct, entry)
        self._decide(plan, decide_now, rows, now)
        self._commit(plan, now)

    def _plan_early(
        self, plan: _Plan, row: ScheduleRecord, trigger: Trigger, entry: Entry, now: datetime
    ) -> None:
        run = self._plan_fire(
            plan, row, trigger, entry.nominal, now, hold=True, fire_at=entry.fire_at
        )
        self._plan_next(plan, row, trigger, entry.nominal, now, run)
        self._hold_watermark = max(self._hold_watermark, entry.fire_at)

    def _decide(
        self, plan: _Plan, entries: list[Entry], rows: dict[str, ScheduleRecord], now: datetime
    ) -> None:
        """Fires due now: apply the overlap policy against the previous run's state."""
        live = [(e, rows[e.name]) for e in entries if e.name in rows]
        live = [(e, r) for e, r in live if r.version == e.version]
        states = self.schedules.run_states(
            r.last_run_id for _, r in live if r.overlap != "allow" and r.last_run_id
        )
        for entry, row in live:
            trigger = self._trigger(row)
            if trigger is None:
                continue
            previous = self._still_running(row, states.get(row.last_run_id or ""), now)
            reason = None
            if row.overlap == "skip" and previous in UNFINISHED:
                reason = f"overlap=skip: previous run {row.last_run_id} is {previous}"
            elif row.overlap == "buffer_one" and previous == "PENDING":
                reason = f"overlap=buffer_one: previous run {row.last_run_id} is still queued"
            self._guarded(plan, row, self._decide_one, trigger, entry.nominal, reason, now)

    def _still_running(
        self, row: ScheduleRecord, last: tuple[str, datetime | None] | None, now: datetime
    ) -> str | None:
        """The previous run's state for the overlap policy. A run STARTED longer ago than
        its job's hard time limit allows was lost with its worker: it no longer blocks."""
        if last is None:
            return None
        state, started_at = last
        task = self.app.tasks.get(row.job)
        if state == "STARTED" and started_at is not None and task is not None:
            limit = timedelta(seconds=task.policy.time_limit + HARD_LIMIT_GRACE + 60)
            if started_at < now - limit:
                return "LOST"
        return state

    def _decide_one(
        self,
        plan: _Plan,
        row: ScheduleRecord,
        trigger: Trigger,
        nominal: datetime,
        skip_reason: str | None,
        now: datetime,
    ) -> None:
        run = None
        if skip_reason:
            plan.skips.append((self._new_run(row, nominal, "skip"), skip_reason))
        else:
            run = self._plan_fire(plan, row, trigger, nominal, now, hold=False)
        self._plan_next(plan, row, trigger, nominal, now, run)

    # -- planning -----------------------------------------------------------------------------
    def _trigger(self, row: ScheduleRecord) -> Trigger | None:
        try:
            return row.build_trigger()
        except TriggerError:
            log.exception("schedule %s has an invalid trigger; it is not fired", row.name)
            self.stats["invalid"] += 1
            return None

    def _guarded(
        self, plan: _Plan, row: ScheduleRecord, action: Callable[..., None], *args: Any
    ) -> None:
        """Plan one schedule's fires; a schedule that cannot be planned is set aside (logged,
        counted, left out until its definition changes) instead of stopping the beat."""
        marks = (len(plan.fires), len(plan.skips), len(plan.updates), len(plan.follow))
        try:
            action(plan, row, *args)
        except (KeyError, ValueError, OverflowError) as exc:
            del plan.fires[marks[0] :], plan.skips[marks[1] :]
            del plan.updates[marks[2] :], plan.follow[marks[3] :]
            log.error("schedule %s cannot be fired and is set aside: %s", row.name, exc)
            self.stats["invalid"] += 1
            self._live.pop(row.name, None)

    def _new_run(self, row: ScheduleRecord, nominal: datetime, generation: int | str) -> NewRun:
        task = self.app.tasks.get(row.job)
        queue = task.job_queue if task is not None else ""
        if row.queue:
            queue = self.app.topology.work_queue(row.queue).name
        return NewRun(
            id=run_id(row.name, nominal, generation),
            job=row.job,
            queue=queue,
            kwargs=row.kwargs,
            schedule=row.name,
            scheduled_for=nominal,
        )

    def _plan_fire(
        self,
        plan: _Plan,
        row: ScheduleRecord,
        trigger: Trigger,
        nominal: datetime,
        now: datetime,
        *,
        hold: bool,
        fire_at: datetime | None = None,
    ) -> str | None:
        """Add one fire to ``plan``; return its run id. Raises for a schedule that cannot
        be sent (unknown job or queue): see :meth:`_guarded`."""
        if row.job not in self.app.tasks:
            raise KeyError(f"unknown job {row.job!r}")
        new = self._new_run(row, nominal, row.version)
        at = fire_at or max(now, fire_time(row.name, nominal, row.jitter_seconds))
        message = task_message(
            self.app,
            task_id=new.id,
            name=row.job,
            kwargs=row.kwargs,
            queue=self._queues[new.queue],
            priority=row.priority,
            expires=expires_at(trigger, nominal, at, row.expires_seconds),
            headers={
                "beatkeeper_schedule": row.name,
                "beatkeeper_scheduled_for": nominal.isoformat(),
            },
        )
        if hold:
            message = replace(
                message,
                exchange=self.app.topology.hold_exchange.name,
                headers={**message.headers, HOLD_SHARD_HEADER: next(self._shards)},
                deliver_at=at.timestamp(),
            )
        plan.fires.append((new, message))
        return new.id

    def _plan_next(
        self,
        plan: _Plan,
        row: ScheduleRecord,
        trigger: Trigger,
        nominal: datetime,
        now: datetime,
        run: str | None,
    ) -> None:
        """Book-keep one decided fire (``run`` None: skipped) and queue the schedule's next."""
        following = trigger.next_after(nominal)
        missed = 0
        grace = timedelta(seconds=self.config.late_grace)
        # A beat that fell far behind does not replay every fire it slept through.
        offset = timedelta(seconds=jitter_offset(row.name, row.jitter_seconds))
        while following is not None and following + offset < now - grace and missed < 100_000:
            missed += 1
            following = trigger.next_after(following)
        plan.updates.append(
            FireUpdate(
                row.name,
                row.version,
                nominal,
                following,
                run or row.last_run_id,
                fired=int(run is not None),
                skipped=int(run is None),
                missed=missed,
            )
        )
        if following is not None:
            plan.follow.append(Entry.of(row.name, following, row.jitter_seconds, row.version))

    # -- committing ---------------------------------------------------------------------------
    def _commit(self, plan: _Plan, now: datetime, retry: bool = True) -> bool:
        """Record and send a plan in one transaction; on failure retry it at the next tick."""
        if not plan.updates:
            return True
        store = self.schedules
        try:
            with store.engine.begin() as conn:
                # Advancing the schedules first takes their row locks (SQLite: the write
                # lock), so an edit cannot slip between this check and the commit.
                store.record_fires(conn, plan.updates)
                expected = {u.name: u.version for u in plan.updates}
                current = dict(
                    conn.execute(
                        select(schedules_table.c.name, schedules_table.c.version).where(
                            schedules_table.c.name.in_(list(expected))
                        )
                    ).all()
                )
                stale = {n for n, v in expected.items() if current.get(n) != v}
                fires = [(r, m) for r, m in plan.fires if r.schedule not in stale]
                skips = [(r, why) for r, why in plan.skips if r.schedule not in stale]
                sent = store.runs.existing_ids(conn, [r.id for r, _ in fires + skips])
                fires = list({r.id: (r, m) for r, m in fires if r.id not in sent}.values())
                held = [r for r, m in fires if m.deliver_at is not None]
                store.runs.insert_pending(conn, held, now, reason=HELD)
                store.runs.insert_pending(conn, [r for r, m in fires if m.deliver_at is None], now)
                for run, reason in skips:
                    if run.id not in sent:
                        store.runs.insert_pending(conn, [run], now, state="SKIPPED", reason=reason)
                rewound: dict[str, datetime] = {}
                if fires:
                    try:
                        self.sink([m for _, m in fires])
                    except PublishError as exc:
                        if len(exc.failed) == len(fires):
                            raise
                        # The confirmed ones are with the broker: keep them. Give back only
                        # the refused ones, so that they are sent again and nothing twice.
                        refused = [r for r, _ in fires if r.id in exc.failed]
                        rewound = store.rewind(conn, refused)
                        fires = [(r, m) for r, m in fires if r.id not in exc.failed]
                        log.error("beat: %d fires refused by the broker, retrying", len(refused))
        except Exception:
            log.exception(
                "beat could not send %d fires; retrying at the next tick", len(plan.fires)
            )
            self.stats["errors"] += 1
            if retry:
                self._retry_later(plan, now)
            return False
        self.stats["fired"] += len(fires)
        self.stats["skipped"] += len(skips)
        for entry in plan.follow:
            if entry.name not in stale and entry.name not in rewound:
                heapq.heappush(self._heap, entry)
        retry_at = now + timedelta(seconds=1)
        for name, nominal in rewound.items():
            entry = Entry(max(retry_at, nominal), name, nominal, expected[name])
            heapq.heappush(self._heap, entry)
        return True

    def _retry_later(self, plan: _Plan, now: datetime) -> None:
        # Nothing was committed: put back the fires themselves (not their successors), never
        # earlier than their own time, so a fire meant for the hold queue goes there again.
        retry_at = now + timedelta(seconds=1)
        for update in plan.updates:
            if self._live.get(update.name) == update.version:
                at = max(retry_at, update.last_fire_at)
                heapq.heappush(
                    self._heap, Entry(at, update.name, update.last_fire_at, update.version)
                )
