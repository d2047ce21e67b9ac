"""What the beat decides, as pure functions of schedule rows, triggers and times.

No I/O and no clock: every function takes ``now``; tests call them with plain values. The
engine turns a :class:`Plan` into messages and hands it to the store, which records and
sends it in one fenced transaction (``jobs.store.fires``).

Rules:
- A fire's run id is (schedule, nominal time, definition version): the same fire planned
  twice, by one beat or by two, is one run.
- A beat that fell far behind does not replay every fire it slept through: fires older
  than ``late_grace`` are counted as missed, except what the catch-up policy asks for.
- Catch-up sends none, the latest or all fires of the window; a schedule that must not
  overlap gets only the last of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.schedules.catchup import missed_fires
from jobs.schedules.definition import expires_at, fire_time, run_id
from jobs.schedules.jitter import jitter_offset
from jobs.schedules.triggers import Trigger
from jobs.store.fires import FireUpdate
from jobs.store.runs import NewRun
from jobs.store.schedules import ScheduleRecord

UNFINISHED = ("PENDING", "STARTED", "RETRY")


@dataclass(slots=True)
class Entry:
    """One schedule's next fire in the beat's heap. A million of them are held at once, so
    the class has slots, and without jitter ``fire_at`` is the same object as ``nominal``."""

    fire_at: datetime
    name: str
    nominal: datetime
    version: int

    def __lt__(self, other: Entry) -> bool:  # the heap's order: send time, then name
        if self.fire_at == other.fire_at:
            return self.name < other.name
        return self.fire_at < other.fire_at

    @classmethod
    def of(cls, name: str, nominal: datetime, jitter_seconds: int, version: int) -> Entry:
        """The heap entry of a nominal fire: ordered by when it is actually sent."""
        if jitter_seconds == 0:
            return cls(nominal, name, nominal, version)
        return cls(fire_time(name, nominal, jitter_seconds), name, nominal, version)


@dataclass(frozen=True)
class PlannedFire:
    run: NewRun
    at: datetime  # when a worker should get it
    expires: datetime | None
    priority: int | None
    hold: bool  # handed to the broker ahead of time, held until ``at``
    own_expiry: bool = False  # ``expires`` is the schedule's own, not the default period


@dataclass
class Plan:
    fires: list[PlannedFire] = field(default_factory=list)
    skips: list[tuple[NewRun, str]] = field(default_factory=list)
    updates: list[FireUpdate] = field(default_factory=list)
    follow: list[Entry] = field(default_factory=list)

    def mark(self) -> tuple[int, int, int, int]:
        return len(self.fires), len(self.skips), len(self.updates), len(self.follow)

    def undo_to(self, mark: tuple[int, int, int, int]) -> None:
        """Drop what was planned since ``mark`` (one schedule that could not be planned)."""
        del self.fires[mark[0] :], self.skips[mark[1] :]
        del self.updates[mark[2] :], self.follow[mark[3] :]


def overlap_reason(row: ScheduleRecord, previous: str | None) -> str | None:
    """Why a fire due now is skipped under the schedule's overlap policy, or None to send it."""
    if row.overlap == "skip" and previous in UNFINISHED:
        return f"overlap=skip: previous run {row.last_run_id} is {previous}"
    if row.overlap == "buffer_one" and previous == "PENDING":
        return f"overlap=buffer_one: previous run {row.last_run_id} is still queued"
    return None


def previous_state(
    state: str | None, started_at: datetime | None, limit: timedelta | None, now: datetime
) -> str | None:
    """The previous run's state for the overlap policy. A run STARTED longer ago than its
    job's hard time limit allows (``limit``) was lost with its worker: it no longer blocks."""
    if state != "STARTED" or started_at is None or limit is None:
        return state
    return "LOST" if started_at < now - limit else state


@dataclass(frozen=True)
class Planner:
    """Plans fires; ``queue_of`` names a schedule's work queue and raises KeyError for a
    schedule that cannot be sent (unknown job or queue)."""

    queue_of: Callable[[ScheduleRecord], str]
    late_grace: float = 2.0

    def new_run(self, row: ScheduleRecord, nominal: datetime, generation: int | str) -> NewRun:
        return NewRun(
            id=run_id(row.name, nominal, generation),
            job=row.job,
            queue=self.queue_of(row),
            kwargs=row.kwargs,
            schedule=row.name,
            scheduled_for=nominal,
        )

    def fire(
        self,
        plan: Plan,
        row: ScheduleRecord,
        trigger: Trigger,
        nominal: datetime,
        now: datetime,
        *,
        hold: bool,
        fire_at: datetime | None = None,
    ) -> str:
        """Add one fire to ``plan``; return its run id."""
        new = self.new_run(row, nominal, row.version)
        at = fire_at or max(now, fire_time(row.name, nominal, row.jitter_seconds))
        expires = expires_at(trigger, nominal, at, row.expires_seconds)
        own = row.expires_seconds is not None
        plan.fires.append(PlannedFire(new, at, expires, row.priority, hold, own_expiry=own))
        return new.id

    def next(
        self,
        plan: Plan,
        row: ScheduleRecord,
        trigger: Trigger,
        nominal: datetime,
        now: datetime,
        run: str | None,
    ) -> None:
        """Book-keep one decided fire (``run`` None: skipped) and queue the schedule's next."""
        following = trigger.next_after(nominal)
        missed = 0
        grace = timedelta(seconds=self.late_grace)
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
                missed=missed,
            )
        )
        if following is not None:
            plan.follow.append(Entry.of(row.name, following, row.jitter_seconds, row.version))

    def decide(
        self,
        plan: Plan,
        row: ScheduleRecord,
        trigger: Trigger,
        nominal: datetime,
        skip_reason: str | None,
        now: datetime,
    ) -> None:
        """A fire due now: skipped with its reason, or sent; then the next one."""
        run = None
        if skip_reason:
            plan.skips.append((self.new_run(row, nominal, "skip"), skip_reason))
        else:
            run = self.fire(plan, row, trigger, nominal, now, hold=False)
        self.next(plan, row, trigger, nominal, now, run)

    def early(
        self, plan: Plan, row: ScheduleRecord, trigger: Trigger, entry: Entry, now: datetime
    ) -> None:
        """An allow-overlap fire handed to the broker ahead of its time."""
        run = self.fire(plan, row, trigger, entry.nominal, now, hold=True, fire_at=entry.fire_at)
        self.next(plan, row, trigger, entry.nominal, now, run)

    def catch_up(self, plan: Plan, row: ScheduleRecord, trigger: Trigger, now: datetime) -> None:
        """Fires missed while no beat could send them, under the schedule's catch-up policy."""
        assert row.next_fire_at is not None
        # Nominal times whose (jittered) send time has passed count as missed.
        until = now - timedelta(seconds=jitter_offset(row.name, row.jitter_seconds))
        previous = row.next_fire_at - timedelta(microseconds=1)
        window = row.catch_up_window_seconds
        # row.catch_up is a str column holding a CatchUp value (validated when stored).
        chosen = missed_fires(trigger, previous, until, row.catch_up, window)  # type: ignore[arg-type]
        if row.overlap != "allow":
            chosen = chosen[-1:]  # runs that must not overlap are not sent all at once
        missed_total = len(missed_fires(trigger, previous, until, "all", 10**9, limit=10_000))
        last_run = row.last_run_id
        for nominal in chosen:
            last_run = self.fire(plan, row, trigger, nominal, now, hold=False)
        following = trigger.next_after(until)
        last = chosen[-1] if chosen else row.last_fire_at or row.next_fire_at
        plan.updates.append(
            FireUpdate(
                row.name,
                row.version,
                last,
                following,
                last_run,
                missed=max(0, missed_total - len(chosen)),
            )
        )
        if following is not None:
            plan.follow.append(Entry.of(row.name, following, row.jitter_seconds, row.version))
