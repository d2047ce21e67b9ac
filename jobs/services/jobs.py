"""Business rules of the web front end, shared by the API and the UI: routes stay thin."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broker import health as broker_health
from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.errors import Invalid, NotFound
from jobs.registry import ArgumentsError, JobSpec, UnknownJobError
from jobs.store.runs import NewRun, RunRecord
from jobs.store.tables import RUN_STATES

__all__ = [
    "ArgumentsError",
    "JobService",
    "JobView",
    "RunNotFoundError",
    "UnknownJobError",
    "UnknownQueueError",
]


class RunNotFoundError(NotFound):
    pass


class UnknownQueueError(Invalid):
    """A queue name that is not part of the topology (reported on the ``queue`` field)."""

    def __init__(self, message: str) -> None:
        super().__init__([{"field": "queue", "message": message}], message)


@dataclass(frozen=True)
class JobView:
    name: str
    description: str
    queue: str
    policy: dict[str, Any]
    parameters: list[dict[str, Any]]


class JobService:
    """Lists jobs, validates and enqueues runs, reads run history, reports health."""

    def __init__(self, app: BeatkeeperCelery, enqueuer: Enqueuer) -> None:
        self.app = app
        self.enqueuer = enqueuer
        self.store = app.store

    def _view(self, spec: JobSpec) -> JobView:
        task = self.app.tasks[spec.name]
        return JobView(
            name=spec.name,
            description=spec.description,
            queue=task.job_queue,
            policy=task.policy.describe(),
            parameters=spec.parameters(),
        )

    def jobs(self) -> list[JobView]:
        return [self._view(spec) for spec in sorted(self.app.registry, key=lambda s: s.name)]

    def job(self, name: str) -> JobView:
        return self._view(self.app.registry.get(name))

    def prepare(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
    ) -> tuple[str, dict[str, Any], str | None]:
        """Validate everything before anything is stored or sent.

        Raises UnknownJobError, ArgumentsError or UnknownQueueError.
        """
        spec = self.app.registry.get(name)
        values = spec.validate(args, kwargs)
        full_queue = None
        if queue is not None:
            try:
                full_queue = self.app.topology.work_queue(queue).name
            except KeyError as exc:
                raise UnknownQueueError(str(exc.args[0])) from None
        return spec.name, values, full_queue

    def enqueue(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
    ) -> NewRun:
        job, values, full_queue = self.prepare(name, args, kwargs, queue)
        return self.enqueuer.enqueue(job, values, queue=full_queue)

    async def enqueue_async(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
    ) -> NewRun:
        job, values, full_queue = self.prepare(name, args, kwargs, queue)
        return await asyncio.wrap_future(self.enqueuer.submit(job, values, queue=full_queue))

    def run(self, run_id: str) -> RunRecord:
        record = self.store.get(run_id)
        if record is None:
            raise RunNotFoundError(f"no run {run_id!r}")
        return record

    def runs(
        self, job: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        if state is not None and state not in RUN_STATES:
            raise Invalid(
                [{"field": "state", "message": "unknown state"}],
                f"unknown state {state!r}; one of {', '.join(RUN_STATES)}",
            )
        return self.store.list(job=job, state=state, limit=limit)

    def health(self) -> dict[str, Any]:
        broker = broker_health.check(self.app.settings.broker.url).as_dict()
        try:
            self.store.ping()
            database: dict[str, Any] = {"ok": True, "error": None}
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            database = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        ok = bool(broker["ok"]) and bool(database["ok"])
        return {"status": "ok" if ok else "degraded", "broker": broker, "database": database}
