"""Per-schedule health: one state and a reason, from the trigger, the runs and the clock.

The rules, in order (the first that applies wins):

- ``paused``: the schedule is disabled.
- ``down``: two expected fires in a row passed their grace without a successful run since the
  last success (or since the schedule was created, edited or resumed). A beat that stopped
  sending, or a job that fails every time, ends here.
- ``failing``: the newest finished run failed, was dead-lettered, or expired unstarted.
- ``late``: a fire is due and has not started past its grace: the beat has not sent it, or
  it waits in a queue no worker takes from.
- ``new``: no run has finished yet (and nothing is overdue).
- ``up``: the newest finished run succeeded and nothing is overdue.

A fire is due at its nominal time plus the schedule's jitter offset (when the beat sends it).
The grace is the schedule's ``grace_seconds``, or by default 10 % of its period, at least
60 s and at most one hour. Everything here is pure: callers pass the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from jobs.schedules.jitter import jitter_offset
from jobs.schedules.triggers import Trigger

MIN_GRACE_SECONDS = 60
MAX_DEFAULT_GRACE_SECONDS = 3600
# Outcomes that end a run; SKIPPED and CANCELLED fires never ran and say nothing about health.
OUTCOMES = ("SUCCESS", "FAILURE", "EXPIRED")


class HealthState(StrEnum):
    NEW = "new"
    UP = "up"
    LATE = "late"
    FAILING = "failing"
    DOWN = "down"
    PAUSED = "paused"


@dataclass(frozen=True)
class ScheduleFacts:
    """What health needs to know about a schedule itself."""

    name: str
    enabled: bool
    trigger: Trigger
    jitter_seconds: int
    grace_seconds: int | None
    next_fire_at: datetime | None  # the next fire the beat has not sent yet
    active_since: datetime  # created, edited or resumed: fires before it are not expected


@dataclass(frozen=True)
class RunSummary:
    """What health needs to know about a schedule's runs (the store computes it in SQL)."""

    last_outcome: str | None = None  # state of the newest finished run (one of OUTCOMES)
    last_outcome_at: datetime | None = None  # when it finished
    last_dead_lettered: bool = False
    last_error: str | None = None
    last_success_for: datetime | None = None  # scheduled time of the newest successful run
    oldest_waiting_for: datetime | None = None  # the oldest due fire sent but not started
    last_fire_at: datetime | None = None  # the newest fire that was sent and is due
    held_ahead: int = 0  # fires handed to the broker ahead of their time, not yet due
    next_held_for: datetime | None = None  # the earliest of those


@dataclass(frozen=True)
class RunFact:
    """One run, as far as health cares (for building a RunSummary from a list)."""

    state: str
    scheduled_for: datetime | None
    finished_at: datetime | None = None
    dead_lettered: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Health:
    state: HealthState
    reason: str
    grace_seconds: int


def held_ahead(state: str, scheduled_for: datetime, now: datetime) -> bool:
    """A fire the beat handed to the broker ahead of its time, not yet due (the SQL in
    jobs/store/monitoring.py says the same)."""
    return state == "PENDING" and scheduled_for > now


def summarize(runs: Iterable[RunFact], now: datetime) -> RunSummary:
    """The summary of a list of runs (the SQL in jobs/store/monitoring.py does the same)."""
    runs = list(runs)
    finished = [r for r in runs if r.state in OUTCOMES and r.finished_at is not None]
    last = max(finished, key=lambda r: r.finished_at or now, default=None)
    successes = [r.scheduled_for for r in runs if r.state == "SUCCESS" and r.scheduled_for]
    waiting = [
        r.scheduled_for
        for r in runs
        if r.state == "PENDING" and r.scheduled_for is not None and r.scheduled_for <= now
    ]
    fired = [
        r.scheduled_for
        for r in runs
        if r.state not in ("CANCELLED", "SKIPPED")
        and r.scheduled_for is not None
        and r.scheduled_for <= now
    ]
    held = [
        r.scheduled_for
        for r in runs
        if r.scheduled_for is not None and held_ahead(r.state, r.scheduled_for, now)
    ]
    return RunSummary(
        last_outcome=last.state if last else None,
        last_outcome_at=last.finished_at if last else None,
        last_dead_lettered=last.dead_lettered if last else False,
        last_error=last.error if last else None,
        last_success_for=max(successes, default=None),
        oldest_waiting_for=min(waiting, default=None),
        last_fire_at=max(fired, default=None),
        held_ahead=len(held),
        next_held_for=min(held, default=None),
    )


def period_seconds(trigger: Trigger, around: datetime) -> float | None:
    """The gap between the first two fires after ``around``; None for a one-off trigger."""
    first = trigger.next_after(around)
    second = trigger.next_after(first) if first is not None else None
    if first is None or second is None:
        return None
    return (second - first).total_seconds()


def default_grace(period: float | None) -> int:
    if period is None:
        return MIN_GRACE_SECONDS
    return int(max(MIN_GRACE_SECONDS, min(MAX_DEFAULT_GRACE_SECONDS, period / 10)))


def _when(t: datetime) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _failure(runs: RunSummary) -> str:
    how = "was dead-lettered" if runs.last_dead_lettered else "failed"
    if runs.last_outcome == "EXPIRED":
        how = "expired before a worker took it"
    error = f": {runs.last_error}" if runs.last_error and runs.last_outcome == "FAILURE" else ""
    return f"the last run {how}{error}"


def _failed_after(runs: RunSummary, since: datetime) -> bool:
    """Whether the newest finished run failed and finished after ``since``."""
    return (
        runs.last_outcome in ("FAILURE", "EXPIRED")
        and runs.last_outcome_at is not None
        and runs.last_outcome_at > since
    )


def _late_by(schedule: ScheduleFacts, nominal: datetime, now: datetime) -> float:
    """Seconds since the fire of ``nominal`` was due: its nominal time plus the schedule's
    jitter offset (negative before)."""
    offset = timedelta(seconds=jitter_offset(schedule.name, schedule.jitter_seconds))
    return (now - (nominal + offset)).total_seconds()


def _overdue(schedule: ScheduleFacts, runs: RunSummary, now: datetime, grace: int) -> str:
    """Why a fire is late past its grace (not sent, or sent and not started), or ""."""
    if schedule.next_fire_at is not None:
        late = _late_by(schedule, schedule.next_fire_at, now)
        if late > grace:
            return (
                f"the fire of {_when(schedule.next_fire_at)} was not sent; {_ago(late)} late "
                f"(grace {grace} s)"
            )
    if runs.oldest_waiting_for is not None:
        late = _late_by(schedule, runs.oldest_waiting_for, now)
        if late > grace:
            return (
                f"the fire of {_when(runs.oldest_waiting_for)} was sent but no worker started "
                f"it; {_ago(late)} late (grace {grace} s)"
            )
    return ""


def _grace(schedule: ScheduleFacts, now: datetime) -> int:
    if schedule.grace_seconds is not None:
        return schedule.grace_seconds
    return default_grace(period_seconds(schedule.trigger, schedule.next_fire_at or now))


def schedule_health(schedule: ScheduleFacts, runs: RunSummary, now: datetime) -> Health:
    """The schedule's state and why, at ``now``."""
    grace = _grace(schedule, now)
    if not schedule.enabled:
        return Health(HealthState.PAUSED, "paused: no fires are sent", grace)
    since = schedule.active_since
    if runs.last_success_for is not None and runs.last_success_for > since:
        since = runs.last_success_for
    first = schedule.trigger.next_after(since)
    second = schedule.trigger.next_after(first) if first is not None else None
    if first is not None and second is not None and _late_by(schedule, second, now) > grace:
        what = "since it was created or changed" if since == schedule.active_since else ""
        what = what or f"since the fire of {_when(since)}"
        # Why, when the runs tell: a failure since then, else a fire that is overdue.
        failed = _failed_after(runs, since)
        cause = _failure(runs) if failed else _overdue(schedule, runs, now, grace)
        return Health(
            HealthState.DOWN,
            f"no successful run {what}: the fires of {_when(first)} and {_when(second)} "
            f"passed their {grace} s grace" + (f"; {cause}" if cause else ""),
            grace,
        )
    if runs.last_outcome in ("FAILURE", "EXPIRED"):
        reason = _failure(runs)
        if not _failed_after(runs, schedule.active_since):
            # Still the last word on the job, but say it predates the resume or edit.
            reason += (
                f" (before the schedule was resumed or changed at "
                f"{_when(schedule.active_since)}; no run has finished since)"
            )
        return Health(HealthState.FAILING, reason, grace)
    if overdue := _overdue(schedule, runs, now, grace):
        return Health(HealthState.LATE, overdue, grace)
    if runs.last_outcome is None:
        return Health(HealthState.NEW, "no run has finished yet", grace)
    finished = f" at {_when(runs.last_outcome_at)}" if runs.last_outcome_at else ""
    return Health(HealthState.UP, f"the last run succeeded{finished}", grace)
