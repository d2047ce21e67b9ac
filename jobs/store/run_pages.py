"""Runs a page at a time, newest first, with keyset pagination.

A page ends at a cursor (the enqueue time and id of its last run); the next page starts
strictly after it in (enqueued_at desc, id desc) order. Unlike an offset, a cursor neither
skips nor repeats runs while new ones arrive, and each page costs the same however deep.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select

from jobs.store.runs import RunRecord
from jobs.store.tables import runs


class BadCursor(ValueError):
    """The cursor was not made by encode_cursor."""


@dataclass(frozen=True)
class Cursor:
    enqueued_at: datetime
    id: str


def encode_cursor(cursor: Cursor) -> str:
    raw = f"{cursor.enqueued_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, run_id = raw.split("|", 1)
        enqueued_at = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(f"not a cursor from this API: {text!r}") from exc
    if enqueued_at.tzinfo is None or not run_id:
        raise BadCursor(f"not a cursor from this API: {text!r}")
    return Cursor(enqueued_at, run_id)


@dataclass(frozen=True)
class RunFilter:
    """Runs to show or act on; every field given must match. ``since``/``until`` bound the
    enqueue time (since inclusive, until exclusive); ``error`` is text in the error,
    case-insensitive."""

    job: str | None = None
    state: str | None = None
    schedule: str | None = None
    origin: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    error: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [
            column == value
            for column, value in (
                (runs.c.job, self.job),
                (runs.c.state, self.state),
                (runs.c.schedule, self.schedule),
                (runs.c.origin, self.origin),
            )
            if value
        ]
        if self.since is not None:
            out.append(runs.c.enqueued_at >= self.since)
        if self.until is not None:
            out.append(runs.c.enqueued_at < self.until)
        if self.error:
            out.append(func.lower(runs.c.error).contains(self.error.lower(), autoescape=True))
        return out


def count(engine: Engine, where: RunFilter) -> int:
    """How many runs match ``where``."""
    with engine.connect() as conn:
        query = select(func.count()).select_from(runs).where(*where.conditions())
        return int(conn.execute(query).scalar_one())


def page(
    engine: Engine, where: RunFilter, after: Cursor | None, limit: int
) -> tuple[list[RunRecord], Cursor | None]:
    """Up to ``limit`` runs after ``after``, and the cursor of the next page (None at the end)."""
    query = select(runs).order_by(runs.c.enqueued_at.desc(), runs.c.id.desc()).limit(limit + 1)
    query = query.where(*where.conditions())
    if after is not None:
        query = query.where(
            or_(
                runs.c.enqueued_at < after.enqueued_at,
                and_(runs.c.enqueued_at == after.enqueued_at, runs.c.id < after.id),
            )
        )
    with engine.connect() as conn:
        rows = [RunRecord(**dict(r)) for r in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (Cursor(rows[-1].enqueued_at, rows[-1].id) if more and rows else None)
