"""Many schedules written at once: all of them in one transaction, or none.

An import is one change for the beat (one version bump), written with executemany; a name
deleted earlier reuses its row, as a single create does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from jobs.schedules.definition import ScheduleDefinition
from jobs.store import audit
from jobs.store.schedules import ScheduleExistsError, ScheduleStore, audited, check_quota
from jobs.store.tables import audit_log, schedules

# SQLite allows 32,766 bound parameters per statement; stay far below for IN lists.
CHUNK = 900
# A shallow copy of a definition's columns: ``dataclasses.asdict`` deep-copies every
# kwargs value, which was most of the cost of an import.
COLUMNS = tuple(f.name for f in fields(ScheduleDefinition) if f.name not in ("name", "anchor"))


def names_taken(conn: Connection, names: Sequence[str]) -> dict[str, bool]:
    """``name -> deleted`` for every given name that has a row."""
    found: dict[str, bool] = {}
    for start in range(0, len(names), CHUNK):
        query = select(schedules.c.name, schedules.c.deleted).where(
            schedules.c.name.in_(names[start : start + CHUNK])
        )
        found.update({name: bool(deleted) for name, deleted in conn.execute(query)})
    return found


def create_many(
    store: ScheduleStore,
    items: Sequence[tuple[ScheduleDefinition, datetime | None]],
    *,
    now: datetime,
    by: str,
    reason: str | None = None,
    max_live: int | None = None,
) -> int:
    """Create every ``(definition, next_fire_at)``; ScheduleExistsError (and nothing stored)
    if a name is taken by a live schedule by the time the transaction runs."""
    if not items:
        return 0
    with store.engine.begin() as conn:
        check_quota(conn, len(items), max_live)
        version = store._bump(conn)
        taken = names_taken(conn, [d.name for d, _ in items])
        live = sorted(name for name, deleted in taken.items() if not deleted)
        if live:
            raise ScheduleExistsError(f"schedules already exist: {', '.join(live[:10])}")
        fresh: list[dict[str, Any]] = []
        reused: list[dict[str, Any]] = []
        for definition, next_fire in items:
            values = {
                **{column: getattr(definition, column) for column in COLUMNS},
                "name": definition.name,
                "changed_by": by,
                "changed_at": now,
                "change_reason": reason,
                "source": "runtime",
                "edited_at": now,
                "created_at": now,
                "version": version,
                "deleted": False,
                "anchor": definition.anchor or now,
                "next_fire_at": next_fire if definition.enabled else None,
                "last_fire_at": None,
                "last_run_id": None,
                "fired_count": 0,
                "skipped_count": 0,
                "missed_count": 0,
            }
            (reused if definition.name in taken else fresh).append(values)
        if fresh:
            conn.execute(schedules.insert(), fresh)
        for values in reused:  # rare: a deleted schedule's name comes back
            name = values.pop("name")
            conn.execute(update(schedules).where(schedules.c.name == name).values(**values))
            values["name"] = name
        rows = [
            {
                "at": now,
                "actor": (by or "unknown")[: audit.ACTOR_LENGTH],
                "action": "import",
                "kind": str(audit.AuditKind.SCHEDULE),
                "subject": values["name"],
                "before": None,
                "after": audit.without_secrets(audited(values)),
                "reason": reason,
            }
            for values in (*fresh, *reused)
        ]
        conn.execute(audit_log.insert(), rows)
    return len(items)
