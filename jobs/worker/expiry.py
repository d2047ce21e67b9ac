"""When a message counts as expired: pure rules, no I/O.

A scheduled fire carries Celery's ``expires``. By default (no ``expires_seconds`` on the
schedule) that is one period after the fire was due, meant to drop a fire no worker
picked up in time. A fire handed to the broker ahead of its time waits in a delay queue;
when the broker was down at its due time, it is released late through no fault of the
workers. Such a fire gets its whole window counted from its release, so it runs; an
explicit ``expires_seconds`` is the schedule's own word and stays as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from broker.names import HOLD_SHARD_HEADER
from jobs.messages import DUE_AT_HEADER, EXPIRY_HEADER


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return _aware(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def released_at(headers: dict[str, Any]) -> datetime | None:
    """When RabbitMQ moved a held fire out of its delay queue (its x-death record)."""
    for death in headers.get("x-death") or ():
        if isinstance(death, dict) and death.get("reason") == "expired":
            return _aware(death.get("time"))
    return None


def effective_expiry(expires: datetime | None, headers: dict[str, Any]) -> datetime | None:
    """The expiry to apply to a first delivery with message ``headers``."""
    if expires is None or HOLD_SHARD_HEADER not in headers:
        return expires
    if headers.get(EXPIRY_HEADER) == "schedule":
        return expires
    due = _aware(headers.get(DUE_AT_HEADER))
    released = released_at(headers)
    if due is None or released is None:
        return expires
    late = max(timedelta(0), released - due)
    return expires + late
