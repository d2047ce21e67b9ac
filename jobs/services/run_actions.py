"""Retry or cancel every run a filter matches, bounded, each run saying what happened to it.

- **retry**: a dead-lettered run is re-driven from its dead-letter queue (the same message;
  if it is no longer there, a new one is sent); a run that failed without being
  dead-lettered, or expired, is sent again under its own id, numbered after the attempts it
  already made, so the worker records a new attempt of the same run. The job's retry budget
  is not reset: a run that had used its retries gets one more attempt.
- **cancel**: a run still waiting (PENDING, held by the broker until due, or RETRY, waiting
  for its next attempt) is marked CANCELLED; the worker that receives its message
  acknowledges it without running it. A running attempt is not interrupted.

Other runs matched by the filter are listed as left alone, with the reason. At most
``MAX_BULK`` runs per action: a filter that matches more is refused (narrow it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import EnqueueError, Enqueuer
from jobs.errors import Conflict, Invalid
from jobs.services.deadletters import DeadLetterService, UnknownDeadLetter
from jobs.store.run_pages import RunFilter, count, page
from jobs.store.runs import NewRun, RunRecord, utcnow
from jobs.store.tables import RunOrigin, RunState

MAX_BULK = 500
CANCELLABLE = (RunState.PENDING, RunState.RETRY)
RETRYABLE = (RunState.FAILURE, RunState.EXPIRED)
CANCEL_REASON = "cancelled by a bulk action"
RETRY_REASON = "sent again by a retry"


class BulkAction(StrEnum):
    RETRY = "retry"
    CANCEL = "cancel"


class TooManyRuns(Conflict):
    """The filter matches more runs than one action may touch."""


@dataclass(frozen=True)
class Affected:
    id: str
    job: str
    state: str  # before the action
    outcome: str  # retried | re-driven | cancelled | left alone | failed
    detail: str


@dataclass(frozen=True)
class BulkResult:
    action: str
    matched: int
    dry_run: bool
    runs: list[Affected]

    @property
    def acted(self) -> int:
        return sum(1 for r in self.runs if r.outcome not in ("left alone", "failed"))


def _plan(action: BulkAction, run: RunRecord) -> tuple[str, str]:
    """What the action would do to ``run``: (outcome, detail)."""
    if action is BulkAction.CANCEL:
        if run.state in CANCELLABLE:
            return "cancelled", CANCEL_REASON
        return "left alone", f"{run.state}: only PENDING or RETRY runs can be cancelled"
    if run.state == RunState.FAILURE and run.dead_lettered:
        return "re-driven", "re-driven from its dead-letter queue"
    if run.state in RETRYABLE:
        return "retried", f"sent again as attempt {run.attempts + 1}"
    return "left alone", f"{run.state}: only FAILURE or EXPIRED runs can be retried"


class RunActions:
    def __init__(
        self, app: BeatkeeperCelery, enqueuer: Enqueuer, deadletters: DeadLetterService
    ) -> None:
        self.app = app
        self.store = app.store
        self.enqueuer = enqueuer
        self.deadletters = deadletters

    def matching(self, where: RunFilter) -> list[RunRecord]:
        """The runs ``where`` matches, newest first; TooManyRuns above MAX_BULK."""
        found, more = page(self.store.engine, where, None, MAX_BULK)
        if more is not None:
            total = count(self.store.engine, where)
            raise TooManyRuns(
                f"{total} runs match; one action takes at most {MAX_BULK}: narrow the filter"
            )
        return found

    def apply(
        self, action: str, where: RunFilter, *, confirm: bool = False, dry_run: bool = False
    ) -> BulkResult:
        """Plan (``dry_run``) or carry out ``action`` on every run ``where`` matches."""
        try:
            chosen = BulkAction(action)
        except ValueError:
            raise Invalid(
                [{"field": "action", "message": f"unknown action {action!r}; retry or cancel"}]
            ) from None
        if not dry_run and not confirm:
            raise Invalid(
                [{"field": "confirm", "message": "confirm the action (or ask a dry run)"}]
            )
        runs = self.matching(where)
        plans = {r.id: _plan(chosen, r) for r in runs}
        if not dry_run:
            if chosen is BulkAction.CANCEL:
                plans.update(self._cancel([r for r in runs if plans[r.id][0] == "cancelled"]))
            else:
                plans.update(self._redrive([r for r in runs if plans[r.id][0] == "re-driven"]))
                plans.update(self._resend([r for r in runs if plans[r.id][0] == "retried"]))
        return BulkResult(
            chosen.value,
            len(runs),
            dry_run,
            [Affected(r.id, r.job, r.state, *plans[r.id]) for r in runs],
        )

    # -- the actions ------------------------------------------------------------------
    def _cancel(self, runs: list[RunRecord]) -> dict[str, tuple[str, str]]:
        done = set(self.store.cancel([r.id for r in runs], CANCELLABLE, CANCEL_REASON, utcnow()))
        return {
            r.id: ("cancelled", CANCEL_REASON)
            if r.id in done
            else ("left alone", "it started or finished meanwhile")
            for r in runs
        }

    def _redrive(self, runs: list[RunRecord]) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        by_queue: dict[str, list[RunRecord]] = defaultdict(list)
        for run in runs:
            by_queue[self._short_queue(run.queue)].append(run)
        gone: list[RunRecord] = []
        for queue, members in by_queue.items():
            ids = [r.id for r in members]
            while ids:
                try:
                    self.deadletters.redrive(queue, ids)
                except UnknownDeadLetter as exc:  # purged or moved meanwhile: send anew
                    missing = set(exc.ids)
                    gone += [r for r in members if r.id in missing]
                    ids = [i for i in ids if i not in missing]
                    continue
                out.update((i, ("re-driven", "re-driven from its dead-letter queue")) for i in ids)
                break
        for run_id, (outcome, detail) in self._resend(gone).items():
            out[run_id] = (outcome, f"not in its dead-letter queue any more; {detail}")
        return out

    def _resend(self, runs: list[RunRecord]) -> dict[str, tuple[str, str]]:
        futures = {r.id: (r, self.enqueuer.resend(_as_new(r), r.attempts)) for r in runs}
        out: dict[str, tuple[str, str]] = {}
        for run_id, (run, future) in futures.items():
            try:
                future.result(30)
            except (EnqueueError, TimeoutError) as exc:
                out[run_id] = ("failed", f"not sent: {exc or 'the broker did not confirm'}")
                continue
            reason = f"{RETRY_REASON} (attempt {run.attempts + 1})"
            self.store.mark_resent(
                run.id, run.state, run.attempts, utcnow(), RunOrigin.RETRY, reason
            )
            out[run_id] = ("retried", f"sent again as attempt {run.attempts + 1}")
        return out

    def _short_queue(self, full_name: str) -> str:
        for spec in self.app.topology.work_queues:
            if spec.name == full_name:
                return str(spec.short_name)
        return full_name


def _as_new(run: RunRecord) -> NewRun:
    return NewRun(
        run.id,
        run.job,
        run.queue,
        dict(run.kwargs),
        list(run.args),
        schedule=run.schedule,
        scheduled_for=run.scheduled_for,
        origin=RunOrigin.RETRY,
    )
