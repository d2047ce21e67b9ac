"""What the product needs, checked for real: the broker takes a publish, the store takes a
write, a beat leads. Used by ``/api/health``, the UI and ``beatkeeper beat status``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from broker import health as broker_health
from jobs.store.lease import LeaseStore
from jobs.store.probe import write_probe


@dataclass(frozen=True)
class BeatStatus:
    """Who leads the beat, since when, and the last tick that evaluated schedules."""

    alive: bool  # a leader holds a lease that has not run out
    leader: str | None
    epoch: int
    since: datetime | None
    last_evaluated: datetime | None
    expires_at: datetime | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.alive,
            "leader": self.leader,
            "epoch": self.epoch,
            "since": self.since,
            "last_evaluated": self.last_evaluated,
            "expires_at": self.expires_at,
            "error": self.error,
        }

    def line(self) -> str:
        """One line for the UI and the CLI."""
        if self.error is not None:
            return f"beat status unknown: {self.error}"
        evaluated = (
            f"{self.last_evaluated:%Y-%m-%d %H:%M:%S} UTC" if self.last_evaluated else "never"
        )
        if not self.alive or self.since is None:
            return f"no beat leads (schedules last evaluated: {evaluated})"
        return (
            f"beat leader {self.leader} since {self.since:%Y-%m-%d %H:%M:%S} UTC "
            f"(epoch {self.epoch}); schedules last evaluated: {evaluated}"
        )


def beat_status(engine: Engine, now: datetime | None = None) -> BeatStatus:
    now = now or datetime.now(UTC)
    try:
        lease = LeaseStore(engine).read()
    except SQLAlchemyError as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        return BeatStatus(False, None, 0, None, None, None, error)
    alive = lease.held(now)
    return BeatStatus(
        alive,
        lease.owner,
        lease.epoch,
        lease.acquired_at if alive else None,
        lease.evaluated_at,
        lease.expires_at,
    )


def store_write(engine: Engine, timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        write_probe(engine, "health", datetime.now(UTC), timeout)
    except SQLAlchemyError as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        return {"ok": False, "error": error, "latency_ms": _ms(started)}
    return {"ok": True, "error": None, "latency_ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def product_health(
    broker_url: str, engine: Engine, *, require_beat: bool = False, timeout: float = 2.0
) -> dict[str, Any]:
    """``status`` is "ok" when every required part works, else "degraded" (HTTP 503).
    The broker and the store are required; the beat too when ``require_beat``."""
    broker = broker_health.check_publish(broker_url, timeout).as_dict()
    database = store_write(engine, timeout)
    beat = beat_status(engine)
    ok = bool(broker["ok"]) and bool(database["ok"]) and (beat.alive or not require_beat)
    return {
        "status": "ok" if ok else "degraded",
        "broker": broker,
        "database": database,
        "beat": beat.as_dict(),
    }
