"""ScheduleStore: schedules, their change counter, and the beat's bookkeeping."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from jobs.errors import Conflict, NotFound
from jobs.schedules.definition import ScheduleDefinition, build_trigger
from jobs.schedules.jitter import jitter_offset
from jobs.schedules.preview import Grid
from jobs.schedules.triggers import Trigger
from jobs.store import audit
from jobs.store.fires import FireLedger
from jobs.store.runs import RunStore
from jobs.store.tables import runs, scheduler_state, schedules

# A page offset beyond any real table; larger ones overflow the database's integer (SQLite
# and PostgreSQL take signed 64 bits), so the front ends refuse them.
MAX_OFFSET = 1_000_000_000
STREAM_CHUNK = 10_000  # rows per fetch when the beat loads every schedule


class ScheduleExistsError(Conflict, ValueError):
    pass


class ScheduleNotFoundError(NotFound):
    pass


class ScheduleQuotaExceeded(Conflict):
    """Creating these schedules would pass BEATKEEPER_MAX_SCHEDULES; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"at most {limit} schedules (BEATKEEPER_MAX_SCHEDULES): delete some or raise the limit"
        )


def check_quota(conn: Connection, adding: int, limit: int | None) -> None:
    """Raise ScheduleQuotaExceeded if ``adding`` more live schedules would pass ``limit``."""
    if limit is None:
        return
    live = conn.execute(
        select(func.count()).select_from(schedules).where(schedules.c.deleted.is_(False))
    ).scalar_one()
    if live + adding > limit:
        raise ScheduleQuotaExceeded(limit)


@dataclass(frozen=True, kw_only=True)
class ScheduleRecord(ScheduleDefinition):
    """A stored schedule: its definition (the fields are inherited, so they are spelled
    once) and the bookkeeping the store and the beat keep beside it."""

    changed_by: str | None
    changed_at: datetime | None
    change_reason: str | None
    source: str
    edited_at: datetime | None
    created_at: datetime
    version: int
    deleted: bool
    anchor: datetime
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_run_id: str | None
    fired_count: int
    skipped_count: int
    missed_count: int

    def build_trigger(self) -> Trigger:
        return build_trigger(
            self.trigger,
            cron=self.cron,
            interval_seconds=self.interval_seconds,
            run_at=self.run_at,
            timezone=self.timezone,
            anchor=self.anchor,
        )

    def grid(self) -> Grid | None:
        """The interval grid an edit of the same length keeps (None for other triggers)."""
        if self.trigger != "interval" or self.interval_seconds is None:
            return None
        return Grid(self.interval_seconds, self.anchor)

    def definition(self) -> ScheduleDefinition:
        # The stored anchor is bookkeeping (the grid in use), not a phase the person chose.
        own = [f.name for f in fields(ScheduleDefinition) if f.name != "anchor"]
        return ScheduleDefinition(**{name: getattr(self, name) for name in own})


def _offset(row: Any) -> int:
    """The jitter offset the beat adds to this schedule's fires."""
    return jitter_offset(row["name"], row["jitter_seconds"])


# What the audit log keeps of a schedule before and after a change: its definition.
AUDITED = tuple(f.name for f in fields(ScheduleDefinition))


def audited(row: Any) -> dict[str, Any]:
    """The audited fields of a schedules row (or a record's ``__dict__``)."""
    return {name: row[name] for name in AUDITED}


def _definition_values(definition: ScheduleDefinition) -> dict[str, Any]:
    """The columns a definition sets; an anchor only when one was chosen."""
    values = {k: v for k, v in asdict(definition).items() if k != "name"}
    if values["anchor"] is None:
        del values["anchor"]
    return values


class ScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runs = RunStore(engine)
        self.fires = FireLedger(engine)

    # -- the change counter -----------------------------------------------------------
    def _bump(self, conn: Connection) -> int:
        conn.execute(
            update(scheduler_state)
            .where(scheduler_state.c.key == "version")
            .values(value=scheduler_state.c.value + 1)
        )
        value = conn.execute(
            select(scheduler_state.c.value).where(scheduler_state.c.key == "version")
        ).scalar_one()
        return int(value)

    def current_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(scheduler_state.c.value).where(scheduler_state.c.key == "version")
            ).scalar_one()
            return int(value)

    # -- reads ----------------------------------------------------------------------------
    def get(self, name: str, include_deleted: bool = False) -> ScheduleRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(schedules).where(schedules.c.name == name)).mappings().first()
        if row is None or (row["deleted"] and not include_deleted):
            raise ScheduleNotFoundError(f"no schedule {name!r}")
        return ScheduleRecord(**row)

    def page(self, limit: int = 1000, offset: int = 0) -> list[ScheduleRecord]:
        query = (
            select(schedules)
            .where(schedules.c.deleted.is_(False))
            .order_by(schedules.c.name)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [ScheduleRecord(**r) for r in conn.execute(query).mappings()]

    def load_many(self, names: Sequence[str]) -> dict[str, ScheduleRecord]:
        out: dict[str, ScheduleRecord] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(names), 500):
                chunk = list(names[start : start + 500])
                query = select(schedules).where(schedules.c.name.in_(chunk))
                out.update((r["name"], ScheduleRecord(**r)) for r in conn.execute(query).mappings())
        return out

    def active_entries(self) -> Iterator[tuple[str, int, datetime, int]]:
        """(name, version, next_fire_at, jitter_seconds) of every schedule that will fire,
        streamed in chunks (a server-side cursor on PostgreSQL): a million rows are never
        one list."""
        query = select(
            schedules.c.name,
            schedules.c.version,
            schedules.c.next_fire_at,
            schedules.c.jitter_seconds,
        ).where(
            schedules.c.enabled.is_(True),
            schedules.c.deleted.is_(False),
            schedules.c.next_fire_at.is_not(None),
        )
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=STREAM_CHUNK).execute(query)
            for chunk in result.partitions():
                yield from chunk

    def changes_since(self, version: int) -> list[tuple[str, int, bool, datetime | None, int]]:
        """(name, version, active, next_fire_at, jitter) of rows changed after ``version``."""
        query = select(
            schedules.c.name,
            schedules.c.version,
            and_(schedules.c.enabled.is_(True), schedules.c.deleted.is_(False)),
            schedules.c.next_fire_at,
            schedules.c.jitter_seconds,
        ).where(schedules.c.version > version)
        with self.engine.connect() as conn:
            return [(n, v, bool(a), nf, j) for n, v, a, nf, j in conn.execute(query)]

    def held_until(self, since: datetime) -> datetime | None:
        """The latest send time (nominal plus at most the jitter) of the fires handed to the
        hold queues since ``since``: the broker may hold fires up to then."""
        query = (
            select(schedules.c.jitter_seconds, func.max(runs.c.scheduled_for))
            .select_from(runs.join(schedules, schedules.c.name == runs.c.schedule))
            .where(runs.c.enqueued_at > since, runs.c.held.is_(True))
            .group_by(schedules.c.jitter_seconds)
        )
        with self.engine.connect() as conn:
            # max() keeps the column's type: aware UTC datetimes on every backend
            rows = conn.execute(query)
            latest = [at + timedelta(seconds=jitter) for jitter, at in rows if at is not None]
        return max(latest, default=None)

    def run_states(self, run_ids: Iterable[str]) -> dict[str, tuple[str, datetime | None]]:
        """(state, started_at) of each run."""
        ids = [i for i in run_ids if i]
        out: dict[str, tuple[str, datetime | None]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = select(runs.c.id, runs.c.state, runs.c.started_at)
                rows = conn.execute(query.where(runs.c.id.in_(chunk)))
                out.update((i, (s, at)) for i, s, at in rows)
        return out

    def fired_nominals(self, name: str, nominals: Sequence[datetime]) -> set[datetime]:
        """Which of ``nominals`` already have a run that was not cancelled."""
        if not nominals:
            return set()
        query = select(runs.c.scheduled_for).where(
            runs.c.schedule == name,
            runs.c.scheduled_for.in_(list(nominals)),
            runs.c.state.notin_(("CANCELLED", "SKIPPED")),  # never sent
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    # -- writes from people (API, UI, CLI, code sync) -----------------------------------
    def create(
        self,
        definition: ScheduleDefinition,
        *,
        next_fire_at: datetime | None,
        now: datetime,
        by: str,
        reason: str | None = None,
        source: str = "runtime",
        max_live: int | None = None,
    ) -> ScheduleRecord:
        """Store a new schedule; ``max_live`` is the quota a person's create is held to."""
        try:
            with self.engine.begin() as conn:
                check_quota(conn, 1, max_live)
                existing = conn.execute(
                    select(schedules.c.deleted).where(schedules.c.name == definition.name)
                ).scalar()
                if existing is not None and not existing:
                    raise ScheduleExistsError(f"schedule {definition.name!r} already exists")
                values = {
                    **_definition_values(definition),
                    "changed_by": by,
                    "changed_at": now,
                    "change_reason": reason,
                    "source": source,
                    "edited_at": now if source == "runtime" else None,
                    "created_at": now,
                    "version": self._bump(conn),
                    "deleted": False,
                    "anchor": definition.anchor or now,
                    "next_fire_at": next_fire_at if definition.enabled else None,
                    "last_fire_at": None,
                    "last_run_id": None,
                    "fired_count": 0,
                    "skipped_count": 0,
                    "missed_count": 0,
                }
                if existing is None:
                    conn.execute(schedules.insert().values(name=definition.name, **values))
                else:  # re-creating a deleted schedule reuses its row
                    conn.execute(
                        update(schedules)
                        .where(schedules.c.name == definition.name)
                        .values(**values)
                    )
                self._audit(conn, "create", definition.name, None, by=by, reason=reason, now=now)
        except IntegrityError as exc:
            raise ScheduleExistsError(f"schedule {definition.name!r} already exists") from exc
        return self.get(definition.name)

    def update(
        self,
        definition: ScheduleDefinition,
        *,
        next_fire_at: datetime | None,
        now: datetime,
        by: str,
        reason: str | None = None,
        runtime_edit: bool = True,
        back_to_code: bool = False,
    ) -> ScheduleRecord:
        """Replace the definition; cancels fires already handed to the broker ahead of time.

        ``back_to_code`` marks it as following its code declaration again.
        """
        with self.engine.begin() as conn:
            current = self._current(conn, definition.name)
            values = {
                **_definition_values(definition),
                "changed_by": by,
                "changed_at": now,
                "change_reason": reason,
                "version": self._bump(conn),
                "next_fire_at": next_fire_at if definition.enabled else None,
            }
            if runtime_edit:
                values["edited_at"] = now
            if back_to_code:
                values.update(edited_at=None, source="code")
            if (definition.trigger, definition.interval_seconds) != (
                current["trigger"],
                current["interval_seconds"],
            ):
                values["anchor"] = definition.anchor or now
            conn.execute(
                update(schedules).where(schedules.c.name == definition.name).values(**values)
            )
            action = "reset" if back_to_code else "update"
            self._audit(conn, action, definition.name, current, by=by, reason=reason, now=now)
            self._cancel_held(conn, definition.name, "schedule edited", now, _offset(current))
        return self.get(definition.name)

    def set_enabled(
        self,
        name: str,
        enabled: bool,
        *,
        next_fire_at: datetime | None,
        now: datetime,
        by: str,
        reason: str | None,
    ) -> ScheduleRecord:
        with self.engine.begin() as conn:
            current = self._current(conn, name)
            conn.execute(
                update(schedules)
                .where(schedules.c.name == name)
                .values(
                    enabled=enabled,
                    next_fire_at=next_fire_at if enabled else None,
                    changed_by=by,
                    changed_at=now,
                    change_reason=reason,
                    version=self._bump(conn),
                )
            )
            action = "resume" if enabled else "pause"
            self._audit(conn, action, name, current, by=by, reason=reason, now=now)
            # Resuming re-plans the next fire too: a fire held from before must not run twice.
            why = "schedule resumed" if enabled else "schedule paused"
            self._cancel_held(conn, name, why, now, _offset(current))
        return self.get(name)

    def delete(self, name: str, *, now: datetime, by: str, reason: str | None = None) -> None:
        """Tombstone the row so the running beat sees the deletion; its runs stay in history."""
        with self.engine.begin() as conn:
            current = self._current(conn, name)
            conn.execute(
                update(schedules)
                .where(schedules.c.name == name)
                .values(
                    deleted=True,
                    enabled=False,
                    next_fire_at=None,
                    changed_by=by,
                    changed_at=now,
                    change_reason=reason,
                    version=self._bump(conn),
                )
            )
            self._audit(conn, "delete", name, current, by=by, reason=reason, now=now, gone=True)
            self._cancel_held(conn, name, "schedule deleted", now, _offset(current))

    def purge_tombstones(self, before: datetime) -> int:
        """Forget schedules deleted at runtime before ``before`` (their runs stay). A deleted
        schedule declared in code keeps its row: it tells the sync not to bring it back."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(schedules).where(
                    schedules.c.deleted.is_(True),
                    schedules.c.source == "runtime",
                    schedules.c.changed_at < before,
                )
            )
            return int(gone.rowcount or 0)

    def _cancel_held(
        self, conn: Connection, name: str, why: str, now: datetime, offset: float
    ) -> None:
        """Cancel fires held ahead of their time; they no longer count as fired, and the
        last fire goes back to the newest one that still stands (else a cancelled fire's time
        would show as the last fire once it passed)."""
        cancelled = self.runs.cancel_pending_fires(conn, name, why, now, offset)
        if cancelled:
            standing = (
                select(func.max(runs.c.scheduled_for))
                .where(runs.c.schedule == name, runs.c.state.notin_(("CANCELLED", "SKIPPED")))
                .scalar_subquery()
            )
            conn.execute(
                update(schedules)
                .where(schedules.c.name == name)
                .values(fired_count=schedules.c.fired_count - cancelled, last_fire_at=standing)
            )

    def _audit(
        self,
        conn: Connection,
        action: str,
        name: str,
        before: Any,
        *,
        by: str,
        reason: str | None,
        now: datetime,
        gone: bool = False,
    ) -> None:
        """The change's audit row, in its transaction: the row as it was and as it is."""
        after = None
        if not gone:
            after = conn.execute(select(schedules).where(schedules.c.name == name)).mappings().one()
        audit.record(
            conn,
            actor=by,
            action=action,
            kind=audit.AuditKind.SCHEDULE,
            subject=name,
            before=None if before is None else audited(before),
            after=None if after is None else audited(after),
            reason=reason,
            at=now,
        )

    def _current(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(schedules).where(schedules.c.name == name)).mappings().first()
        if row is None or row["deleted"]:
            raise ScheduleNotFoundError(f"no schedule {name!r}")
        return row
