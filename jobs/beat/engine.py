"""The beat's core: which fires are due, what to send, and when.

It has no loop and no clocks of its own: ``tick()`` does what is due at ``clock()`` (wall
clock, for fire times) and paces its polls by ``monotonic()``; it returns how long to sleep,
so tests drive it with fake clocks and a recording sink. Planning is pure
(``jobs.beat.planning``); recording and sending is one transaction in the store
(``jobs.store.fires``), fenced by the beat's lease when one is given.

Cost per tick is proportional to what is due, not to the number of schedules: a heap
holds one (fire time, name) entry per active schedule; changes are found through the
schedules' version numbers; full rows are loaded only for the fires at hand.

Fires of ``overlap=allow`` schedules are handed to RabbitMQ ahead of their time into a hold
queue whose per-message TTL releases them at their time, so a burst of thousands of fires
due in the same second is on time however long building them takes. How far ahead adapts
to what is due (``jobs.beat.pacing``): at least ``lookahead`` seconds, and as early as the
measured hand-over rate needs for a crowd of fires due together, up to ``max_lookahead``.
A queue releases only its head, so a fire due before one already held goes direct at its
time instead (the hold watermark). If such a schedule changes meanwhile, the early fire is
cancelled in the run store and the worker acks it without running it. Other schedules are
decided at their time.

Failures leave the schedule in memory: a failed store read or commit, or a broker that takes
none of a batch, puts the fires back and raises (:class:`BrokerDownError`, SQLAlchemy's
errors, :class:`FencedOutError`) for the runner to back off; :meth:`BeatEngine.recover`
then applies each schedule's catch-up policy to what fell due meanwhile.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.publisher import OutgoingMessage
from jobs.beat.dispatch import BrokerDownError, Dispatcher, Sink
from jobs.beat.pacing import DueCounts, Pace
from jobs.beat.planning import (
    Entry,
    Plan,
    Planner,
    overlap_reason,
    previous_state,
)
from jobs.celery_app import BeatkeeperCelery
from jobs.schedules.triggers import Trigger, TriggerError
from jobs.store.fires import Guard
from jobs.store.schedules import ScheduleRecord, ScheduleStore

log = logging.getLogger(__name__)

__all__ = ["BeatConfig", "BeatEngine", "BrokerDownError", "Sink", "utcnow"]

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BeatConfig:
    # Seconds ahead that allow-overlap fires go to the hold queues at least; a crowd of fires
    # due together goes earlier, as the measured hand-over rate needs, up to max_lookahead.
    lookahead: float = 10.0
    max_lookahead: float = 300.0  # 0: a fixed look-ahead
    # Fires a second assumed until batches were measured: low on purpose, since starting a
    # crowd early costs only broker memory while starting it late makes it late.
    handover_rate: float = 1000.0
    poll_interval: float = 0.5  # how often the change counter is read
    max_batch: int = 1000  # fires per transaction and publish
    min_hold: float = 0.2  # a fire closer than this is sent directly at its time
    late_grace: float = 2.0  # a fire older than this was missed: its catch-up policy decides


class BeatEngine:
    def __init__(
        self,
        app: BeatkeeperCelery,
        schedules: ScheduleStore,
        sink: Sink,
        *,
        clock: Clock = utcnow,
        monotonic: Monotonic = time.monotonic,
        config: BeatConfig | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.app = app
        self.schedules = schedules
        self.dispatch = Dispatcher(app, sink)
        self.clock = clock
        self.monotonic = monotonic
        self.config = config or BeatConfig()
        self.guard = guard  # the lease's fence, checked in every transaction that sends
        self.planner = Planner(self.dispatch.queue_of, self.config.late_grace)
        self.stats: Counter[str] = Counter()
        self._heap: list[Entry] = []
        self._due = DueCounts()  # the heap's entries per second, for the adaptive look-ahead
        self.pace = Pace(self.config.handover_rate)
        self._direct: list[Entry] = []  # fires that must be decided and sent at their time
        self._live: dict[str, int] = {}  # name -> version the heap follows
        self._seen = 0
        self._next_poll = 0.0
        self._hold_watermark = datetime.min.replace(tzinfo=UTC)
        self._catch_up_retry: list[str] = []
        self.loaded = False  # start() has read the schedules (its catch-up may still be due)
        # Wraps each record-and-send transaction; the scheduler defers SIGTERM through it so
        # that a stop never falls between a publish and its commit.
        self.critical: Callable[[], AbstractContextManager[object]] = nullcontext

    # -- start-up and recovery ---------------------------------------------------------------
    def start(self) -> None:
        """Load every active schedule (name and next fire only) and catch up what was missed."""
        self._seen = self.schedules.current_version()  # first: later changes reach _poll
        now = self.clock()
        grace = timedelta(seconds=self.config.late_grace)
        overdue = []
        late = now - grace
        for name, version, next_fire, jitter in self.schedules.active_entries():
            self._live[name] = version
            entry = Entry.of(name, next_fire, jitter, version)
            if entry.fire_at < late:
                overdue.append(name)
            else:
                self._heap.append(entry)
                self._due.add(entry.fire_at)
        heapq.heapify(self._heap)
        # A previous beat may have left fires in the hold queue due up to this far ahead;
        # earlier fires placed behind them would wait for them, so they go direct instead.
        self._hold_watermark = now + timedelta(seconds=self.config.lookahead)
        if self.config.max_lookahead > self.config.lookahead:  # it may have held them earlier
            since = now - timedelta(seconds=self.config.max_lookahead)
            held = self.schedules.held_until(since)
            if held is not None:
                self._hold_watermark = max(self._hold_watermark, held)
        self._catch_up_retry.extend(overdue)
        self.loaded = True
        self._run_catch_up(now)
        self.stats["loaded"] = len(self._live)

    @property
    def seen_version(self) -> int:
        """The schedule store's change counter as of the last poll: changes up to it are in."""
        return self._seen

    def overdue(self) -> int:
        """Schedules with a fire due by now and not sent: what an outage left behind."""
        now = self.clock()
        late = {e.name for e in self._heap + self._direct if e.fire_at <= now}
        return len(late | set(self._catch_up_retry))

    def recover(self) -> int:
        """After an outage: fires that fell due meanwhile follow their catch-up policy.
        Returns how many schedules that concerned."""
        now = self.clock()
        limit = now - timedelta(seconds=self.config.late_grace)
        late: set[str] = set()
        for queue in (self._heap, self._direct):
            keep = []
            for entry in queue:
                if entry.fire_at >= limit:
                    keep.append(entry)
                elif self._live.get(entry.name) == entry.version:
                    late.add(entry.name)
            queue[:] = keep
            heapq.heapify(queue)
        self._due.clear()
        for entry in self._heap:
            self._due.add(entry.fire_at)
        self._catch_up_retry.extend(sorted(late - set(self._catch_up_retry)))
        pending = len(self._catch_up_retry)
        self._run_catch_up(now)
        return pending

    def _run_catch_up(self, now: datetime) -> None:
        while self._catch_up_retry:
            names = self._catch_up_retry[: self.config.max_batch]
            plan = Plan()
            for row in self.schedules.load_many(names).values():
                trigger = self._trigger(row)
                if trigger is not None and row.next_fire_at is not None:
                    self._guarded(plan, row, self.planner.catch_up, trigger, now)
            self._commit(plan, now)  # raises: the names stay for the next try
            del self._catch_up_retry[: len(names)]

    # -- the loop body ---------------------------------------------------------------------
    def tick(self) -> float:
        """Send what is due (or due within the look-ahead); return seconds until next needed."""
        now = self.clock()
        mono = self.monotonic()
        if mono >= self._next_poll:
            self._poll()
            self._next_poll = mono + self.config.poll_interval
        if self._catch_up_retry:
            self._run_catch_up(now)
        horizon = max(now + timedelta(seconds=self.config.lookahead), self._pressed_until(now))
        early = self._pop(self._heap, horizon)
        due = self._pop(self._direct, now)
        if early or due:
            try:
                self._process(early, due, now)
            except BaseException:
                self._push(early + due)  # nothing was committed: keep them for the next try
                raise
            now = self.clock()  # processing took time: sleep from when it ended
        return self._sleep_for(now)

    def _pop(self, queue: list[Entry], until: datetime) -> list[Entry]:
        out: list[Entry] = []
        while queue and queue[0].fire_at <= until and len(out) < self.config.max_batch:
            entry = heapq.heappop(queue)
            if queue is self._heap:
                self._due.remove(entry.fire_at)
            if self._live.get(entry.name) == entry.version:
                out.append(entry)
        return out

    def _push(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            heapq.heappush(self._heap, entry)
            self._due.add(entry.fire_at)

    def _window(self, now: datetime) -> tuple[datetime, datetime] | None:
        if not self._heap or self.config.max_lookahead <= 0:
            return None
        return self._heap[0].fire_at, now + timedelta(seconds=self.config.max_lookahead)

    def _pressed_until(self, now: datetime) -> datetime:
        """How far ahead fires must be handed over now so that a crowd of fires due together
        is with the broker in time (``jobs.beat.pacing``); ``now`` when nothing presses."""
        window = self._window(now)
        if window is None:
            return now
        deadline = now.timestamp() + self.config.lookahead
        second = self._due.pressed_until(*window, self.pace.planning_rate, deadline)
        if second is None:
            return now
        return datetime.fromtimestamp(second + 1, UTC) - timedelta(microseconds=1)

    def _sleep_for(self, now: datetime) -> float:
        waits = [max(0.0, self._next_poll - self.monotonic())]
        if self._heap:
            lead = timedelta(seconds=self.config.lookahead)
            waits.append((self._heap[0].fire_at - lead - now).total_seconds())
            window = self._window(now)
            start = None if window is None else self._due.start_by(*window, self.pace.planning_rate)
            if start is not None:
                waits.append(start - self.config.lookahead - now.timestamp())
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
                self._push([Entry.of(name, next_fire, jitter, ver)])
            else:
                self._live.pop(name, None)  # stale heap entries are dropped when popped
            self.stats["changes"] += 1

    def _process(self, early: list[Entry], due: list[Entry], now: datetime) -> None:
        began = self.monotonic()
        rows = self.schedules.load_many(sorted({e.name for e in early + due}))
        decide_now: list[Entry] = list(due)
        later: list[Entry] = []
        plan = Plan()
        soon = now + timedelta(seconds=self.config.min_hold)
        for entry in early:
            row = rows.get(entry.name)
            if row is None or row.version != entry.version:
                continue
            if row.overlap == "allow" and entry.fire_at >= max(soon, self._hold_watermark):
                trigger = self._trigger(row)
                if trigger is not None:
                    self._guarded(plan, row, self.planner.early, trigger, entry, now)
            elif entry.fire_at <= now:
                decide_now.append(entry)
            else:
                later.append(entry)
        self._decide(plan, decide_now, rows, now)
        self._commit(plan, now)
        held = [f.at for f in plan.fires if f.hold]
        if held:  # later fires behind these in a hold queue would wait for them
            self._hold_watermark = max(self._hold_watermark, *held)
        self.pace.observe(len(plan.fires), self.monotonic() - began)
        for entry in later:  # only once nothing can fail: they are not in `early` any more
            heapq.heappush(self._direct, entry)

    def _decide(
        self, plan: Plan, entries: list[Entry], rows: dict[str, ScheduleRecord], now: datetime
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
            state, started = states.get(row.last_run_id or "", (None, None))
            previous = previous_state(state, started, self.dispatch.hard_limit(row.job), now)
            reason = overlap_reason(row, previous)
            self._guarded(plan, row, self.planner.decide, trigger, entry.nominal, reason, now)

    def _trigger(self, row: ScheduleRecord) -> Trigger | None:
        try:
            return row.build_trigger()
        except TriggerError:
            log.exception("schedule %s has an invalid trigger; it is not fired", row.name)
            self.stats["invalid"] += 1
            return None

    def _guarded(
        self, plan: Plan, row: ScheduleRecord, action: Callable[..., None], *args: Any
    ) -> None:
        """Plan one schedule's fires; a schedule that cannot be planned is set aside (logged,
        counted, left out until its definition changes) instead of stopping the beat."""
        mark = plan.mark()
        try:
            action(plan, row, *args)
        except (KeyError, ValueError, OverflowError) as exc:
            plan.undo_to(mark)
            log.error("schedule %s cannot be fired and is set aside: %s", row.name, exc)
            self.stats["invalid"] += 1
            self._live.pop(row.name, None)

    # -- committing ---------------------------------------------------------------------------
    def _commit(self, plan: Plan, now: datetime) -> None:
        """Record and send a plan in one transaction; raises when nothing was committed."""
        if not plan.updates:
            return
        messages: dict[str, OutgoingMessage] = {}
        for fire in plan.fires:
            if fire.run.id not in messages:
                messages[fire.run.id] = self.dispatch.message(fire)
        fires = [(f.run, f.hold) for f in plan.fires]
        try:
            with self.critical():
                done = self.schedules.fires.commit(
                    plan.updates,
                    fires,
                    plan.skips,
                    now,
                    self.dispatch.send_batch(messages),
                    self.guard,
                )
        except BaseException:
            self.stats["errors"] += 1  # the caller keeps what it planned from
            raise
        self.stats["fired"] += len(done.sent)
        self.stats["skipped"] += len(done.skipped)
        self._push(
            e for e in plan.follow if e.name not in done.stale and e.name not in done.rewound
        )
        versions = {u.name: u.version for u in plan.updates}
        self._push(
            Entry(max(now, nominal), name, nominal, versions[name])
            for name, nominal in done.rewound.items()
        )
