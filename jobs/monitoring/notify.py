"""Webhooks on schedule health changes: a dead-man's switch without another service.

Every ``interval`` seconds the notifier computes each schedule's state, records it, and for
every change it claimed (see WebhookStore.record_states) queues one POST of a JSON body to
the configured URL. Deliveries are retried with exponential backoff (``backoff``: 5 s
doubling, at most 10 minutes apart) up to ``max_attempts``, then marked failed; each one's
history (attempts, last error, delivered at) is kept and listed by the API and the dashboard.
A schedule seen for the first time is recorded without a call.

Delivery is at least once: a receiver that took the call but answered too late (past
``TIMEOUT_SECONDS``) or not at all gets it again, with the same ``delivery`` id in the body
to recognise it. Deliveries are claimed one at a time, each for ``LEASE_SECONDS``, so a
slow receiver never holds a batch whose later leases run out while it waits (another web
process would then send those too). Pending deliveries live in the store: a restarted
process picks them up at their next attempt time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from jobs.monitoring.schedules import statuses
from jobs.store.schedules import ScheduleStore
from jobs.store.webhooks import Transition, WebhookStore

log = logging.getLogger(__name__)
BASE_SECONDS = 5.0
CAP_SECONDS = 600.0
TIMEOUT_SECONDS = 5.0  # httpx's connect, write and read timeouts, each
LEASE_SECONDS = 60.0  # a claimed delivery's send must end within it (well above the timeouts)
BATCH = 20  # deliveries sent per tick at most
Sender = Callable[[str, dict[str, Any]], None]  # raises on failure


def backoff(attempt: int, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    return min(cap, base * 2.0 ** (attempt - 1))


def payload(change: Transition) -> dict[str, Any]:
    return {
        "event": "schedule.health_changed",
        "schedule": change.schedule,
        "from": change.old,
        "to": change.new,
        "reason": change.reason,
        "at": change.at.isoformat(),
    }


def shown_url(url: str) -> str:
    """The receiver's address as the API shows it: scheme, host and port only. A webhook URL
    often carries its secret in the path, query or user part (Slack, Teams, basic auth),
    and the delivery history is open to every reader."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if (parts.path not in ("", "/") or parts.query or parts.username) else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


def post_json(url: str, body: dict[str, Any], timeout: float = TIMEOUT_SECONDS) -> None:
    response = httpx.post(url, json=body, timeout=timeout)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"answered {response.status_code}")


class HealthNotifier:
    def __init__(
        self,
        engine: Engine,
        url: str | None,
        send: Sender = post_json,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = 8,
    ) -> None:
        self.schedules = ScheduleStore(engine)
        self.store = WebhookStore(engine)
        self.url = url
        self.send = send
        self.clock = clock
        self.max_attempts = max_attempts

    def evaluate(self) -> list[Transition]:
        """Record every schedule's state; returns the changes this process claimed."""
        now = self.clock()
        records = self.schedules.page(limit=100_000)
        found = statuses(self.schedules.engine, records, now)
        seen = [
            (r.name, found[r.name].health.state.value, found[r.name].health.reason) for r in records
        ]
        return self.store.record_states(seen, now, self.url, payload)

    def deliver_due(self) -> int:
        """Send what is due, claiming one delivery at a time, until a call fails; returns
        how many were delivered."""
        delivered = 0
        for _ in range(BATCH):
            claimed = self.store.claim_due(
                self.clock(), lease=timedelta(seconds=LEASE_SECONDS), limit=1
            )
            if not claimed:
                break
            [d] = claimed
            try:
                self.send(d.url, {**d.payload, "delivery": d.id})
            except Exception as exc:  # noqa: BLE001 - any failure is retried and recorded
                error = f"{type(exc).__name__}: {exc}"
                retry = None
                if d.attempts < self.max_attempts:
                    retry = self.clock() + timedelta(seconds=backoff(d.attempts))
                self.store.finish(d.id, self.clock(), error, retry)
                log.warning("webhook for %s failed (attempt %d): %s", d.schedule, d.attempts, error)
                # The receiver is likely down or hanging: leave the others for the next tick
                # rather than wait a timeout for each (the same thread evaluates health).
                break
            else:
                self.store.finish(d.id, self.clock(), None, None)
                delivered += 1
        return delivered

    def tick(self) -> None:
        self.evaluate()
        self.deliver_due()
