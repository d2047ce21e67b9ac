"""Health states as last seen, and webhook deliveries with their retries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from jobs.store.tables import schedule_health, webhook_deliveries


@dataclass(frozen=True)
class Transition:
    schedule: str
    old: str
    new: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Delivery:
    id: int
    schedule: str
    old_state: str
    new_state: str
    url: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    claimed_until: datetime | None
    delivered_at: datetime | None


class WebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_states(
        self, seen: Sequence[tuple[str, str, str]], now: datetime, url: str | None,
        payload: Any,
    ) -> list[Transition]:  # fmt: skip
        """Store (name, state, reason) as last seen; return the changes this call claimed.

        A schedule seen for the first time is recorded without a transition. Each change
        is claimed by a conditional UPDATE, so concurrent web processes send it once; with a
        ``url`` its delivery is queued in the same transaction.
        """
        claimed: list[Transition] = []
        with self.engine.begin() as conn:
            rows = conn.execute(select(schedule_health.c.name, schedule_health.c.state))
            known = {name: state for name, state in rows}
            for name, state, reason in seen:
                old = known.get(name)
                if old is None:
                    conn.execute(
                        schedule_health.insert().values(
                            name=name, state=state, reason=reason, since=now
                        )
                    )
                    continue
                if old == state:
                    continue
                moved = conn.execute(
                    update(schedule_health)
                    .where(schedule_health.c.name == name, schedule_health.c.state == old)
                    .values(state=state, reason=reason, since=now)
                )
                if not moved.rowcount:
                    continue
                change = Transition(name, old, state, reason, now)
                claimed.append(change)
                if url:
                    conn.execute(
                        webhook_deliveries.insert().values(
                            schedule=name, old_state=old, new_state=state, url=url,
                            payload=payload(change), status="pending", attempts=0,
                            created_at=now, next_attempt_at=now,
                        )
                    )  # fmt: skip
        return claimed

    def claim_due(self, now: datetime, lease: timedelta, limit: int = 20) -> list[Delivery]:
        """Deliveries due now, each claimed for ``lease`` by this process alone."""
        free = or_(
            webhook_deliveries.c.claimed_until.is_(None),
            webhook_deliveries.c.claimed_until < now,
        )
        due = and_(
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            free,
        )
        out: list[Delivery] = []
        with self.engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(webhook_deliveries.c.id)
                    .where(due)
                    .order_by(webhook_deliveries.c.id)
                    .limit(limit)
                ).scalars()
            )
            for delivery_id in ids:
                taken = conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id == delivery_id, due)
                    .values(claimed_until=now + lease, attempts=webhook_deliveries.c.attempts + 1)
                )
                if taken.rowcount:
                    row = conn.execute(
                        select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
                    ).mappings().one()  # fmt: skip
                    out.append(Delivery(**row))
        return out

    def finish(
        self, delivery_id: int, now: datetime, error: str | None, retry_at: datetime | None
    ) -> None:
        """Delivered (no error), retried at ``retry_at``, or failed for good (no retry_at)."""
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now}
        elif retry_at is not None:
            values = {"last_error": error, "next_attempt_at": retry_at}
        else:
            values = {"status": "failed", "last_error": error, "next_attempt_at": None}
        with self.engine.begin() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == delivery_id)
                .values(claimed_until=None, **values)
            )

    def deliveries(self, schedule: str | None = None, limit: int = 50) -> list[Delivery]:
        query = select(webhook_deliveries).order_by(webhook_deliveries.c.id.desc()).limit(limit)
        if schedule:
            query = query.where(webhook_deliveries.c.schedule == schedule)
        with self.engine.connect() as conn:
            return [Delivery(**r) for r in conn.execute(query).mappings()]
