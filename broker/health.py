"""Is the broker reachable? A cheap check for health endpoints and start-up scripts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kombu import Connection


@dataclass(frozen=True)
class BrokerHealth:
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "latency_ms": round(self.latency_ms, 2), "error": self.error}


def check(url: str, timeout: float = 2.0) -> BrokerHealth:
    """Open and close one AMQP connection; never raises."""
    started = time.perf_counter()
    try:
        with Connection(url, connect_timeout=timeout, heartbeat=0) as conn:
            conn.ensure_connection(max_retries=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return BrokerHealth(
            False, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
        )
    return BrokerHealth(True, (time.perf_counter() - started) * 1000)
